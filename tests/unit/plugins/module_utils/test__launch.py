# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The launch flow of _launch.Launcher and name resolution of _machine.Machines, over the real
MdeClient and a scripted HTTP session: what is sent, how often, and what the caller is told."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import time

from urllib.parse import unquote

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _downloads
from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils import _machine
from ansible_collections.defender.endpoint.plugins.module_utils import _runner
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    API_URL, FakeSession, FakeTokens, broken, error_body, make_response, make_settings, read_timeout, refused,
)

MACHINE = '1e5bc9d7e413ddd7902c2932e418702b84d0cc07'
COMMENT = 'INC-4711 contain'
NOW = 1747213200.0  # 2025-05-14T09:00:00Z
ISOLATE_FULL = _launch.LaunchSpec('Isolate', 'isolate', 'isolate', body={'IsolationType': 'Full'},
                                  same=lambda a: (a.get('scope') or 'Full') == 'Full')
QUARANTINE = _launch.LaunchSpec('StopAndQuarantineFile', 'StopAndQuarantineFile', 'stop_and_quarantine_file', body={'Sha1': 'a' * 40},
                                same=lambda a: (a.get('relatedFileInfo') or {}).get('fileIdentifier') == 'a' * 40, exclusive=False)


def entity(action_id, status='Pending', created='2025-05-14T09:00:05.1234567Z', **extra):
    data = {'id': action_id, 'type': 'Isolate', 'scope': 'Full', 'status': status, 'machineId': MACHINE,
            'requestorComment': COMMENT, 'creationDateTimeUtc': created}
    data.update(extra)
    return data


def page(*items):
    return make_response(200, {'@odata.context': API_URL + '/api/$metadata#MachineActions', 'value': list(items)})


def launcher(tmp_path, clock, script):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(max_retries=2), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)
    return _launch.Launcher(client, clock=lambda: NOW), session


def sent(session):
    return [(m, u[len(API_URL):].split('?')[0]) for m, u, dummy in session.calls]


def test_same_action_running_is_returned_without_a_launch(tmp_path, clock):
    running = entity('a1')
    launch, session = launcher(tmp_path, clock, [page(running)])
    assert launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False) == (running, False)
    assert sent(session) == [('GET', '/api/machineactions')]
    query = session.calls[0][1]
    assert "machineId eq '%s'" % MACHINE in unquote(query)
    assert "type eq 'Isolate'" in unquote(query)


def test_running_action_with_other_parameters_fails_clearly(tmp_path, clock):
    launch, session = launcher(tmp_path, clock, [page(entity('a1', scope='Selective'))])
    with pytest.raises(MdeError) as info:
        launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False)
    assert 'one action of a kind at a time' in info.value.msg and 'a1' in info.value.msg
    assert [m for m, dummy in sent(session)] == ['GET']


def test_non_exclusive_action_launches_beside_another(tmp_path, clock):
    other = entity('q1', type='StopAndQuarantineFile', relatedFileInfo={'fileIdentifier': 'b' * 40})
    new = entity('q2', type='StopAndQuarantineFile', relatedFileInfo={'fileIdentifier': 'a' * 40})
    launch, session = launcher(tmp_path, clock, [page(other), make_response(201, new)])
    assert launch.launch(MACHINE, QUARANTINE, COMMENT, False) == (new, True)
    assert json.loads(session.calls[1][2]['data']) == {'Sha1': 'a' * 40, 'Comment': COMMENT}


def test_check_mode_looks_and_launches_nothing(tmp_path, clock):
    launch, session = launcher(tmp_path, clock, [page()])
    assert launch.launch(MACHINE, ISOLATE_FULL, COMMENT, True) == (None, True)
    assert sent(session) == [('GET', '/api/machineactions')]


def test_launch_sends_one_post_with_the_pascal_case_body(tmp_path, clock):
    new = entity('n1')
    launch, session = launcher(tmp_path, clock, [page(), make_response(201, new)])
    assert launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False) == (new, True)
    assert sent(session) == [('GET', '/api/machineactions'), ('POST', '/api/machines/%s/isolate' % MACHINE)]
    assert json.loads(session.calls[1][2]['data']) == {'IsolationType': 'Full', 'Comment': COMMENT}


