# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import multiprocessing
import os
import signal
import stat

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _files
from ansible_collections.defender.endpoint.plugins.module_utils import _token_cache
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import FakeClock, secret_method

KEY = _token_cache.cache_key('https://login.mde.test/tenant', 'tenant', 'client', 'https://api.mde.test/.default', 'fp')


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


@pytest.fixture
def open_umask():
    """Run with umask 0 so that the modes checked come from the code, not from the umask."""
    old = os.umask(0)
    yield
    os.umask(old)


# _files / folder safety ----------------------------------------------------------------------

def test_cache_files_are_0600_in_0700_folders(cache_home, clock, open_umask):
    cache = _token_cache.TokenCache(clock=clock)
    with cache.locked(KEY):
        cache.put(KEY, 'secret-token', 3600)
    root = cache_home / 'defender.endpoint'
    folder = root / 'tokens'
    assert cache.folder == str(folder)
    assert mode_of(root) == 0o700
    assert mode_of(folder) == 0o700
    entries = sorted(os.listdir(str(folder)))
    assert entries == [KEY + '.json', KEY + '.lock']
    for name in entries:
        assert mode_of(folder / name) == 0o600
    assert cache.get(KEY) == 'secret-token'


def test_cache_root_defaults_to_home_dot_cache(tmp_path, monkeypatch):
    monkeypatch.delenv('XDG_CACHE_HOME', raising=False)
    monkeypatch.setenv('HOME', str(tmp_path))
    assert _files.default_cache_root() == os.path.join(str(tmp_path), '.cache', 'defender.endpoint')
    path = _files.private_dir('tokens')
    assert path == os.path.join(str(tmp_path), '.cache', 'defender.endpoint', 'tokens')
    assert mode_of(path) == 0o700


@pytest.mark.parametrize('mode', [0o770, 0o707, 0o722, 0o777])
def test_group_or_other_writable_cache_root_is_refused(cache_home, mode):
    root = cache_home / 'defender.endpoint'
    root.mkdir(parents=True)
    os.chmod(str(root), mode)
    with pytest.raises(MdeError) as info:
        _token_cache.TokenCache()
    err = info.value
    assert err.kind == 'config'
    assert str(root) in err.msg
    assert 'writable by other users' in err.msg
    assert 'chmod 700' in err.msg
    assert not (root / 'tokens').exists()


def test_group_writable_tokens_folder_is_refused(cache_home):
    folder = cache_home / 'defender.endpoint' / 'tokens'
    folder.mkdir(parents=True)
    os.chmod(str(cache_home / 'defender.endpoint'), 0o700)
    os.chmod(str(folder), 0o775)
    with pytest.raises(MdeError) as info:
        _token_cache.TokenCache()
    assert str(folder) in info.value.msg and 'chmod 700' in info.value.msg


def test_symlinked_cache_folder_is_refused(cache_home, tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir(mode=0o700)
    cache_home.mkdir()
    os.symlink(str(elsewhere), str(cache_home / 'defender.endpoint'))
    with pytest.raises(MdeError) as info:
        _token_cache.TokenCache()
    assert info.value.kind == 'config'
    assert 'not a plain folder' in info.value.msg


@pytest.mark.skipif(os.getuid() != 0, reason='needs root to give the folder to another user')
def test_cache_folder_of_another_user_is_refused(cache_home):
    root = cache_home / 'defender.endpoint'
    root.mkdir(parents=True, mode=0o700)
    os.chown(str(root), 65534, -1)
    with pytest.raises(MdeError) as info:
        _token_cache.TokenCache()
    assert 'another user' in info.value.msg and '65534' in info.value.msg


@pytest.mark.parametrize('content', [None, '', '{"access_token": "x"', 'not json'])
def test_read_json_missing_empty_or_corrupt_is_none(tmp_path, content):
    path = tmp_path / 'state.json'
    if content is not None:
        path.write_text(content)
    assert _files.read_json(str(path)) is None


def test_file_lock_times_out_naming_the_lock(tmp_path):
    clock = FakeClock()
    path = str(tmp_path / 'x.lock')
    with _files.file_lock(path, 5):
        with pytest.raises(MdeError) as info:
            with _files.file_lock(path, 2.0, clock=clock, sleep=clock.sleep, what='token cache lock'):
                pytest.fail('lock taken twice')
    assert info.value.kind == 'timeout'
    assert 'token cache lock' in info.value.msg and path in info.value.msg
    assert 2.0 <= sum(clock.sleeps) <= 2.1
    # released afterwards
    with _files.file_lock(path, 0.0):
        pass


# Atomic writes -------------------------------------------------------------------------------

def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = str(tmp_path / 'entry.json')
    _files.write_json_atomic(path, {'access_token': 'old'})

    def dump_partway(data, handle, **kwargs):
        handle.write('{"access_token": "ne')
        handle.flush()
        raise RuntimeError('disk went away')

    monkeypatch.setattr(_files.json, 'dump', dump_partway)
    with pytest.raises(RuntimeError):
        _files.write_json_atomic(path, {'access_token': 'new'})
    monkeypatch.undo()
    assert _files.read_json(path) == {'access_token': 'old'}
    assert os.listdir(str(tmp_path)) == ['entry.json']


def test_unserialisable_value_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / 'entry.json')
    _files.write_json_atomic(path, {'n': 1})
    with pytest.raises(TypeError):
        _files.write_json_atomic(path, {'pad': 'x' * 100000, 'bad': object()})
    assert _files.read_json(path) == {'n': 1}
    assert os.listdir(str(tmp_path)) == ['entry.json']


