# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One bound on every wait of one API call: each wait at most max_wait, all of them together at most
(max_retries + 1) * max_wait (rate budget, Retry-After, backoff, token request, link 404 polls).

Other processes are simulated deterministically: the fake clock's sleep hands the freed slot of the
shared budget to "another process" before this one looks again."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _auth
from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _downloads
from ansible_collections.defender.endpoint.plugins.module_utils import _ratelimit
from ansible_collections.defender.endpoint.plugins.module_utils import _retry
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    API_URL, FakeSession, FakeTokens, error_body, make_response, make_settings, read_timeout,
)


def new_client(tmp_path, clock, script=(), tokens=None, **overrides):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(**overrides), session, tokens or FakeTokens(), sleep=clock.sleep,
                             budget_folder=str(tmp_path), clock=clock)
    return client, session


def slot_thief(client, clock, api, times):
    """After each of the first ``times`` sleeps, another process takes the slot that just freed up."""
    mine = client._budget(api)
    other = _ratelimit.RateBudget(mine.key, api, mine.per_minute, mine.per_hour, 1000.0, folder=mine.folder, clock=clock,
                                  sleep=clock.sleep)
    stolen = []
    real_sleep = clock.sleep

    def sleep(seconds):
        real_sleep(seconds)
        if len(stolen) < times:
            other.acquire()
            stolen.append(clock())

    client.sleep = sleep
    mine.sleep = sleep
    return stolen


def fill_minute(client, clock, api):
    client._budget(api).acquire()  # the one call the minute allows (rate_limit_per_minute=1)


def test_slots_taken_by_other_processes_end_at_the_call_bound_not_after_303_s(tmp_path, clock):
    # max_wait=61, the freed slot taken by others 4 times: this call waited 303 s before the fix
    client, session = new_client(tmp_path, clock, [make_response(200, {'value': []})], max_wait=61.0, max_retries=2,
                                 rate_limit_per_minute=1)
    fill_minute(client, clock, 'list_actions')
    slot_thief(client, clock, 'list_actions', times=4)
    start = clock()
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions', 'list_actions')
    err = info.value
    assert err.kind == 'timeout'
    assert '(max_retries + 1) x max_wait = 183 s' in err.msg and 'max_retries=2' in err.msg and 'max_wait=61' in err.msg
    assert 'other processes keep taking the freed slots' in err.msg
    assert clock() - start <= 3 * 61.0
    assert all(s <= 61.0 for s in clock.sleeps)
    assert session.calls == []  # nothing sent: no slot was had


def test_a_slot_freed_within_the_bound_is_taken(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(200, {'value': []})], max_wait=61.0, max_retries=2,
                                 rate_limit_per_minute=1)
    fill_minute(client, clock, 'list_actions')
    stolen = slot_thief(client, clock, 'list_actions', times=1)
    start = clock()
    assert client.get('/api/machineactions', 'list_actions') == {'value': []}
    assert len(stolen) == 1 and len(session.calls) == 1
    assert clock() - start <= 3 * 61.0


def test_budget_waits_and_retry_after_share_the_call_bound(tmp_path, clock):
    # attempt 1 waits twice for the budget (another process took the first freed slot), then gets a 429 asking 10 s
    throttled = make_response(429, error_body('TooManyRequests', 'slow down'), headers={'Retry-After': '10'})
    client, session = new_client(tmp_path, clock, [throttled, make_response(200, {'value': []})], max_wait=61.0, max_retries=1,
                                 rate_limit_per_minute=1)
    fill_minute(client, clock, 'list_actions')
    slot_thief(client, clock, 'list_actions', times=1)
    start = clock()
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions', 'list_actions')
    assert 'waiting 10 s more' in info.value.msg and '(max_retries + 1) x max_wait = 122 s' in info.value.msg
    assert clock() - start <= 2 * 61.0
    assert len(session.calls) == 1


def test_retry_loop_counts_the_waits_already_spent_by_the_call(clock):
    waits = _retry.CallWaits(10.0, 2, clock.sleep)
    waits.sleep(25.0)  # e.g. the rate budget of the first attempt

    def attempt(dummy_retry):
        raise _retry.RetryableError(MdeError('busy', kind='api', status=503), delay=8.0)

    with pytest.raises(MdeError) as info:
        _retry.retry_loop(attempt, 2, 10.0, clock.sleep, waits=waits)
    assert 'waiting 8 s more' in info.value.msg and '(max_retries + 1) x max_wait = 30 s' in info.value.msg
    assert clock.sleeps == [25.0]


