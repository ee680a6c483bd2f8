# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    API_URL, FakeSession, FakeTokens, error_body, make_response, make_settings,
)

ACTION_ID = '3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b708'
MACHINE_ID = '1e5bc9d7e413ddd7902c2932e418702b84d0cc07'
COMMENT = 'INC-4711 false positive'


def action(status, **extra):
    entity = {
        '@odata.context': API_URL + '/api/$metadata#MachineActions/$entity',
        'id': ACTION_ID, 'type': 'Isolate', 'status': status, 'machineId': MACHINE_ID,
        'requestor': 'analyst@contoso.com', 'requestorComment': 'isolate it', 'cancellationComment': None,
        'creationDateTimeUtc': '2025-05-01T08:00:00.123Z', 'lastUpdateDateTimeUtc': '2025-05-01T08:01:00Z',
    }
    entity.update(extra)
    return entity


# to_result -----------------------------------------------------------------------------------

def test_to_result_snake_cases_nested_keys_and_drops_odata():
    entity = {
        '@odata.context': 'https://api/$metadata#MachineActions/$entity',
        '@odata.etag': 'W/"1"',
        'id': 'a1', 'machineId': 'm1', 'requestorComment': 'Isolate', 'errorHResult': -2147024891,
        'computerDnsName': 'pc1.contoso.com', 'cancellationComment': None,
        'relatedFileInfo': {'fileIdentifier': 'abc', 'fileIdentifierType': 'Sha1'},
        'commands': [{'index': 0, 'commandStatus': 'Completed', 'command': {'type': 'RunScript', 'params': [{'key': 'ScriptName', 'value': 'x'}]}}],
    }
    result = ma.to_result(entity)
    assert result == {
        'id': 'a1', 'machine_id': 'm1', 'requestor_comment': 'Isolate', 'error_h_result': -2147024891,
        'computer_dns_name': 'pc1.contoso.com', 'cancellation_comment': None,
        'related_file_info': {'file_identifier': 'abc', 'file_identifier_type': 'Sha1'},
        'commands': [{'index': 0, 'command_status': 'Completed', 'command': {'type': 'RunScript', 'params': [{'key': 'ScriptName', 'value': 'x'}]}}],
    }
    assert '@odata.context' in entity  # the input is not modified


def test_to_result_normalises_last_update_time():
    result = ma.to_result({'id': 'a', 'lastUpdateTimeUtc': '2025-05-01T08:00:00Z'})
    assert result == {'id': 'a', 'last_update_date_time_utc': '2025-05-01T08:00:00Z'}


def test_to_result_keeps_the_documented_spelling_when_both_exist():
    result = ma.to_result({'lastUpdateTimeUtc': 'old', 'lastUpdateDateTimeUtc': 'new'})
    assert result['last_update_date_time_utc'] == 'new'


def test_to_result_leaves_values_untouched():
    result = ma.to_result({'status': 'InProgress', 'type': 'RunAntiVirusScan', 'requestor': 'SomeUser@Contoso.com'})
    assert result == {'status': 'InProgress', 'type': 'RunAntiVirusScan', 'requestor': 'SomeUser@Contoso.com'}


@pytest.mark.parametrize('value', [None, 'text', [1, 2]])
def test_to_result_passes_non_dicts_through(value):
    assert ma.to_result(value) == value


# build_filter --------------------------------------------------------------------------------

def test_build_filter_nothing():
    assert ma.build_filter() is None


def test_build_filter_all_terms():
    odata = ma.build_filter(machine_id=MACHINE_ID, statuses=['Pending', 'InProgress'], types=['Isolate'],
                            requestor="o'brien@contoso.com", created_after='2025-05-01T00:00:00Z')
    assert odata == ("machineId eq '%s' and (status eq 'Pending' or status eq 'InProgress') and type eq 'Isolate' "
                     "and requestor eq 'o''brien@contoso.com' and creationDateTimeUtc ge 2025-05-01T00:00:00Z" % MACHINE_ID)


def test_build_filter_escapes_quotes_everywhere():
    odata = ma.build_filter(types=["Iso'late", 'Unisolate'])
    assert odata == "(type eq 'Iso''late' or type eq 'Unisolate')"


def test_odata_string():
    assert ma.odata_string("it's") == "'it''s'"
    assert ma.odata_string("''") == "''''''"


# parse_timestamp -----------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    ('2025-05-01', '2025-05-01T00:00:00Z'),
    ('2025-05-01T08:00', '2025-05-01T08:00:00Z'),
    ('2025-05-01T08:00:00Z', '2025-05-01T08:00:00Z'),
    ('2025-05-01 08:00:00z', '2025-05-01T08:00:00Z'),
    ('2025-05-01T08:00:00.123456Z', '2025-05-01T08:00:00Z'),
    ('2025-05-01T08:00:00+02:00', '2025-05-01T06:00:00Z'),
    ('2025-05-01T08:00:00-0530', '2025-05-01T13:30:00Z'),
    ('2025-05-01T01:00:00+03:00', '2025-04-30T22:00:00Z'),
    ('2024-12-31T23:30:00-01:00', '2025-01-01T00:30:00Z'),
    ('  2025-05-01  ', '2025-05-01T00:00:00Z'),
])
def test_parse_timestamp(value, expected):
    assert ma.parse_timestamp(value, 'created_after') == expected


