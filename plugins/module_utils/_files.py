# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Owner-only state files shared by processes on the controller: the token cache and the rate budget.

One folder per user (``$XDG_CACHE_HOME/defender.endpoint`` else ``~/.cache/defender.endpoint``),
created 0700 and refused when others can write to it; files written atomically with 0600;
``fcntl`` locks so that forks of one play cooperate.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

from ansible_collections.defender.endpoint.plugins.module_utils._errors import config_error, MdeError

APP_DIR_NAME = 'defender.endpoint'


def default_cache_root():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, APP_DIR_NAME)


def _check_private_dir(path):
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise config_error('Cache folder %s is not a plain folder; remove it or point XDG_CACHE_HOME elsewhere.' % path)
    if st.st_uid != os.getuid():
        raise config_error('Cache folder %s belongs to another user (uid %d); the token cache must be owned by the user '
                           'running the module. Remove it or point XDG_CACHE_HOME elsewhere.' % (path, st.st_uid))
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise config_error('Cache folder %s is writable by other users (mode %o); refusing to keep tokens there. '
                           'Run "chmod 700 %s" or point XDG_CACHE_HOME elsewhere.' % (path, stat.S_IMODE(st.st_mode), path))


def private_dir(*parts):
    """Create (0700) or check a folder below the cache root and return its path."""
    root = default_cache_root()
    parent = os.path.dirname(root)
    try:
        # exist_ok: parallel first runs (forks on a fresh HOME) create it at the same time; the folders of
        # the collection below it are created one by one and checked, whoever created them.
        os.makedirs(parent, 0o700, exist_ok=True)
    except OSError as exc:
        raise config_error('Cannot create cache folder %s: %s' % (parent, exc.strerror or exc))
    path = root
    for part in ('',) + tuple(parts):
        if part:
            path = os.path.join(path, part)
        try:
            os.mkdir(path, 0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise config_error('Cannot create cache folder %s: %s' % (path, exc.strerror))
        _check_private_dir(path)
    _remove_stale_temp_files(path)
    return path


def _remove_stale_temp_files(folder, age=3600.0):
    """Temp files of writers killed mid-write (the rename never happened) are dropped after an hour."""
    now = time.time()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith('.tmp-'):
            path = os.path.join(folder, name)
            try:
                if now - os.lstat(path).st_mtime > age:
                    os.unlink(path)
            except OSError:
                pass


def read_json(path):
    """Read a JSON file; a missing, empty or corrupt file reads as None."""
    try:
        with open(path, 'r') as handle:
            data = handle.read()
    except (IOError, OSError):
        return None
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def write_atomic(path, write, mode=0o600, binary=False, durable=True):
    """Write a file through ``write(handle)`` into a temp file (``mode``) beside ``path``, fsync, then rename
    over ``path``; returns what ``write`` returns.

    A process killed mid-write leaves either the old file or the new one, never a torn one; a failed
    write leaves no temp file behind. ``durable=False`` skips the fsync (still atomic for every reader;
    only a crash of the machine may lose the write): for state that is rewritten on every API call.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=folder)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, 'wb' if binary else 'w') as handle:
            written = write(handle)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return written


def write_json_atomic(path, data, durable=True):
    """Write JSON to ``path`` (0600) atomically."""
    write_atomic(path, lambda handle: json.dump(data, handle, separators=(',', ':')), durable=durable)


def write_stream_atomic(path, chunks, mode=0o600):
    """Write byte chunks to ``path`` atomically; returns (sha256 hex, size).

    ``path`` appears only when complete; a failed download leaves no partial file.
    """
    def write(handle):
        digest = hashlib.sha256()
        size = 0
        for chunk in chunks:
            if chunk:
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        return digest.hexdigest(), size

    return write_atomic(path, write, mode=mode, binary=True)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(65536), b''):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def file_lock(path, timeout, clock=time.monotonic, sleep=time.sleep, what='lock'):
    """Hold an exclusive ``flock`` on ``path`` (created 0600), waiting at most ``timeout`` seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            deadline = clock() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except (IOError, OSError) as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if clock() >= deadline:
                        raise MdeError('Timed out after %.0f s waiting for the %s %s held by another process.'
                                       % (timeout, what, path), kind='timeout')
                    sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
