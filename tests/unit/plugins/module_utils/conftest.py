# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures shared by the module_utils unit tests."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """Point the per-user cache root at a fresh folder."""
    home = tmp_path / 'xdg-cache'
    monkeypatch.setenv('XDG_CACHE_HOME', str(home))
    return home
