# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""mde_machine_info by ip_address / seen_at (issue 11): the options are checked before any request, and the
service calls findbyip once, as documented (no $top on an OData function), following only @odata.nextLink."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import calendar
import time

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _machine
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    API_URL, FakeSession, FakeTokens, error_body, make_response, make_settings,
)

NOW = calendar.timegm((2026, 12, 2, 12, 0, 0, 0, 0, 0))
FIND = API_URL + "/api/machines/findbyip(ip='10.1.2.3',timestamp=2026-12-01T10:00:00Z)"


def machines(tmp_path, clock, script):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)
    return _machine.Machines(client), session


@pytest.mark.parametrize('given,normal', [('10.1.2.3', '10.1.2.3'), (' 10.1.2.3 ', '10.1.2.3'),
                                          ('FE80:0:0:0:8D2C:41A7:3B9E:17F0', 'fe80::8d2c:41a7:3b9e:17f0'), ('::1', '::1')])
def test_ip_address_is_normalised(given, normal):
    assert _machine.check_ip_address(given) == normal


@pytest.mark.parametrize('bad', ['10.1.2', '10.1.2.300', '10.1.2.3/24', '10.1.2.3:443', 'web-prod-01', "10.1.2.3',timestamp=x", ''])
def test_bad_ip_address_names_the_option(bad):
    with pytest.raises(MdeError) as info:
        _machine.check_ip_address(bad)
    assert info.value.kind == 'config' and 'ip_address must be an IPv4 or IPv6 address' in info.value.msg


def test_seen_at_defaults_to_now_and_must_be_within_30_days():
    assert _machine.check_seen_at(None, NOW) == '2026-12-02T12:00:00Z'
    assert _machine.check_seen_at('2026-11-03T12:00:00Z', NOW) == '2026-11-03T12:00:00Z'  # 29 days back
    with pytest.raises(MdeError) as info:
        _machine.check_seen_at('2026-11-01T12:00:00Z', NOW)
    assert info.value.kind == 'config' and 'seen_at must be within the last 30 days' in info.value.msg and '31.0 days ago' in info.value.msg
    assert _machine.check_seen_at('2026-12-02T12:04:00Z', NOW) == '2026-12-02T12:04:00Z'  # clock skew
    with pytest.raises(MdeError) as info:
        _machine.check_seen_at('2026-12-03T12:00:00Z', NOW)
    assert 'seen_at is in the future' in info.value.msg


def test_by_ip_calls_findbyip_without_top_and_sorts_newest_first(tmp_path, clock):
    found = [{'id': 'a' * 40, 'lastSeen': '2026-11-30T10:00:00Z'}, {'id': 'b' * 40, 'lastSeen': '2026-12-01T09:00:00Z'}]
    mach, session = machines(tmp_path, clock, [make_response(200, {'@odata.context': 'x', 'value': found})])
    assert [m['id'] for m in mach.search(ip_address='10.1.2.3', seen_at='2026-12-01T10:00:00Z')] == ['b' * 40, 'a' * 40]
    assert [(m, u) for m, u, dummy in session.calls] == [('GET', FIND)]


def test_by_ip_follows_next_link_and_reads_404_as_none(tmp_path, clock):
    page2 = API_URL + '/api/machines/findbyip-page2'
    mach, session = machines(tmp_path, clock, [
        make_response(200, {'value': [{'id': 'a' * 40}], '@odata.nextLink': page2}), make_response(200, {'value': [{'id': 'b' * 40}]}),
        make_response(404, error_body('ResourceNotFound', 'No machines found'))])
    assert len(mach.by_ip('10.1.2.3', '2026-12-01T10:00:00Z')) == 2
    assert [u for dummy, u, dummy2 in session.calls] == [FIND, page2]
    assert mach.by_ip('10.1.2.3', '2026-12-01T10:00:00Z') == []


def test_by_ip_400_from_the_api_fails_with_its_message(tmp_path, clock):
    mach, dummy = machines(tmp_path, clock, [make_response(400, error_body('InvalidInput', 'The timestamp must be within the last 30 days'))])
    with pytest.raises(MdeError) as info:
        mach.by_ip('10.1.2.3', '2026-12-01T10:00:00Z')
    assert info.value.status == 400 and 'within the last 30 days' in info.value.msg


def test_seen_at_uses_the_documented_time_forms():
    now = time.time()
    stamp = time.strftime('%Y-%m-%dT%H:%M:%S+01:00', time.gmtime(now))  # an hour ago in UTC
    assert _machine.check_seen_at(_parse(stamp), now) == time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now - 3600))


def _parse(value):
    from ansible_collections.defender.endpoint.plugins.module_utils._machine_action import parse_timestamp  # pylint: disable=import-outside-toplevel
    return parse_timestamp(value, 'seen_at')
