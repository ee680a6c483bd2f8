# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _tags
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.plugins.module_utils._retry import CallWaits

MACHINE_ID = '7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a'


class FakeClient:
    """The two calls MachineTags makes: GET of the machine, POST of the tag (answer or a broken connection).

    ``post_errors``: what each POST raises in turn (None: it answers); ``applied``: whether a POST that raises
    was applied first; ``answer``: what a POST that answers returns instead of the machine; ``get_error``: what a
    GET raises."""

    def __init__(self, tags, post_errors=(), applied=True, answer=None, get_error=None, max_retries=2):
        self.tags = list(tags)
        self.post_errors = list(post_errors)
        self.applied = applied
        self.answer = answer
        self.get_error = get_error
        self.calls = []
        self.slept = []
        self.settings = type('Settings', (), {'max_retries': max_retries, 'max_wait': 2.0})()

    def sleep(self, seconds):
        self.slept.append(seconds)

    def call_waits(self):
        return CallWaits(self.settings.max_wait, self.settings.max_retries, self.sleep)

    def machine(self):
        return {'id': MACHINE_ID, 'computerDnsName': 'web-prod-01', 'machineTags': list(self.tags)}

    def get(self, path, api, params=None, not_found_hint=None, waits=None):
        self.calls.append(('GET', path, api))
        if self.get_error:
            raise self.get_error
        return self.machine()

    def request(self, method, path, api, body=None, **kwargs):
        self.calls.append((method, path, api, body))
        error = self.post_errors.pop(0) if self.post_errors else None
        if error is None or self.applied:
            self.tags = [t for t in self.tags if t != body['Value']] + ([body['Value']] if body['Action'] == 'Add' else [])
        if error is not None:
            raise error
        return 200, self.machine() if self.answer is None else self.answer


def lost():
    return MdeError('connection broken', kind='transport', maybe_sent=True)


@pytest.mark.parametrize('value,expect', [(None, 'must not be empty'), ('  ', 'must not be empty'), ('x' * 201, 'at most 200')])
def test_bad_tags(value, expect):
    with pytest.raises(MdeError) as err:
        _tags.check_tag(value)
    assert expect in err.value.msg and err.value.kind == 'config'


def test_compare_case_sensitively():
    assert _tags.case_variants(['prod', 'Prod', 'PROD'], 'PROD') == ['prod', 'Prod']
    assert _tags.wanted_tags(['prod'], 'PROD', True) == ['prod', 'PROD']
    assert _tags.wanted_tags(['prod'], 'prod', True) == ['prod']
    assert _tags.wanted_tags(['prod', 'web'], 'PROD', False) == ['prod', 'web']
    assert _tags.wanted_tags(['prod', 'web'], 'prod', False) == ['web']


def test_change_sends_the_documented_body():
    client = FakeClient(['prod'])
    updated = _tags.MachineTags(client).change({'id': MACHINE_ID.upper()}, 'INC-4711', True)
    assert updated['machineTags'] == ['prod', 'INC-4711']
    assert client.calls == [('POST', '/api/machines/%s/tags' % MACHINE_ID, 'machine_tags', {'Value': 'INC-4711', 'Action': 'Add'})]


def test_lost_answer_applied_is_read_back_not_sent_again():
    client = FakeClient(['prod'], post_errors=[lost()])
    updated = _tags.MachineTags(client).change({'id': MACHINE_ID}, 'prod', False)
    assert updated['machineTags'] == []
    assert [c[0] for c in client.calls] == ['POST', 'GET'] and client.slept == []


def test_lost_answer_not_applied_is_sent_again_after_reading_back():
    client = FakeClient(['prod'], post_errors=[lost()], applied=False)
    updated = _tags.MachineTags(client).change({'id': MACHINE_ID}, 'INC-1', True)
    assert updated['machineTags'] == ['prod', 'INC-1']
    assert [c[0] for c in client.calls] == ['POST', 'GET', 'POST'] and len(client.slept) == 1


def test_never_applied_gives_up_within_max_retries():
    client = FakeClient(['prod'], post_errors=[MdeError('HTTP 503', status=503, maybe_sent=True) for dummy in range(5)], applied=False)
    with pytest.raises(MdeError) as err:
        _tags.MachineTags(client).change({'id': MACHINE_ID}, 'INC-1', True)
    assert [c[0] for c in client.calls] == ['POST', 'GET'] * 3
    assert 'HTTP 503' in err.value.msg and 'read back, show the change was not applied' in err.value.msg
    assert 'max_retries=2' in err.value.msg and err.value.status == 503 and client.tags == ['prod']


def test_read_back_failing_says_the_outcome_is_unknown():
    client = FakeClient(['prod'], post_errors=[lost()], get_error=MdeError('HTTP 503 on the GET', status=503))
    with pytest.raises(MdeError) as err:
        _tags.MachineTags(client).change({'id': MACHINE_ID}, 'INC-1', True)
    assert 'connection broken' in err.value.msg and 'could not be checked either' in err.value.msg
    assert 'HTTP 503 on the GET' in err.value.msg and [c[0] for c in client.calls] == ['POST', 'GET']


@pytest.mark.parametrize('answer', [{'value': 'nope', 'id': 5}, {'id': 'f' * 40, 'machineTags': []}, None])
def test_an_answer_that_is_not_the_machine(answer):
    client = FakeClient(['prod'], answer=answer)  # applied: the machine read back is the truth
    assert _tags.MachineTags(client).change({'id': MACHINE_ID}, 'INC-1', True)['machineTags'] == ['prod', 'INC-1']
    client = FakeClient(['prod'], post_errors=[None], answer=answer)
    client.request = lambda method, path, api, body=None, **kwargs: (client.calls.append((method,)), (200, answer))[1]
    with pytest.raises(MdeError) as err:
        _tags.MachineTags(client).change({'id': MACHINE_ID}, 'INC-1', True)
    assert 'not the expected machine' in err.value.msg and 'api_url' in err.value.msg


def test_an_error_answer_is_not_retried():
    refused = MdeError('HTTP 403', status=403)
    client = FakeClient([], post_errors=[refused], applied=False)
    with pytest.raises(MdeError):
        _tags.MachineTags(client).change({'id': MACHINE_ID}, 'x', True)
    assert [c[0] for c in client.calls] == ['POST']
