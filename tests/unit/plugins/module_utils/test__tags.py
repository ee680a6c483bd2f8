# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _tags
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError

MACHINE_ID = '7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a'


class FakeClient:
    """The two calls MachineTags makes: GET of the machine, POST of the tag (answer or a broken connection)."""

    def __init__(self, tags, post_error=None, applied=True):
        self.tags = list(tags)
        self.post_error = post_error
        self.applied = applied
        self.calls = []

    def machine(self):
        return {'id': MACHINE_ID, 'computerDnsName': 'web-prod-01', 'machineTags': list(self.tags)}

    def get(self, path, api, params=None, not_found_hint=None, waits=None):
        self.calls.append(('GET', path, api))
        return self.machine()

    def request(self, method, path, api, body=None, **kwargs):
        self.calls.append((method, path, api, body))
        if self.applied:
            self.tags = [t for t in self.tags if t != body['Value']] + ([body['Value']] if body['Action'] == 'Add' else [])
        if self.post_error:
            raise self.post_error
        return 200, self.machine()


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


def test_lost_answer_is_checked_by_reading_the_machine():
    lost = MdeError('connection broken', kind='transport', maybe_sent=True)
    client = FakeClient(['prod'], post_error=lost)
    updated = _tags.MachineTags(client).change({'id': MACHINE_ID}, 'prod', False)
    assert updated['machineTags'] == [] and client.calls[-1][0] == 'GET'
    client = FakeClient(['prod'], post_error=lost, applied=False)
    with pytest.raises(MdeError) as err:
        _tags.MachineTags(client).change({'id': MACHINE_ID}, 'prod', False)
    assert err.value is lost


def test_an_error_answer_is_not_retried():
    refused = MdeError('HTTP 403', status=403)
    client = FakeClient([], post_error=refused, applied=False)
    with pytest.raises(MdeError):
        _tags.MachineTags(client).change({'id': MACHINE_ID}, 'x', True)
    assert [c[0] for c in client.calls] == ['POST']