def test_interrupt_mid_write_keeps_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / 'entry.json')
    _files.write_json_atomic(path, {'n': 1})

    def interrupted(data, handle, **kwargs):
        handle.write('{"n": ')
        raise KeyboardInterrupt()

    monkeypatch.setattr(_files.json, 'dump', interrupted)
    with pytest.raises(KeyboardInterrupt):
        _files.write_json_atomic(path, {'n': 2})
    monkeypatch.undo()
    assert _files.read_json(path) == {'n': 1}
    assert os.listdir(str(tmp_path)) == ['entry.json']


def _write_forever(path, ready):
    n = 0
    while True:
        n += 1
        _files.write_json_atomic(path, {'n': n, 'pad': 'x' * 20000})
        if n == 20:
            ready.set()


def test_writer_killed_with_sigkill_never_leaves_a_torn_file(tmp_path):
    ctx = multiprocessing.get_context('fork')
    path = str(tmp_path / 'entry.json')
    ready = ctx.Event()
    child = ctx.Process(target=_write_forever, args=(path, ready))
    child.start()
    try:
        assert ready.wait(120)
        seen = set()
        for dummy in range(300):  # read while the child keeps replacing the file
            with open(path) as handle:
                seen.add(json.load(handle)['n'])
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(60)
    assert child.exitcode == -signal.SIGKILL
    with open(path) as handle:
        data = json.load(handle)
    assert data['n'] >= 20 and data['pad'] == 'x' * 20000
    assert min(seen) >= 20
    # whatever the kill left behind is a temp file, never the entry itself
    assert all(name == 'entry.json' or name.startswith('.tmp-') for name in os.listdir(str(tmp_path)))


# Expiry and invalidation ---------------------------------------------------------------------

def test_token_is_fresh_until_margin_before_expiry(tmp_path, clock):
    cache = _token_cache.TokenCache(folder=str(tmp_path), clock=clock)
    assert cache.get(KEY) is None
    cache.put(KEY, 'tok', 3600)
    clock.advance(3600 - _token_cache.REFRESH_MARGIN - 1)
    assert cache.get(KEY) == 'tok'
    clock.advance(1)
    assert cache.get(KEY) is None


def test_short_lived_token_margin_is_a_tenth_of_its_lifetime(tmp_path, clock):
    cache = _token_cache.TokenCache(folder=str(tmp_path), clock=clock)
    cache.put(KEY, 'tok', 60)
    clock.advance(53.9)
    assert cache.get(KEY) == 'tok'
    clock.advance(0.1)
    assert cache.get(KEY) is None


@pytest.mark.parametrize('expires_in', [0, -10])
def test_token_without_lifetime_is_never_served(tmp_path, clock, expires_in):
    cache = _token_cache.TokenCache(folder=str(tmp_path), clock=clock)
    cache.put(KEY, 'tok', expires_in)
    assert cache.get(KEY) is None


def test_expires_in_as_string_is_accepted(tmp_path, clock):
    cache = _token_cache.TokenCache(folder=str(tmp_path), clock=clock)
    cache.put(KEY, 'tok', '3599')
    assert cache.get(KEY) == 'tok'


def test_invalidate_only_drops_the_rejected_token(tmp_path, clock):
    cache = _token_cache.TokenCache(folder=str(tmp_path), clock=clock)
    other_key = _token_cache.cache_key('a', 'b', 'c', 'd', 'other')
    cache.put(KEY, 'current', 3600)
    cache.put(other_key, 'rejected', 3600)
    cache.invalidate(KEY, 'rejected')  # another process already replaced it
    assert cache.get(KEY) == 'current'
    assert cache.get(other_key) == 'rejected'
    cache.invalidate(KEY, 'current')
    assert cache.get(KEY) is None
    assert cache.get(other_key) == 'rejected'
    cache.invalidate(KEY, 'current')  # nothing left: no error


