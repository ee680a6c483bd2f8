# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The service layer below the modules, over the real MdeClient and a scripted HTTP session, no module
needed: cancelling one or many, the machines look-up, the desired-state launch, fetching an existing
action's results, downloads and the live response vocabulary, the launch specs of the modules."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from urllib.parse import unquote

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _downloads
from ansible_collections.defender.endpoint.plugins.module_utils import _files
from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils import _machine
from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma
from ansible_collections.defender.endpoint.plugins.module_utils import _wait
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    API_URL, FakeSession, FakeTokens, error_body, make_response, make_settings,
)

MACHINE = '1e5bc9d7e413ddd7902c2932e418702b84d0cc07'
COMMENT = 'INC-4711'
A1 = '3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b701'
A2 = '3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b702'


def new_client(tmp_path, clock, script, **overrides):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(max_retries=1, **overrides), session, FakeTokens(), sleep=clock.sleep,
                             budget_folder=str(tmp_path), clock=clock)
    return client, session


def sent(session):
    return [(m, u[len(API_URL):].split('?')[0]) if u.startswith(API_URL) else (m, u) for m, u, dummy in session.calls]


def action(action_id, status='Pending', kind='RunAntiVirusScan', **extra):
    data = {'id': action_id, 'type': kind, 'status': status, 'machineId': MACHINE, 'requestorComment': COMMENT,
            'creationDateTimeUtc': '2025-05-14T08:00:00Z'}
    data.update(extra)
    return data


def page(*items):
    return make_response(200, {'value': list(items)})


# Cancelling one or many -----------------------------------------------------------------------

def test_cancellable_lists_the_non_final_actions_of_the_types(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [page(action(A1), action(A2, 'Succeeded'))])
    found = ma.MachineActions(client).cancellable(MACHINE, ['RunAntiVirusScan'])
    assert [a['id'] for a in found] == [A1]
    query = unquote(session.calls[0][1])
    assert "status eq 'Pending' or status eq 'InProgress'" in query and "type eq 'RunAntiVirusScan'" in query


def test_cancel_all_in_check_mode_sends_nothing(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [])
    run = ma.MachineActions(client).cancel_all(ma.CancelRun([action(A1), action(A2, 'Succeeded')]), COMMENT, True)
    assert run.changed is True and not session.calls
    assert run.before == {A1: 'Pending', A2: 'Succeeded'} and run.after == {A1: 'Cancelled', A2: 'Succeeded'}
    assert [a['id'] for a in run.cancelled()] == [A1]


def test_cancel_all_cancels_each_non_final_action(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(200, action(A1, 'Cancelled')), make_response(200, action(A2, 'Cancelled'))])
    run = ma.MachineActions(client).cancel_all(ma.CancelRun([action(A1), action(A2, 'InProgress')]), COMMENT, False)
    assert run.changed is True and run.after == {A1: 'Cancelled', A2: 'Cancelled'}
    assert sent(session) == [('POST', '/api/machineactions/%s/cancel' % A1), ('POST', '/api/machineactions/%s/cancel' % A2)]
    assert json.loads(session.calls[0][2]['data']) == {'Comment': COMMENT}


def test_cancel_all_failing_half_way_keeps_what_was_done(tmp_path, clock):
    refused = make_response(403, error_body('Forbidden', 'Missing Machine.Isolate'))
    client, dummy = new_client(tmp_path, clock, [make_response(200, action(A1, 'Cancelled')), refused, refused])  # a fresh token, refused too
    run = ma.CancelRun([action(A1), action(A2)])
    with pytest.raises(MdeError) as info:
        ma.MachineActions(client).cancel_all(run, COMMENT, False)
    assert info.value.status == 403
    assert run.changed is True and [a['id'] for a in run.cancelled()] == [A1] and run.after[A2] == 'Pending'


def test_cancel_all_with_wait_counts_only_what_ended_cancelled(tmp_path, clock):
    client, dummy = new_client(tmp_path, clock, [make_response(200, action(A1, 'Pending')), make_response(200, action(A1, 'Succeeded'))])
    actions = ma.MachineActions(client, sleep=clock.sleep, clock=clock)
    run = actions.cancel_all(ma.CancelRun([action(A1)]), COMMENT, False, wait=True, wait_timeout=60, poll_interval=5.0)
    assert run.changed is False and run.after == {A1: 'Succeeded'} and clock.sleeps == [5.0]


def test_wait_final_stops_at_the_timeout_with_the_action(clock):
    polls = []

    def get(action_id):
        polls.append(action_id)
        return action(action_id, 'InProgress')

    with pytest.raises(MdeError) as info:
        _wait.wait_final(get, action(A1), 12, 5.0, ma.is_final, ma.to_result, clock.sleep, clock)
    assert info.value.kind == 'timeout' and 'wait_timeout=12' in info.value.msg
    assert clock.sleeps == [5.0, 5.0, 2.0] and info.value.details['machine_action']['status'] == 'InProgress'


# Machines ------------------------------------------------------------------------------------