def test_201_returning_an_old_action_is_not_changed(tmp_path, clock):
    old = entity('o1', created='2025-05-14T08:00:00.0000000Z')
    launch, dummy = launcher(tmp_path, clock, [page(), make_response(201, old)])
    assert launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False) == (old, False)


@pytest.mark.parametrize('code, message', [('ActiveRequestAlreadyExists', 'Action is already in progress'), ('BadRequest', 'busy')])
def test_400_already_running_returns_that_action(tmp_path, clock, code, message):
    running = entity('r1')
    launch, session = launcher(tmp_path, clock, [page(), make_response(400, error_body(code, message)), page(running)])
    assert launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False) == (running, False)
    assert [m for m, dummy in sent(session)] == ['GET', 'POST', 'GET']


def test_400_with_nothing_running_surfaces_the_api_error(tmp_path, clock):
    launch, dummy = launcher(tmp_path, clock, [page(), make_response(400, error_body('InvalidRequestBody', 'Request body is incorrect')), page()])
    with pytest.raises(MdeError) as info:
        launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False)
    assert info.value.status == 400 and info.value.error_code == 'InvalidRequestBody'


@pytest.mark.parametrize('failure', [read_timeout(), broken('the server closed the connection without an answer'),
                                     make_response(502, error_body('BadGateway', 'upstream'))])
def test_lost_answer_finds_the_created_action_and_never_resends(tmp_path, clock, failure):
    created = entity('c1')
    launch, session = launcher(tmp_path, clock, [page(), failure, page(entity('x', requestorComment='other'), created)])
    assert launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False) == (created, True)
    assert [m for m, dummy in sent(session)] == ['GET', 'POST', 'GET']
    assert 'creationDateTimeUtc ge 2025-05-14T08:55:00Z' in unquote(session.calls[2][1])


def test_lost_answer_with_no_action_fails_saying_nothing_was_launched(tmp_path, clock):
    launch, session = launcher(tmp_path, clock, [page(), read_timeout(), page()])
    with pytest.raises(MdeError) as info:
        launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False)
    assert 'was not launched' in info.value.msg and 'running the task again is safe' in info.value.msg
    assert [m for m, dummy in sent(session)].count('POST') == 1


def test_refused_connection_is_retried_since_nothing_was_sent(tmp_path, clock):
    new = entity('n1')
    launch, session = launcher(tmp_path, clock, [page(), refused(), make_response(201, new)])
    assert launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False) == (new, True)
    assert [m for m, dummy in sent(session)] == ['GET', 'POST', 'POST']


def test_active_orders_by_creation_time(tmp_path, clock):
    older = entity('i1', status='Succeeded', created='2025-05-01T00:00:00Z')
    newer = entity('u1', type='Unisolate', status='Pending', created='2025-05-02T00:00:00Z')
    launch, session = launcher(tmp_path, clock, [page(older, newer)])
    assert launch.active(MACHINE, ['Isolate', 'Unisolate'])[0] == newer
    query = unquote(session.calls[0][1])
    assert "status eq 'Succeeded'" in query and "type eq 'Unisolate'" in query


def test_active_none_without_history(tmp_path, clock):
    launch, dummy = launcher(tmp_path, clock, [page()])
    assert launch.active(MACHINE, ['Isolate', 'Unisolate']) == []


# name resolution --------------------------------------------------------------------------

def machine(mid, name, seen='2025-05-14T07:48:12Z', health='Active'):
    return {'id': mid, 'computerDnsName': name, 'lastSeen': seen, 'healthStatus': health, 'onboardingStatus': 'Onboarded'}


def machines(tmp_path, clock, script):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)
    return _machine.Machines(client), session