@pytest.mark.parametrize('value', ['yesterday', '', None, '01/05/2025', '2025-05-01T08', '2025-5-1', '2025-05-01T08:00:00+2'])
def test_parse_timestamp_unreadable_names_option(value):
    with pytest.raises(MdeError) as info:
        ma.parse_timestamp(value, 'created_after')
    assert info.value.kind == 'config'
    assert 'created_after' in info.value.msg and 'ISO 8601' in info.value.msg


@pytest.mark.parametrize('value', ['2025-13-01', '2025-02-30', '2025-05-01T25:00:00Z', '2025-05-01T08:61:00Z'])
def test_parse_timestamp_impossible_date_names_option(value):
    with pytest.raises(MdeError) as info:
        ma.parse_timestamp(value, 'created_after')
    assert info.value.kind == 'config' and 'created_after' in info.value.msg and value in info.value.msg


@pytest.mark.parametrize('value', ['0001-01-01T00:30:00+01:00', '9999-12-31T23:30:00-01:00'])
def test_parse_timestamp_out_of_range_after_offset_names_option(value):
    with pytest.raises(MdeError) as info:
        ma.parse_timestamp(value, 'created_after')
    assert 'created_after' in info.value.msg


# Vocabulary and checks -----------------------------------------------------------------------

@pytest.mark.parametrize('status, final', [
    ('Succeeded', True), ('Failed', True), ('TimeOut', True), ('Cancelled', True), ('Canceled', True),
    ('cancelled', True), ('SUCCEEDED', True), ('Pending', False), ('InProgress', False), ('SomethingNew', False),
    ('', False), (None, False),
])
def test_is_final(status, final):
    assert ma.is_final(status) is final


def test_is_cancelled_accepts_both_spellings():
    assert ma.is_cancelled('Cancelled') and ma.is_cancelled('Canceled')
    assert not ma.is_cancelled('Succeeded') and not ma.is_cancelled(None)


def test_check_action_id():
    assert ma.check_action_id(ACTION_ID.upper()) == ACTION_ID
    for bad in ('', None, 'not-a-guid', ACTION_ID + 'a', ACTION_ID.replace('-', '')):
        with pytest.raises(MdeError) as info:
            ma.check_action_id(bad, option='action_id')
        assert info.value.kind == 'config'
        assert 'action_id' in info.value.msg and 'mde_machine_action_info' in info.value.msg


def test_check_machine_id():
    assert ma.check_machine_id(MACHINE_ID.upper()) == MACHINE_ID
    for bad in ('', None, 'pc1.contoso.com', MACHINE_ID[:20], MACHINE_ID + 'g'):
        with pytest.raises(MdeError) as info:
            ma.check_machine_id(bad)
        assert 'machine_id' in info.value.msg


def test_check_comment():
    assert ma.check_comment(COMMENT) == COMMENT
    for bad in (None, '', '   \n'):
        with pytest.raises(MdeError) as info:
            ma.check_comment(bad)
        assert info.value.kind == 'config' and 'comment' in info.value.msg


# MachineActions over a client with a scripted HTTP session ----------------------------------

def actions(tmp_path, clock, script, **overrides):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(**overrides), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)
    return ma.MachineActions(client, sleep=clock.sleep, clock=clock), session


def requests_made(session):
    return [(method, url[len(API_URL):]) for method, url, dummy in session.calls]


CANCEL_PATH = '/api/machineactions/%s/cancel' % ACTION_ID
GET_PATH = '/api/machineactions/%s' % ACTION_ID
FINAL_STATE = error_body('InvalidRequest', 'Cannot cancel an action in a final state')


def test_cancel_200_is_changed(tmp_path, clock):
    after = action('Cancelled', cancellationComment=COMMENT)
    mas, session = actions(tmp_path, clock, [make_response(200, after)])
    current, changed = mas.cancel(action('Pending'), COMMENT)
    assert changed is True
    assert current == after
    assert requests_made(session) == [('POST', CANCEL_PATH)]
    assert json.loads(session.calls[0][2]['data']) == {'Comment': COMMENT}


def test_cancel_without_body_looks_the_action_up(tmp_path, clock):
    after = action('Cancelled', cancellationComment=COMMENT)
    mas, session = actions(tmp_path, clock, [make_response(200), make_response(200, after)])
    current, changed = mas.cancel(action('Pending'), COMMENT)
    assert changed is True and current['status'] == 'Cancelled'
    assert requests_made(session) == [('POST', CANCEL_PATH), ('GET', GET_PATH)]


def test_cancel_400_after_action_turned_final_is_ok_not_changed(tmp_path, clock):
    mas, session = actions(tmp_path, clock, [make_response(400, FINAL_STATE), make_response(200, action('Succeeded'))])
    current, changed = mas.cancel(action('Pending'), COMMENT)
    assert changed is False
    assert current['status'] == 'Succeeded'
    assert requests_made(session) == [('POST', CANCEL_PATH), ('GET', GET_PATH)]


