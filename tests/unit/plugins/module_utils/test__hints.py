# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hints of issue 11 item 11: a launch for an unknown machine ID, an ID that YAML read as a number, and
"No credentials" naming what was found and what is missing."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _auth
from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _launch
from ansible_collections.defender.endpoint.plugins.module_utils import _machine_action as ma
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    API_URL, FakeSession, FakeTokens, error_body, make_response, make_settings,
)

MACHINE = '1e5bc9d7e413ddd7902c2932e418702b84d0cc07'
ISOLATE = _launch.LaunchSpec('Isolate', 'isolate', 'isolate', body={'IsolationType': 'Full'},
                             same=lambda a: (a.get('scope') or 'Full') == 'Full')


def test_launch_answered_404_says_no_machine_has_the_id_and_how_to_find_ids(tmp_path, clock):
    session = FakeSession([make_response(200, {'value': []}),
                           make_response(404, error_body('ResourceNotFound', 'Machine not found.'))])
    client = _http.MdeClient(make_settings(max_retries=2), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)
    with pytest.raises(MdeError) as info:
        _launch.Launcher(client, clock=lambda: 1747213200.0).launch(MACHINE, ISOLATE, 'INC-1', False)
    msg = info.value.msg
    assert info.value.status == 404
    assert 'No machine has the ID %s' % MACHINE in msg and 'nothing was launched' in msg
    assert 'defender.endpoint.mde_machine_info by computer_dns_name' in msg
    assert '..' not in msg
    assert [m for m, dummy_url, dummy in session.calls] == ['GET', 'POST']  # not retried


@pytest.mark.parametrize('value', ['0', '1234', '1e+39', '-5'])
def test_machine_id_read_as_a_number_says_to_quote_it(value):
    with pytest.raises(MdeError) as info:
        ma.check_machine_id(value)
    assert info.value.kind == 'config'
    assert 'got "%s"' % value in info.value.msg and 'quote' in info.value.msg and 'machine_id: "..."' in info.value.msg


def test_action_id_read_as_a_number_says_to_quote_it():
    with pytest.raises(MdeError) as info:
        ma.check_action_id('0', option='id')
    assert 'quote the value (id: "...")' in info.value.msg


@pytest.mark.parametrize('value', ['lt-0412', 'abc123', ''])
def test_other_bad_ids_get_no_quoting_hint(value):
    for check in (ma.check_machine_id, ma.check_action_id):
        with pytest.raises(MdeError) as info:
            check(value)
        assert 'quote' not in info.value.msg


@pytest.mark.parametrize('tenant, client, found, missing', [
    (None, None, 'Found: none of them', 'missing: tenant_id, client_id, client_secret, client_certificate_path or federated_token_file'),
    ('tenant-a', None, 'Found: tenant_id;', 'missing: client_id, client_secret, client_certificate_path or federated_token_file'),
    ('tenant-a', 'client-a', 'Found: tenant_id, client_id;', 'missing: client_secret, client_certificate_path or federated_token_file'),
])
def test_no_credentials_names_what_was_found_and_what_is_missing(tenant, client, found, missing):
    with pytest.raises(MdeError) as info:
        _auth.choose_auth_method(make_settings(tenant_id=tenant, client_id=client), {'tenant_id': tenant, 'client_id': client})
    msg = info.value.msg
    assert info.value.kind == 'config'
    assert msg.startswith('No credentials')
    assert found in msg and missing in msg
    assert '..' not in msg
    assert API_URL  # the fakes' API root, imported with the others
