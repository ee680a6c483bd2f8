# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error


def test_result_has_only_the_keys_that_are_set():
    err = MdeError('it failed', status=404, error_code='ResourceNotFound')
    assert err.result() == {'msg': 'it failed', 'status': 404, 'error_code': 'ResourceNotFound'}
    assert str(err) == 'it failed'
    assert err.kind == 'api' and err.maybe_sent is False


def test_result_carries_all_fields_and_details():
    err = MdeError('m', kind='timeout', status=400, error_code='c', error_message='em', correlation_id='x', details={'machine_action': {'id': 'a'}})
    assert err.result() == {'msg': 'm', 'status': 400, 'error_code': 'c', 'error_message': 'em', 'correlation_id': 'x',
                            'machine_action': {'id': 'a'}}


def test_config_error():
    err = config_error('bad option')
    assert err.kind == 'config' and err.result() == {'msg': 'bad option'}


def test_join_sentences_puts_one_full_stop_between():
    from ansible_collections.defender.endpoint.plugins.module_utils._errors import join_sentences  # pylint: disable=import-outside-toplevel
    assert join_sentences('The API said no.', 'Do this.') == 'The API said no. Do this.'
    assert join_sentences('The API said no', 'Do this.') == 'The API said no. Do this.'
    assert join_sentences('The API said no. ', 'Do this.') == 'The API said no. Do this.'
    assert join_sentences('Ends in one.') == 'Ends in one.'
    assert join_sentences('Ends in none') == 'Ends in none.'


class _Answer:
    status_code = 400
    headers = {'Content-Type': 'application/json'}
    text = ''

    def json(self):
        return {'error': {'code': 'InvalidRequest', 'message': 'The machine is not onboarded.'}}


def test_no_message_doubles_a_full_stop_of_the_api_or_entra_id():
    """A sentence from the API or Entra ID that ends in a full stop is followed by one, not two (issue 11 item 13)."""
    # pylint: disable=import-outside-toplevel
    from ansible_collections.defender.endpoint.plugins.module_utils import _auth, _http, _retry
    entra = _auth.entra_error({'error': 'invalid_client', 'error_description': 'AADSTS7000215: Invalid client secret provided.'},
                              401, 'https://login/t')
    unknown = _auth.entra_error({'error': 'invalid_request', 'error_description': 'AADSTS123456: Something new.'}, 400, 'https://login/t')
    api = _http.api_error('POST', '/api/machines/x/isolate', _Answer(), hint='Check the machine.')
    forbidden = _Answer()
    forbidden.status_code = 403

    def attempt(_retry_number):
        raise _retry.RetryableError(MdeError('The service is busy.', status=503), 0.0)

    with pytest.raises(MdeError) as info:
        _retry.retry_loop(attempt, max_retries=0, max_wait=10.0, sleep=lambda seconds: None)
    gave_up = info.value
    messages = [entra.msg, unknown.msg, api.msg, _http.api_error('GET', '/api/machines', forbidden).msg, gave_up.msg]
    for msg in messages:
        assert '..' not in msg, msg
    assert 'Invalid client secret provided. ' in entra.msg
    assert 'not onboarded. Check the machine.' in api.msg
    assert 'The service is busy. Gave up after 1 attempt(s)' in gave_up.msg


def test_retry_give_up_adds_a_full_stop_where_the_message_had_none():
    # pylint: disable=import-outside-toplevel
    from ansible_collections.defender.endpoint.plugins.module_utils import _retry

    def attempt(_retry_number):
        raise _retry.RetryableError(MdeError('The service is busy', status=503), 0.0)

    try:
        _retry.retry_loop(attempt, max_retries=0, max_wait=10.0, sleep=lambda seconds: None)
    except MdeError as err:
        assert err.msg.startswith('The service is busy. Gave up after 1 attempt(s)')
    else:
        raise AssertionError('retry_loop did not give up')
