# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""computer_dns_name on mde_machine_action_cancel and mde_machine_action_info (issue 11 item 9): the runner
resolves the name as the launching modules do, and an unknown or ambiguous name fails before any POST."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import types

from urllib.parse import unquote

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _runner
from ansible_collections.defender.endpoint.plugins.modules import mde_machine_action_cancel, mde_machine_action_info
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    API_URL, FakeSession, FakeTokens, make_response, make_settings,
)

DB = '4b8e1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b'
OLD = '9' * 40


class Failed(Exception):
    pass


class Exited(Exception):
    pass


def machine(mid, name, seen='2025-05-14T07:48:12Z'):
    return {'id': mid, 'computerDnsName': name, 'lastSeen': seen, 'healthStatus': 'Active', 'onboardingStatus': 'Onboarded'}


def scan(action_id, status='Pending'):
    return {'id': action_id, 'type': 'RunAntiVirusScan', 'status': status, 'machineId': DB, 'requestorComment': 'x',
            'creationDateTimeUtc': '2025-05-14T09:00:05Z'}


def run(monkeypatch, tmp_path, clock, which, params, script):
    """Run ``_runner.<which>`` with a stand-in for MdeModule over the real MdeClient and a scripted session."""
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)

    class Module:
        def __init__(self, argument_spec, **kwargs):  # pylint: disable=unused-argument
            self.params = dict((k, v.get('default')) for k, v in argument_spec.items())
            self.params.update(params)
            self.client = client
            self.check_mode = False
            self._diff = False
            self.settings = types.SimpleNamespace(poll_interval=1.0)

        def fail_from_error(self, err, **extra):  # pylint: disable=unused-argument
            raise Failed(err)

        def exit_json(self, **result):
            raise Exited(result)

    monkeypatch.setattr(_runner, 'MdeModule', Module)
    captured = {}
    monkeypatch.setattr(_runner, which, lambda **kwargs: captured.update(kwargs))
    module = mde_machine_action_cancel if which == 'run_cancel' else mde_machine_action_info
    module.main()
    monkeypatch.undo()
    monkeypatch.setattr(_runner, 'MdeModule', Module)
    return captured, session, lambda: getattr(_runner, which)(**captured)


def methods(session):
    return [(m, unquote(u[len(API_URL) + len('/api'):])) for m, u, dummy in session.calls]


def test_cancel_spec_puts_the_name_where_machine_id_stands(monkeypatch, tmp_path, clock):
    spec, dummy_session, dummy_go = run(monkeypatch, tmp_path, clock, 'run_cancel', {}, [])
    assert 'computer_dns_name' in spec['argument_spec']
    assert spec['mutually_exclusive'] == [('id', 'machine_id', 'computer_dns_name')]
    assert spec['required_one_of'] == [('id', 'machine_id', 'computer_dns_name')]
    assert 'required_by' not in spec


def test_info_spec_takes_the_name_as_a_filter(monkeypatch, tmp_path, clock):
    spec, dummy_session, dummy_go = run(monkeypatch, tmp_path, clock, 'run_action_info', {}, [])
    assert ('id', 'computer_dns_name') in spec['mutually_exclusive']
    assert ('machine_id', 'computer_dns_name') in spec['mutually_exclusive']


def test_cancel_by_name_resolves_then_cancels(monkeypatch, tmp_path, clock):
    script = [make_response(200, {'value': [machine(DB, 'db-prod-02.contoso.com')]}), make_response(200, {'value': [scan('s1')]}),
              make_response(200, scan('s1', 'Cancelled'))]
    dummy_spec, session, go = run(monkeypatch, tmp_path, clock, 'run_cancel',
                                  {'computer_dns_name': 'DB-PROD-02', 'comment': 'moved', 'type': ['RunAntiVirusScan']}, script)
    with pytest.raises(Exited) as info:
        go()
    result = info.value.args[0]
    assert result['changed'] and [a['id'] for a in result['machine_actions']] == ['s1']
    calls = methods(session)
    assert [m for m, dummy in calls] == ['GET', 'GET', 'POST']
    assert calls[0][1].startswith('/machines') and "machineId eq '%s'" % DB in calls[1][1]
    assert calls[2][1] == '/machineactions/s1/cancel'


@pytest.mark.parametrize('found, expect', [([], 'No machine named "lt-0412"'),
                                           ([machine(DB, 'lt-0412'), machine(OLD, 'lt-0412.contoso.com', seen='2024-01-01T00:00:00Z')],
                                            '2 machines are named "lt-0412"')])
@pytest.mark.parametrize('which', ['run_cancel', 'run_action_info'])
def test_unknown_or_ambiguous_name_fails_after_one_look_up(monkeypatch, tmp_path, clock, found, expect, which):
    dummy_spec, session, go = run(monkeypatch, tmp_path, clock, which, {'computer_dns_name': 'lt-0412', 'comment': 'x'},
                                  [make_response(200, {'value': found})])
    with pytest.raises(Failed) as info:
        go()
    assert expect in info.value.args[0].msg
    assert [m for m, dummy in methods(session)] == ['GET']


def test_cancel_type_with_id_fails_before_any_request(monkeypatch, tmp_path, clock):
    dummy_spec, session, go = run(monkeypatch, tmp_path, clock, 'run_cancel',
                                  {'id': '3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b708', 'type': ['Isolate'], 'comment': 'x'}, [])
    with pytest.raises(Failed) as info:
        go()
    assert 'needs machine_id or computer_dns_name' in info.value.args[0].msg and info.value.args[0].kind == 'config'
    assert session.calls == []


def test_info_by_name_filters_on_the_resolved_id(monkeypatch, tmp_path, clock):
    script = [make_response(200, {'value': [machine(DB, 'db-prod-02.contoso.com')]}), make_response(200, {'value': [scan('s1')]})]
    dummy_spec, session, go = run(monkeypatch, tmp_path, clock, 'run_action_info', {'computer_dns_name': 'db-prod-02'}, script)
    with pytest.raises(Exited) as info:
        go()
    assert [a['id'] for a in info.value.args[0]['machine_actions']] == ['s1']
    calls = methods(session)
    assert [m for m, dummy in calls] == ['GET', 'GET'] and "machineId eq '%s'" % DB in calls[1][1]


def test_info_bad_name_fails_before_any_request(monkeypatch, tmp_path, clock):
    dummy_spec, session, go = run(monkeypatch, tmp_path, clock, 'run_action_info', {'computer_dns_name': 'web prod 01'}, [])
    with pytest.raises(Failed) as info:
        go()
    assert 'computer_dns_name must be a host name' in info.value.args[0].msg
    assert session.calls == []