@pytest.mark.parametrize('name', ['lt-0412', 'LT-0412', 'lt-0412.contoso.com', 'LT-0412.Contoso.COM'])
def test_resolve_one_match_by_short_or_full_name(tmp_path, clock, name):
    listed = [machine(MACHINE, 'lt-0412.contoso.com'), machine('f' * 40, 'lt-04123.contoso.com')]
    mids, session = machines(tmp_path, clock, [make_response(200, {'value': listed})])
    assert mids.resolve(computer_dns_name=name.lower()) == MACHINE
    assert 'computerDnsName eq' in unquote(session.calls[0][1])


def test_resolve_several_matches_lists_the_candidates(tmp_path, clock):
    old = machine('9' * 40, 'lt-0412.contoso.com', seen='2024-02-18T17:25:30Z', health='Inactive')
    mids, dummy = machines(tmp_path, clock, [make_response(200, {'value': [old, machine(MACHINE, 'lt-0412.contoso.com')]})])
    with pytest.raises(MdeError) as info:
        mids.resolve(computer_dns_name='lt-0412')
    assert MACHINE in info.value.msg and '9' * 40 in info.value.msg
    assert [c['id'] for c in info.value.details['candidates']] == [MACHINE, '9' * 40]


@pytest.mark.parametrize('answer', [make_response(200, {'value': []}), make_response(404, error_body('NotFound', 'No recent machines'))])
def test_resolve_no_match_fails_clearly(tmp_path, clock, answer):
    mids, dummy = machines(tmp_path, clock, [answer])
    with pytest.raises(MdeError) as info:
        mids.resolve(computer_dns_name='ghost')
    assert 'No machine named "ghost"' in info.value.msg


def test_resolve_by_id_sends_nothing(tmp_path, clock):
    mids, session = machines(tmp_path, clock, [])
    assert mids.resolve(machine_id=MACHINE) == MACHINE
    assert not session.calls


@pytest.mark.parametrize('bad', ['', 'web prod', "x' or '1", '-lead', 'a..b'])
def test_bad_names_are_refused_before_any_request(bad):
    with pytest.raises(MdeError) as info:
        _machine.check_computer_dns_name(bad)
    assert 'computer_dns_name' in info.value.msg and info.value.kind == 'config'


def test_machine_filter_uses_any_for_tags_and_or_chains():
    expected = "(healthStatus eq 'Active' or healthStatus eq 'Inactive') and machineTags/any(tag: tag eq 'o''brien')"
    assert _machine.build_machine_filter(health_status=['Active', 'Inactive'], tag="o'brien") == expected


def test_201_with_another_running_action_is_not_taken_for_ours(tmp_path, clock):
    other = entity('q1', type='StopAndQuarantineFile', relatedFileInfo={'fileIdentifier': 'b' * 40})
    launch, dummy = launcher(tmp_path, clock, [page(other), make_response(201, other)])
    with pytest.raises(MdeError) as info:
        launch.launch(MACHINE, QUARANTINE, COMMENT, False)
    assert 'instead of launching this one' in info.value.msg and 'q1' in info.value.msg
    assert info.value.details['machine_action']['id'] == 'q1'


def test_400_for_a_non_exclusive_action_names_the_running_one(tmp_path, clock):
    other = entity('q1', type='StopAndQuarantineFile', relatedFileInfo={'fileIdentifier': 'b' * 40})
    already = make_response(400, error_body('ActiveRequestAlreadyExists', 'Action is already in progress'))
    launch, dummy = launcher(tmp_path, clock, [page(other), already, page(other)])
    with pytest.raises(MdeError) as info:
        launch.launch(MACHINE, QUARANTINE, COMMENT, False)
    assert 'q1' in info.value.msg and info.value.error_code == 'ActiveRequestAlreadyExists'


# Downloads of results ------------------------------------------------------------------------

def _link(n):
    return make_response(200, {'@odata.context': API_URL + '/api/$metadata#Edm.String',
                               'value': '"https://storage.mde.test/packages/p.zip?sig=s%d"' % n})