def test_cache_key_depends_on_every_part():
    parts = ['https://login/t', 't', 'c', 's', 'fp']
    keys = {_token_cache.cache_key(*parts)}
    for index in range(len(parts)):
        changed = list(parts)
        changed[index] += '2'
        keys.add(_token_cache.cache_key(*changed))
    assert len(keys) == len(parts) + 1


# The Entra ID auth methods' token semantics (EntraClientCredentials._token) ---------------------------------------------------

def provider(folder, fetched_tokens, clock=None):
    sink = []
    prov = secret_method(cache=_token_cache.TokenCache(folder=folder, clock=clock or FakeClock()), secret_sink=sink.append)

    def fetch():
        token = 'fetched-%d' % (len(fetched_tokens) + 1)
        fetched_tokens.append(token)
        return token, 3600
    prov._fetch = fetch
    return prov, sink


def test_provider_fetches_once_then_uses_the_cache(tmp_path):
    fetched = []
    first, sink = provider(str(tmp_path), fetched)
    assert first.get() == 'fetched-1'
    second, sink2 = provider(str(tmp_path), fetched)
    assert second.get() == 'fetched-1'
    assert fetched == ['fetched-1']
    assert sink == ['fetched-1'] and sink2 == ['fetched-1']


def test_provider_refresh_replaces_only_a_rejected_token(tmp_path):
    fetched = []
    one, dummy = provider(str(tmp_path), fetched)
    two, dummy = provider(str(tmp_path), fetched)
    token = one.get()
    assert two.get() == token
    assert one.refresh(token) == 'fetched-2'
    # the other process saw the same 401 on the old token: it gets the new one, no new fetch
    assert two.refresh(token) == 'fetched-2'
    assert fetched == ['fetched-1', 'fetched-2']


def _take_token(folder, counter_path, out_path, go):
    cache = _token_cache.TokenCache(folder=folder)
    prov = secret_method(cache=cache)

    def fetch():
        fd = os.open(counter_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, ('%d\n' % os.getpid()).encode('ascii'))
        finally:
            os.close(fd)
        # a little work so that an unlocked reader would find no token yet
        for dummy in range(200):
            _files.read_json(counter_path)
        return 'token-of-%d' % os.getpid(), 3600
    prov._fetch = fetch
    go.wait()
    token = prov.get()
    with open(out_path, 'w') as handle:
        handle.write(token)


def test_concurrent_processes_fetch_exactly_once(tmp_path):
    ctx = multiprocessing.get_context('fork')
    folder = tmp_path / 'tokens'
    folder.mkdir(mode=0o700)
    counter = str(tmp_path / 'fetches')
    go = ctx.Event()
    outs = [str(tmp_path / ('out-%d' % n)) for n in range(8)]
    procs = [ctx.Process(target=_take_token, args=(str(folder), counter, out, go)) for out in outs]
    for proc in procs:
        proc.start()
    go.set()
    for proc in procs:
        proc.join(300)
    assert [proc.exitcode for proc in procs] == [0] * len(procs)
    with open(counter) as handle:
        fetchers = handle.read().split()
    assert len(fetchers) == 1
    tokens = set()
    for out in outs:
        with open(out) as handle:
            tokens.add(handle.read())
    assert tokens == {'token-of-%s' % fetchers[0]}


def test_fresh_cached_token_is_served_without_the_lock(tmp_path):
    fetched = []
    first, dummy = provider(str(tmp_path), fetched)
    first.get()
    second, dummy = provider(str(tmp_path), fetched)
    second.cache.lock_timeout = 0.1
    # another process holds the token lock (fetching for another key's sake, or slow): a fresh token still comes at once
    with _files.file_lock(os.path.join(str(tmp_path), second.key + '.lock'), 5, what='test'):
        assert second.get() == 'fetched-1'
    assert fetched == ['fetched-1']


def test_token_read_once_per_process(tmp_path, monkeypatch):
    fetched = []
    prov, dummy = provider(str(tmp_path), fetched)
    prov.get()
    reads = []
    real = _files.read_json
    monkeypatch.setattr(_files, 'read_json', lambda path: reads.append(path) or real(path))
    assert prov.get() == prov.get() == 'fetched-1'
    assert reads == []
