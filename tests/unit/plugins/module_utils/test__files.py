# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""_files.private_dir when several processes create the cache folders at once (forks on a fresh HOME).

The race is made deterministic: a patched os.mkdir lets "another process" create the folder
between the existence check and this process's mkdir, so mkdir meets EEXIST."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _files
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError

REAL_MKDIR = os.mkdir


def racing_mkdir(monkeypatch, targets, mode=0o700):
    """os.mkdir that, for each path in ``targets`` (once), first creates it as another process would."""
    pending = set(str(t) for t in targets)
    raced = []

    def mkdir(path, *args, **kwargs):
        key = os.fspath(path)
        if key in pending:
            pending.discard(key)
            REAL_MKDIR(key, mode)
            os.chmod(key, mode)
            raced.append(key)
        return REAL_MKDIR(path, *args, **kwargs)

    monkeypatch.setattr(os, 'mkdir', mkdir)
    return raced


def fresh_home(tmp_path, monkeypatch):
    home = tmp_path / 'home'
    home.mkdir()
    monkeypatch.delenv('XDG_CACHE_HOME', raising=False)
    monkeypatch.setenv('HOME', str(home))
    return home


def test_cache_parent_created_by_another_fork_meanwhile_is_fine(tmp_path, monkeypatch):
    home = fresh_home(tmp_path, monkeypatch)
    raced = racing_mkdir(monkeypatch, [home / '.cache'])
    path = _files.private_dir('ratelimit')
    assert raced == [str(home / '.cache')]
    assert path == str(home / '.cache' / 'defender.endpoint' / 'ratelimit')
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700


def test_nested_cache_parent_created_by_another_fork_meanwhile_is_fine(tmp_path, monkeypatch):
    base = tmp_path / 'a' / 'b' / 'xdg'
    monkeypatch.setenv('XDG_CACHE_HOME', str(base))
    raced = racing_mkdir(monkeypatch, [tmp_path / 'a', tmp_path / 'a' / 'b', base])
    assert _files.private_dir('tokens') == str(base / 'defender.endpoint' / 'tokens')
    assert len(raced) == 3


def test_every_collection_folder_created_by_another_fork_meanwhile_is_fine(tmp_path, monkeypatch):
    home = fresh_home(tmp_path, monkeypatch)
    root = home / '.cache' / 'defender.endpoint'
    raced = racing_mkdir(monkeypatch, [home / '.cache', root, root / 'tokens'])
    assert _files.private_dir('tokens') == str(root / 'tokens')
    assert len(raced) == 3


@pytest.mark.parametrize('which', ['root', 'leaf'])
def test_folder_others_can_write_to_is_refused_even_when_it_appears_in_the_race(tmp_path, monkeypatch, which):
    home = fresh_home(tmp_path, monkeypatch)
    root = home / '.cache' / 'defender.endpoint'
    target = root if which == 'root' else root / 'tokens'
    if which == 'leaf':
        _files.private_dir()
    racing_mkdir(monkeypatch, [target], mode=0o777)
    with pytest.raises(MdeError) as info:
        _files.private_dir('tokens')
    assert info.value.kind == 'config'
    assert 'writable by other users' in info.value.msg and str(target) in info.value.msg


def test_cache_parent_that_is_a_file_fails_clearly(tmp_path, monkeypatch):
    home = fresh_home(tmp_path, monkeypatch)
    (home / '.cache').write_text('not a folder')
    with pytest.raises(MdeError) as info:
        _files.private_dir('tokens')
    assert info.value.kind == 'config' and str(home / '.cache') in info.value.msg