def _file(content):
    response = make_response(200, text=content)
    response._content_consumed = True
    response.headers['Content-Length'] = str(len(content))
    return response


def _expired():
    return make_response(403, text='<?xml version="1.0"?><Error><Code>AuthenticationFailed</Code>'
                                   '<Message>Signed expiry time has to be after signed start time</Message></Error>')


def fetcher(tmp_path, clock, script):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(max_retries=2), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)
    return _downloads.Downloads(client, client.settings.poll_interval), session


def test_an_expired_link_is_fetched_again_once(tmp_path, clock):
    downloads, session = fetcher(tmp_path, clock, [_link(1), _expired(), _link(2), _file('zip!')])
    dest = str(tmp_path / 'p.zip')
    digest, size = downloads.fetch('/api/machineactions/a1/getPackageUri', 'get_package_uri', dest)
    assert size == 4 and open(dest).read() == 'zip!'
    assert [u.split('?')[-1] if 'storage' in u else u[len(API_URL):] for dummy, u, dummy2 in session.calls] == [
        '/api/machineactions/a1/getPackageUri', 'sig=s1', '/api/machineactions/a1/getPackageUri', 'sig=s2']
    assert [('Authorization' in (kw.get('headers') or {})) for dummy, u, kw in session.calls] == [True, False, True, False]


def test_a_link_refused_twice_fails_without_a_third_link(tmp_path, clock):
    downloads, session = fetcher(tmp_path, clock, [_link(1), _expired(), _link(2), _expired()])
    with pytest.raises(MdeError) as info:
        downloads.fetch('/api/machineactions/a1/getPackageUri', 'get_package_uri', str(tmp_path / 'p.zip'))
    assert info.value.status == 403 and 'HTTP 403' in info.value.msg and 'expiry' in info.value.msg
    assert 'sig=' not in info.value.msg
    assert len(session.calls) == 4 and not (tmp_path / 'p.zip').exists()


@pytest.mark.parametrize('answer', [{'value': 'nope', 'id': 5}, {'id': '0' * 40, 'computerDnsName': 'other'}, ['x']])
def test_machine_get_refuses_json_that_is_not_the_machine(tmp_path, clock, answer):
    session = FakeSession([make_response(200, answer)])
    client = _http.MdeClient(make_settings(), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)
    with pytest.raises(MdeError) as info:
        _machine.Machines(client).get(MACHINE)
    assert 'not the expected machine' in info.value.msg and 'api_url' in info.value.msg


# A lost launch answer is matched only to an action that did not exist before the POST -------------

def test_look_up_before_a_launch_also_lists_recent_final_actions_in_the_same_call(tmp_path, clock):
    new = entity('n1')
    launch, session = launcher(tmp_path, clock, [page(entity('old', status='Succeeded', created='2025-05-14T08:57:00Z')),
                                                 make_response(201, new)])
    assert launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False) == (new, True)
    assert sent(session) == [('GET', '/api/machineactions'), ('POST', '/api/machines/%s/isolate' % MACHINE)]
    query = unquote(session.calls[0][1])
    assert ("(status eq 'Pending' or status eq 'InProgress' or creationDateTimeUtc ge 2025-05-14T08:55:00Z)" in query)
    assert "type eq 'Isolate'" in query and "machineId eq '%s'" % MACHINE in query


@pytest.mark.parametrize('status', ['Succeeded', 'Failed', 'Cancelled'])
def test_lost_answer_is_not_matched_to_an_older_action_with_the_same_comment(tmp_path, clock, status):
    # nothing runs; an Isolate with the same comment ended 3 minutes ago; the POST times out and was never applied
    old = entity('old', status=status, created='2025-05-14T08:57:00Z')
    launch, session = launcher(tmp_path, clock, [page(old), read_timeout(), page(old)])
    with pytest.raises(MdeError) as info:
        launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False)
    assert 'was not launched' in info.value.msg and 'running the task again is safe' in info.value.msg
    assert 'old' in info.value.msg and 'existed before the request' in info.value.msg
    assert [m for m, dummy in sent(session)] == ['GET', 'POST', 'GET']