def machine(mid, name, seen):
    return {'id': mid, 'computerDnsName': name, 'lastSeen': seen, '@odata.type': 'x'}


def test_machines_search_by_id_reads_a_404_as_none(tmp_path, clock):
    client, dummy = new_client(tmp_path, clock, [make_response(404, error_body('NotFound', 'Machine not found'))])
    assert _machine.Machines(client).search(machine_id=MACHINE) == []


def test_machines_search_by_name_newest_first(tmp_path, clock):
    old, new = machine('a' * 40, 'web-01.contoso.com', '2024-01-01'), machine('b' * 40, 'web-01.contoso.com', '2025-01-01')
    client, dummy = new_client(tmp_path, clock, [page(old, new)])
    assert [m['id'] for m in _machine.Machines(client).search(computer_dns_name='web-01')] == ['b' * 40, 'a' * 40]


@pytest.mark.parametrize('given, message', [({'os_platform': ['Win dows']}, 'os_platform values'), ({'tag': '  '}, 'tag must not be empty')])
def test_machines_search_refuses_bad_filters_before_any_request(tmp_path, clock, given, message):
    client, session = new_client(tmp_path, clock, [])
    with pytest.raises(MdeError) as info:
        _machine.Machines(client).search(**given)
    assert info.value.kind == 'config' and message in info.value.msg and not session.calls


def test_machines_list_404_is_none_and_listed_machines_are_not_checked(tmp_path, clock):
    client, dummy = new_client(tmp_path, clock, [make_response(404, error_body('NotFound', 'No recent machines')), page({'name': 'x'})])
    machines = _machine.Machines(client)
    assert machines.list() == [] and machines.list() == [{'name': 'x'}]


def test_entity_sets_share_the_result_shape():
    assert _machine.machine_result({'@odata.context': 'x', 'computerDnsName': 'a'}) == {'computer_dns_name': 'a'}
    assert ma.to_result({'lastUpdateTimeUtc': 't'}) == {'last_update_date_time_utc': 't'}


# The desired-state launch and an existing action -------------------------------------------------

def test_ensure_state_already_desired_launches_nothing(tmp_path, clock):
    isolated = action(A1, 'Succeeded', kind='Isolate', scope='Full')
    client, session = new_client(tmp_path, clock, [page(isolated)])
    outcome = _launch.Launcher(client).ensure_state(MACHINE, _launch.isolation('isolated', 'full'), COMMENT, False)
    assert (outcome.before, outcome.wanted, outcome.changed) == ('isolated', 'isolated', False) and outcome.action == isolated
    assert [m for m, dummy in sent(session)] == ['GET']


def test_ensure_state_isolated_with_another_type_fails(tmp_path, clock):
    client, dummy = new_client(tmp_path, clock, [page(action(A1, 'Succeeded', kind='Isolate', scope='Selective'))])
    with pytest.raises(MdeError) as info:
        _launch.Launcher(client).ensure_state(MACHINE, _launch.isolation('isolated', 'full'), COMMENT, False)
    assert 'already isolated with isolation type Selective' in info.value.msg


def test_ensure_state_in_check_mode_reports_the_change_without_a_post(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [page()])
    outcome = _launch.Launcher(client).ensure_state(MACHINE, _launch.app_restriction('restricted'), COMMENT, True)
    assert (outcome.before, outcome.wanted, outcome.changed, outcome.action) == ('unrestricted', 'restricted', True, None)
    assert [m for m, dummy in sent(session)] == ['GET']


def test_existing_action_must_exist_and_be_of_the_type(tmp_path, clock):
    client, dummy = new_client(tmp_path, clock, [make_response(404, error_body('NotFound', 'no')), make_response(200, action(A1))])
    launcher = _launch.Launcher(client)
    with pytest.raises(MdeError) as info:
        launcher.existing(A1, _launch.investigation_package())
    assert info.value.status == 404 and 'check action_id' in info.value.msg
    with pytest.raises(MdeError) as info:
        launcher.existing(A1, _launch.investigation_package())
    assert 'is a RunAntiVirusScan action' in info.value.msg


# The launch specs of the modules ------------------------------------------------------------------

def test_file_quarantine_spec_checks_the_sha1():
    spec = _launch.file_quarantine(' %s ' % ('A' * 40))
    assert spec.body == {'Sha1': 'a' * 40} and spec.exclusive is False
    assert spec.same({'relatedFileInfo': {'fileIdentifier': 'A' * 40}})
    with pytest.raises(MdeError) as info:
        _launch.file_quarantine('md5:abc')
    assert info.value.kind == 'config' and '"md5:abc"' in info.value.msg


def test_av_scan_spec_matches_the_scan_type():
    spec = _launch.av_scan('full')
    assert spec.body == {'ScanType': 'Full'} and spec.same({'scope': 'full'}) and not spec.same({'scope': 'Quick'})


def test_offboard_and_release_states():
    assert _launch.offboard().states == {'Offboard': 'offboarded', None: 'onboarded'}
    release = _launch.isolation('released', 'selective')
    assert release.desired_type == 'Unisolate' and release.states[release.desired_type] == 'released'