def test_cancel_400_cancelled_by_someone_else_is_not_changed(tmp_path, clock):
    other = action('Cancelled', cancellationComment='someone else')
    mas, dummy = actions(tmp_path, clock, [make_response(400, FINAL_STATE), make_response(200, other)])
    assert mas.cancel(action('InProgress'), COMMENT) == (other, False)


def test_cancel_retried_after_5xx_that_got_through_is_changed(tmp_path, clock):
    ours = action('Canceled', cancellationComment=COMMENT)
    mas, session = actions(tmp_path, clock, [make_response(503, error_body('ServiceUnavailable', 'busy')),
                                             make_response(400, FINAL_STATE), make_response(200, ours)])
    assert mas.cancel(action('Pending'), COMMENT) == (ours, True)
    assert requests_made(session) == [('POST', CANCEL_PATH), ('POST', CANCEL_PATH), ('GET', GET_PATH)]


def test_cancel_400_while_still_pending_fails(tmp_path, clock):
    refused = error_body('InvalidRequest', 'Comment is too long', 'corr-9')
    mas, session = actions(tmp_path, clock, [make_response(400, refused), make_response(200, action('Pending'))])
    with pytest.raises(MdeError) as info:
        mas.cancel(action('Pending'), COMMENT)
    err = info.value
    assert err.status == 400 and err.error_code == 'InvalidRequest' and err.correlation_id == 'corr-9'
    assert 'Comment is too long' in err.msg
    assert requests_made(session) == [('POST', CANCEL_PATH), ('GET', GET_PATH)]


@pytest.mark.parametrize('status', [404, 403])
def test_cancel_404_or_403_fails_without_lookup(tmp_path, clock, status):
    mas, session = actions(tmp_path, clock, [make_response(status, error_body('ResourceNotFound' if status == 404 else 'DisallowedOperation', 'no'))])
    with pytest.raises(MdeError) as info:
        mas.cancel(action('Pending'), COMMENT)
    assert info.value.status == status
    assert requests_made(session) == [('POST', CANCEL_PATH)]


def test_find_returns_none_for_404_and_raises_otherwise(tmp_path, clock):
    mas, dummy = actions(tmp_path, clock, [make_response(404, error_body('ResourceNotFound', 'not found')),
                                           make_response(400, error_body('BadRequest', 'bad id'))])
    assert mas.find(ACTION_ID) is None
    with pytest.raises(MdeError) as info:
        mas.find(ACTION_ID)
    assert info.value.status == 400


def test_get_404_names_the_id_option(tmp_path, clock):
    mas, dummy = actions(tmp_path, clock, [make_response(404, error_body('ResourceNotFound', 'not found'))])
    with pytest.raises(MdeError) as info:
        mas.get(ACTION_ID)
    assert 'check id' in info.value.msg


def test_list_sends_filter(tmp_path, clock):
    mas, session = actions(tmp_path, clock, [make_response(200, {'value': [action('Pending')]})])
    assert mas.list("status eq 'Pending'") == [action('Pending')]
    assert session.calls[0][1] == API_URL + "/api/machineactions?$filter=status%20eq%20'Pending'&$top=10000"


# wait ----------------------------------------------------------------------------------------

def test_wait_polls_until_final(tmp_path, clock):
    mas, session = actions(tmp_path, clock, [make_response(200, action('InProgress')), make_response(200, action('Cancelled'))])
    final = mas.wait(action('Pending'), timeout=300, interval=10)
    assert final['status'] == 'Cancelled'
    assert clock.sleeps == [10, 10]
    assert requests_made(session) == [('GET', GET_PATH)] * 2


def test_wait_on_final_action_sends_nothing(tmp_path, clock):
    mas, session = actions(tmp_path, clock, [])
    assert mas.wait(action('Failed'), timeout=300, interval=10)['status'] == 'Failed'
    assert session.calls == [] and clock.sleeps == []


def test_wait_times_out_with_the_action_in_the_details(tmp_path, clock):
    start = clock()
    mas, session = actions(tmp_path, clock, [make_response(200, action('Pending'))] * 10)
    with pytest.raises(MdeError) as info:
        mas.wait(action('Pending'), timeout=25, interval=10)
    err = info.value
    assert err.kind == 'timeout'
    assert 'wait_timeout=25' in err.msg and ACTION_ID in err.msg and 'Pending' in err.msg
    details = err.result()['machine_action']
    assert details['id'] == ACTION_ID and details['status'] == 'Pending' and details['machine_id'] == MACHINE_ID
    assert not any(key.startswith('@odata') for key in details)
    assert clock.sleeps == [10, 10, 5]  # never sleeps past the deadline
    assert clock() == start + 25
    # three polls, then (the action still Pending) one look-up of its machine for the message
    assert len(session.calls) == 4 and session.calls[-1][1].endswith('/api/machines/%s' % MACHINE_ID)