def test_lost_answer_finds_the_new_action_beside_an_older_one_with_the_same_comment(tmp_path, clock):
    old = entity('old', status='Succeeded', created='2025-05-14T08:57:00Z')
    created = entity('c1', created='2025-05-14T09:00:01Z')
    launch, dummy = launcher(tmp_path, clock, [page(old), read_timeout(), page(created, old)])
    assert launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False) == (created, True)


def test_lost_answer_needs_the_same_type_and_parameters(tmp_path, clock):
    other = [entity('s1', scope='Selective', created='2025-05-14T09:00:01Z'),
             entity('u1', type='Unisolate', created='2025-05-14T09:00:01Z')]
    launch, dummy = launcher(tmp_path, clock, [page(), read_timeout(), page(*other)])
    with pytest.raises(MdeError) as info:
        launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False)
    assert 'was not launched' in info.value.msg


def test_201_returning_a_final_action_of_the_snapshot_is_not_changed(tmp_path, clock):
    old = entity('old', status='Succeeded', created='2025-05-14T08:59:00Z')
    launch, dummy = launcher(tmp_path, clock, [page(old), make_response(201, old)])
    assert launch.launch(MACHINE, ISOLATE_FULL, COMMENT, False) == (old, False)


class StateModule:
    """What _runner.run_state reads from an MdeModule."""

    def __init__(self, client):
        self.client = client
        self.params = {'machine_id': MACHINE, 'computer_dns_name': None, 'comment': COMMENT, 'wait': False, 'wait_timeout': 600}
        self.check_mode = False
        self._diff = False
        self.settings = client.settings


ISOLATION_STATES = {None: 'unisolated', 'Isolate': 'isolated', 'Unisolate': 'unisolated'}


def run_isolation(tmp_path, clock, script):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(max_retries=2), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)
    state = _launch.StateLaunch(('Isolate', 'Unisolate'), 'Isolate', ISOLATE_FULL, ISOLATION_STATES)
    return _runner.run_state(StateModule(client), state), session


def test_isolation_after_a_release_with_a_lost_answer_does_not_report_the_old_isolation(tmp_path, clock):
    # isolated 3 minutes ago, released 2 minutes ago; isolating again with the same comment, the POST times out unapplied
    old = entity('old', status='Succeeded', created='2025-05-14T08:57:00Z')
    release = entity('rel', type='Unisolate', status='Succeeded', created='2025-05-14T08:58:00Z')
    with pytest.raises(MdeError) as info:
        run_isolation(tmp_path, clock, [page(release, old), read_timeout(), page(old)])
    assert 'was not launched' in info.value.msg


def test_isolation_state_look_up_is_one_call_and_lists_recent_final_actions(tmp_path, clock):
    release = entity('rel', type='Unisolate', status='Succeeded', created='2025-05-14T08:58:00Z')
    failed = entity('f1', status='Failed', created='2025-05-14T08:59:00Z')
    new = entity('n1', created=_launch._iso(time.time()))  # run_state's Launcher keeps the real clock
    result, session = run_isolation(tmp_path, clock, [page(failed, release), make_response(201, new)])
    assert result['changed'] is True and result['state'] == 'isolated' and result['machine_action']['id'] == 'n1'
    assert [m for m, dummy in sent(session)] == ['GET', 'POST']
    query = unquote(session.calls[0][1])
    assert "status eq 'Succeeded' or creationDateTimeUtc ge " in query


def test_isolation_already_isolated_is_one_call_despite_a_recent_failed_release(tmp_path, clock):
    isolated = entity('i1', status='Succeeded', created='2025-05-14T08:00:00Z')
    failed_release = entity('u1', type='Unisolate', status='Failed', created='2025-05-14T08:59:00Z')
    result, session = run_isolation(tmp_path, clock, [page(failed_release, isolated)])
    assert result['changed'] is False and result['state'] == 'isolated' and result['machine_action']['id'] == 'i1'
    assert len(session.calls) == 1