# Downloads and the live response vocabulary -------------------------------------------------------

def _link(n):
    return make_response(200, {'value': 'https://storage.mde.test/r%d?sig=s' % n})


def _file(content):
    response = make_response(200, text=content)
    response._content_consumed = True
    response.headers['Content-Length'] = str(len(content))
    return response


COMMANDS = _downloads.check_commands([{'type': 'PutFile', 'params': {'FileName': 'x.ps1'}},
                                      {'type': 'RunScript', 'params': {'ScriptName': 'x.ps1', 'Args': '-v'}},
                                      {'type': 'GetFile', 'params': {'Path': r'C:\\logs\\app log.txt'}}])


def test_check_commands_gives_the_api_shape():
    assert COMMANDS[1] == {'type': 'RunScript', 'params': [{'key': 'ScriptName', 'value': 'x.ps1'}, {'key': 'Args', 'value': '-v'}]}


@pytest.mark.parametrize('commands, message', [
    ([], 'at least one command'),
    ([{'type': 'GetFile', 'params': {}}], 'commands[0] (GetFile) needs params Path'),
    ([{'type': 'RunScript', 'params': {'ScriptName': 'a', 'args': 'x'}}], 'unknown params args'),
])
def test_check_commands_refuses_bad_commands(commands, message):
    with pytest.raises(MdeError) as info:
        _downloads.check_commands(commands)
    assert info.value.kind == 'config' and message in info.value.msg


def test_result_names_and_targets(tmp_path):
    targets = _downloads.result_targets(COMMANDS, str(tmp_path))
    assert sorted(os.path.basename(t) for t in targets.values()) == ['1_RunScript_x.ps1.json', '2_GetFile_app_log.txt']
    assert _downloads.result_targets(COMMANDS, None) == {}


def test_commands_of_an_action_compare_equal_in_any_param_order():
    existing = {'commands': [{'command': {'type': c['type'], 'params': list(reversed(c['params']))}} for c in COMMANDS]}
    assert _downloads.comparable(_downloads.commands_of(existing)) == _downloads.comparable(COMMANDS)
    assert _launch.live_response(COMMANDS).same(existing)


def test_present_results_only_when_every_file_is_there(tmp_path):
    targets = _downloads.result_targets(COMMANDS, str(tmp_path))
    with open(targets[1], 'w') as handle:
        json.dump({'exit_code': 0, 'script_output': 'ok', 'script_errors': ''}, handle)
    assert _downloads.present_results(COMMANDS, str(tmp_path), False) is None
    with open(targets[2], 'w') as handle:
        handle.write('log')
    present = _downloads.present_results(COMMANDS, str(tmp_path), False)
    assert [r['index'] for r in present['results']] == [1, 2] and present['results'][0]['exit_code'] == 0
    assert present['results'][1]['size'] == 3
    assert _downloads.present_results(COMMANDS, str(tmp_path), True) is None


def test_live_response_results_fetch_each_result(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [_link(1), _file('{"exit_code": 3}'), _link(2), _file('log')])
    out = _downloads.Downloads(client, 1.0).live_response_results({'id': A1}, COMMANDS, str(tmp_path))
    assert out['changed'] is True and [(r['index'], r['type'], r['size']) for r in out['results']] == [(1, 'RunScript', 16), (2, 'GetFile', 3)]
    assert out['results'][0]['exit_code'] == 3
    assert sent(session)[0] == ('GET', '/api/machineactions/%s/GetLiveResponseResultDownloadLink(index=1)' % A1)


def test_package_download_result(tmp_path, clock):
    client, dummy = new_client(tmp_path, clock, [_link(1), _file('PK')])
    dest = str(tmp_path / 'p.zip')
    out = _downloads.Downloads(client, 1.0).package({'id': A1}, dest)
    assert out == {'changed': True, 'dest': dest, 'sha256': _files.sha256_file(dest), 'size': 2}
    assert _downloads.present_file(dest) == {'dest': dest, 'sha256': out['sha256'], 'size': 2}


def test_check_dest(tmp_path):
    assert _downloads.check_dest(str(tmp_path / 'x')) == str(tmp_path / 'x')
    assert _downloads.check_dest(str(tmp_path), folder=True) == str(tmp_path)
    for path, folder in ((tmp_path / 'missing' / 'x', False), (tmp_path / 'missing', True)):
        with pytest.raises(MdeError) as info:
            _downloads.check_dest(str(path), folder=folder)
        assert 'does not exist' in info.value.msg


def test_one_atomic_writer_leaves_nothing_when_writing_fails(tmp_path):
    def broken(handle):
        handle.write(b'half')
        raise OSError('disk full')

    with pytest.raises(OSError):
        _files.write_atomic(str(tmp_path / 'f'), broken, binary=True)
    assert os.listdir(str(tmp_path)) == []
    _files.write_json_atomic(str(tmp_path / 'j.json'), {'a': 1})
    assert _files.read_json(str(tmp_path / 'j.json')) == {'a': 1} and oct(os.stat(str(tmp_path / 'j.json')).st_mode & 0o777) == '0o600'
