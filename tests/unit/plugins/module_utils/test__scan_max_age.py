# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mde_machine_av_scan max_age (issue 11): a scan of the same type that Succeeded within max_age counts as done,
found by the look-up the launch makes anyway (one call, widened to Succeeded), never by a second one."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from urllib.parse import unquote

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    FakeSession, FakeTokens, make_response, make_settings,
)

MACHINE = '1e5bc9d7e413ddd7902c2932e418702b84d0cc07'
NOW = 1747213200.0  # 2025-05-14T09:00:00Z


def scan(action_id, status, scope='Quick', created='2025-05-14T05:00:00Z', updated=None):
    data = {'id': action_id, 'type': 'RunAntiVirusScan', 'scope': scope, 'status': status, 'machineId': MACHINE,
            'requestorComment': 'hygiene', 'creationDateTimeUtc': created}
    if updated:
        data['lastUpdateDateTimeUtc'] = updated
    return data


def launcher(tmp_path, clock, script):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)
    return _launch.Launcher(client, clock=lambda: NOW), session


def page(*items):
    return make_response(200, {'value': list(items)})


def posts(session):
    return [u for m, u, dummy in session.calls if m == 'POST']


@pytest.mark.parametrize('text,seconds', [('90s', 90), ('30m', 1800), ('4h', 14400), ('2d', 172800), ('1h30m', 5400), (' 4H ', 14400)])
def test_max_age_durations(text, seconds):
    assert _launch.av_scan('quick', text).max_age == seconds


@pytest.mark.parametrize('bad', ['4', 'h', '4 hours', '-4h', '4.5h', '0m', '', '30m4h'])
def test_bad_max_age_names_the_option(bad):
    with pytest.raises(MdeError) as info:
        _launch.av_scan('quick', bad)
    assert info.value.kind == 'config' and 'max_age must be' in info.value.msg


def test_unset_max_age_looks_only_for_running_scans_and_launches_after_a_success(tmp_path, clock):
    new = scan('s2', 'Pending', created='2025-05-14T09:00:01Z')
    launch, session = launcher(tmp_path, clock, [page(), make_response(201, new)])
    spec = _launch.av_scan('quick')
    assert launch.launch(MACHINE, spec, 'hygiene', False) == (new, True) and launch.reused is None
    assert "'Succeeded'" not in unquote(session.calls[0][1])  # the look-up asks for running scans only


def test_recent_success_of_the_same_type_is_returned_from_the_one_look_up(tmp_path, clock):
    older = scan('s0', 'Succeeded', updated='2025-05-14T06:00:00Z')
    recent = scan('s1', 'Succeeded', updated='2025-05-14T08:30:00Z')
    full = scan('f1', 'Succeeded', scope='Full', updated='2025-05-14T08:55:00Z')
    failed = scan('x1', 'Failed', updated='2025-05-14T08:58:00Z')
    launch, session = launcher(tmp_path, clock, [page(full, failed, older, recent)])
    assert launch.launch(MACHINE, _launch.av_scan('quick', '4h'), 'hygiene', False) == (recent, False)
    assert launch.reused == 'succeeded'
    assert len(session.calls) == 1 and posts(session) == []
    query = unquote(session.calls[0][1])
    assert "status eq 'Succeeded'" in query and "status eq 'Pending'" in query and "type eq 'RunAntiVirusScan'" in query


def test_success_older_than_max_age_starts_a_new_scan(tmp_path, clock):
    old = scan('s1', 'Succeeded', created='2025-05-14T03:00:00Z', updated='2025-05-14T04:00:00Z')  # 5 h ago
    new = scan('s2', 'Pending', created='2025-05-14T09:00:01Z')
    launch, session = launcher(tmp_path, clock, [page(old), make_response(201, new)])
    assert launch.launch(MACHINE, _launch.av_scan('quick', '4h'), 'hygiene', False) == (new, True)
    assert launch.reused is None and len(posts(session)) == 1


def test_completion_time_counts_not_creation(tmp_path, clock):
    """Created 6 h ago, finished 1 h ago: within 4h. Without a completion time the creation time (no later) is used."""
    long_scan = scan('s1', 'Succeeded', created='2025-05-14T03:00:00Z', updated='2025-05-14T08:00:00Z')
    launch, session = launcher(tmp_path, clock, [page(long_scan)])
    assert launch.launch(MACHINE, _launch.av_scan('quick', '4h'), 'hygiene', False) == (long_scan, False)
    no_update = scan('s2', 'Succeeded', created='2025-05-14T03:00:00Z')
    other = dict(no_update, lastUpdateTimeUtc='2025-05-14T08:00:00Z', id='s3')  # the alternative spelling
    launch, session = launcher(tmp_path, clock, [page(no_update), make_response(201, scan('n1', 'Pending', created='2025-05-14T09:00:01Z')), page(other)])
    assert launch.launch(MACHINE, _launch.av_scan('quick', '4h'), 'hygiene', False)[1] is True
    assert launch.launch(MACHINE, _launch.av_scan('quick', '4h'), 'hygiene', False) == (other, False)


def test_running_scan_is_still_preferred_and_a_recent_success_beats_a_busy_error(tmp_path, clock):
    running = scan('r1', 'InProgress', created='2025-05-14T08:59:00Z')
    recent = scan('s1', 'Succeeded', updated='2025-05-14T08:30:00Z')
    launch, dummy = launcher(tmp_path, clock, [page(recent, running)])
    assert launch.launch(MACHINE, _launch.av_scan('quick', '4h'), 'hygiene', False) == (running, False)
    assert launch.reused == 'running'
    other_running = scan('r2', 'InProgress', scope='Full', created='2025-05-14T08:59:00Z')
    launch, dummy = launcher(tmp_path, clock, [page(recent, other_running)])
    assert launch.launch(MACHINE, _launch.av_scan('quick', '4h'), 'hygiene', False) == (recent, False)


def test_check_mode_reports_the_reuse_honestly(tmp_path, clock):
    recent = scan('s1', 'Succeeded', updated='2025-05-14T08:30:00Z')
    launch, session = launcher(tmp_path, clock, [page(recent), page(recent)])
    assert launch.launch(MACHINE, _launch.av_scan('quick', '4h'), 'hygiene', True) == (recent, False)
    assert launch.launch(MACHINE, _launch.av_scan('quick', '20m'), 'hygiene', True) == (None, True)
    assert posts(session) == []
