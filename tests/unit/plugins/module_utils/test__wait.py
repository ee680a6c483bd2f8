# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A wait that runs out: a queued (Pending) action says so and, when its machine has not been seen within the
wait, adds the machine's last-seen time and health from one look-up made only then (issue 11, item 12)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from datetime import datetime

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma
from ansible_collections.defender.endpoint.plugins.module_utils import _wait
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    API_URL, FakeSession, FakeTokens, error_body, make_response, make_settings,
)

MACHINE = '1e5bc9d7e413ddd7902c2932e418702b84d0cc07'
A1 = '3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b701'
LONG_AGO = '2020-01-01T08:00:00.1234567Z'
FAR_AHEAD = '2999-01-01T08:00:00Z'


def new_client(tmp_path, clock, script):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(max_retries=1), session, FakeTokens(), sleep=clock.sleep,
                             budget_folder=str(tmp_path), clock=clock)
    return client, session


def action(status):
    return {'id': A1, 'type': 'Isolate', 'status': status, 'machineId': MACHINE, 'creationDateTimeUtc': '2025-05-14T08:00:00Z'}


def machine(last_seen, health='Inactive'):
    return {'id': MACHINE, 'computerDnsName': 'web-prod-01', 'lastSeen': last_seen, 'healthStatus': health}


def paths(session):
    return [u[len(API_URL):].split('?')[0] for dummy, u, dummy2 in session.calls]


def timed_out(tmp_path, clock, status, machine_response=None):
    script = [make_response(200, action(status)) for dummy in range(3)]
    if machine_response is not None:
        script.append(machine_response)
    client, session = new_client(tmp_path, clock, script)
    with pytest.raises(MdeError) as info:
        ma.MachineActions(client, sleep=clock.sleep, clock=clock).wait(action(status), 12, 5.0)
    assert info.value.kind == 'timeout' and info.value.details['machine_action']['status'] == status
    return info.value.msg, paths(session)


def test_pending_machine_not_seen_says_queued_with_last_seen_and_health(tmp_path, clock):
    msg, sent = timed_out(tmp_path, clock, 'Pending', make_response(200, machine(LONG_AGO)))
    assert 'still queued (Pending) after wait_timeout=12 s' in msg
    assert 'still running' not in msg
    assert 'lastSeen %s, healthStatus Inactive' % LONG_AGO in msg and MACHINE in msg
    # one machine look-up, made only when the wait ran out (after the three polls)
    assert sent == ['/api/machineactions/%s' % A1] * 3 + ['/api/machines/%s' % MACHINE]


def test_pending_machine_seen_during_the_wait_adds_nothing(tmp_path, clock):
    msg, sent = timed_out(tmp_path, clock, 'Pending', make_response(200, machine(FAR_AHEAD, 'Active')))
    assert 'still queued (Pending)' in msg and 'lastSeen' not in msg
    assert sent[-1] == '/api/machines/%s' % MACHINE and len(sent) == 4


def test_pending_machine_look_up_failing_keeps_the_timeout(tmp_path, clock):
    msg, sent = timed_out(tmp_path, clock, 'Pending', make_response(404, error_body('NotFound', 'Machine not found')))
    assert 'still queued (Pending)' in msg and 'lastSeen' not in msg and len(sent) == 4


def test_in_progress_says_running_and_looks_no_machine_up(tmp_path, clock):
    msg, sent = timed_out(tmp_path, clock, 'InProgress')
    assert 'is still InProgress after wait_timeout=12 s. It is still running on the server' in msg
    assert sent == ['/api/machineactions/%s' % A1] * 3


@pytest.mark.parametrize('last_seen, noted', [
    ('2025-05-14T07:59:59Z', True),     # before the 600 s wait began
    ('2025-05-14T08:00:01Z', False),    # within it
    ('2025-05-14T08:10:00.5Z', False),
    (None, True),                       # never seen
])
def test_machine_seen_note_compares_last_seen_with_the_wait(monkeypatch, last_seen, noted):
    now = datetime(2025, 5, 14, 8, 10, 0)
    found = machine(last_seen)
    monkeypatch.setattr(_wait.Machines, 'find', lambda self, machine_id: found)
    note = _wait.machine_seen_note(object(), MACHINE, 600, now=lambda: now)
    assert bool(note) is noted
    if noted:
        assert 'lastSeen %s' % (last_seen or 'never') in note


def test_machine_seen_note_without_a_machine_id_looks_nothing_up(monkeypatch):
    def fail(self, machine_id):
        raise AssertionError('no look-up')
    monkeypatch.setattr(_wait.Machines, 'find', fail)
    assert _wait.machine_seen_note(object(), None, 600) == ''