def test_call_waits_holds_each_and_total(clock):
    waits = _retry.CallWaits(60.0, 5, clock.sleep)
    assert waits.limit == 360.0 == _retry.call_wait_limit(60.0, 5)
    assert waits.fits(360.0) and not waits.fits(360.5)
    waits.sleep(200.0)
    assert waits.fits(160.0) and not waits.fits(160.5)
    waits.sleep(0)
    assert clock.sleeps == [200.0]


def test_token_request_waits_count_towards_the_api_call(tmp_path, clock):
    class Tokens(FakeTokens):
        def get(self, waits=None):
            if self.issued == 1:
                waits.sleep(65.0)  # the token request of the first attempt waited twice for Entra ID
                self.issued += 1
            return self.current

    throttled = make_response(429, error_body('TooManyRequests', 'slow down'), headers={'Retry-After': '60'})
    client, session = new_client(tmp_path, clock, [throttled, make_response(200, {'value': []})], tokens=Tokens(), max_wait=60.0,
                                 max_retries=1)
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions', 'list_actions')
    assert '(max_retries + 1) x max_wait = 120 s' in info.value.msg
    assert clock.sleeps == [65.0] and len(session.calls) == 1


def test_entra_auth_method_shares_the_bound_it_is_given(clock):
    provider = _auth.ClientSecretMethod.__new__(_auth.ClientSecretMethod)
    seen = []
    provider._fetch = lambda waits=None: seen.append(waits) or ('tok', 3600)

    class Cache:
        def locked(self, key):
            import contextlib
            return contextlib.nullcontext()

        def invalidate(self, key, token):
            pass

        def get(self, key):
            return None

        def put(self, key, token, expires_in):
            pass

    provider.cache, provider.key, provider.secret_sink = Cache(), 'k', None
    waits = _retry.CallWaits(60.0, 1, clock.sleep)
    assert provider.get(waits) == 'tok' and seen == [waits]


def _link():
    return make_response(200, {'value': 'https://storage.mde.test/p.zip?sig=s'})


def _not_yet():
    return make_response(404, error_body('NotFound', 'package not ready'))


@pytest.fixture
def no_real_sleep(monkeypatch):
    def forbidden(seconds):
        raise AssertionError('time.sleep(%r) called instead of the injected sleep' % seconds)
    monkeypatch.setattr(time, 'sleep', forbidden)


def link_module(tmp_path, clock, script, **overrides):
    client, session = new_client(tmp_path, clock, script, **overrides)
    return _downloads.Downloads(client, client.settings.poll_interval), session


def test_link_404_window_sleeps_through_the_injected_sleep(tmp_path, clock, no_real_sleep):
    module, session = link_module(tmp_path, clock, [_not_yet(), _link()], poll_interval=10.0)
    assert module.link('/api/machineactions/a1/getPackageUri', 'get_package_uri') == 'https://storage.mde.test/p.zip?sig=s'
    assert clock.sleeps == [10.0] and len(session.calls) == 2


def test_link_404_window_stays_under_the_call_bound(tmp_path, clock, no_real_sleep):
    module, session = link_module(tmp_path, clock, [_not_yet(), _not_yet(), _link()], poll_interval=10.0, max_wait=15.0,
                                  max_retries=0)
    with pytest.raises(MdeError) as info:
        module.link('/api/machineactions/a1/getPackageUri', 'get_package_uri')
    assert info.value.status == 404
    assert '(max_retries + 1) x max_wait = 15 s' in info.value.msg and 'poll_interval=10' in info.value.msg
    assert clock.sleeps == [10.0] and len(session.calls) == 2


def test_read_timeout_retries_are_unchanged_within_the_bound(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [read_timeout() for dummy in range(3)] + [make_response(200, {'value': []})],
                                 max_retries=3, max_wait=60.0)
    assert client.get('/api/machineactions', 'list_actions') == {'value': []}
    assert len(session.calls) == 4 and len(clock.sleeps) == 3
    assert session.calls[0][1].startswith(API_URL)
