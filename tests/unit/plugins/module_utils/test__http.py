# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import os

from http import client as http_client

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _auth
from ansible_collections.defender.endpoint.plugins.module_utils import _http
from ansible_collections.defender.endpoint.plugins.module_utils import _ratelimit
from ansible_collections.defender.endpoint.plugins.module_utils import _transport
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import (
    API_URL, FakeSession, FakeTokens, broken, connect_timeout, error_body, make_response, make_settings, read_timeout, refused,
    secret_method, tls_failure,
)
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_loopback import Loopback, answer, read_request, self_signed
from ansible_collections.defender.endpoint.plugins.module_utils._token_cache import TokenCache

ACTION = {'id': 'a1', 'status': 'Pending'}


def new_client(tmp_path, clock, script=(), tokens=None, **overrides):
    session = FakeSession(script)
    client = _http.MdeClient(make_settings(**overrides), session, tokens or FakeTokens(), sleep=clock.sleep,
                             budget_folder=str(tmp_path), clock=clock)
    return client, session


def budget_state(tmp_path, api, tenant='tenant-a', client='client-a'):
    path = os.path.join(str(tmp_path), _ratelimit.budget_key(API_URL, tenant, client, api) + '.json')
    with open(path) as handle:
        return json.load(handle)


# Plain calls ---------------------------------------------------------------------------------

def test_get_sends_token_and_query(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(200, ACTION)])
    status, body = client.request('GET', '/api/machineactions/a1', 'get_action', params={'$filter': "id eq 'a1'"})
    assert (status, body) == (200, ACTION)
    method, url, kwargs = session.calls[0]
    assert method == 'GET'
    assert url == API_URL + "/api/machineactions/a1?$filter=id%20eq%20'a1'"
    assert kwargs['headers']['Authorization'] == 'Bearer token-1'
    assert kwargs['headers']['Accept'] == 'application/json'
    assert 'data' not in kwargs
    assert len(session.calls) == 1
    assert len(budget_state(tmp_path, 'get_action')['calls']) == 1


def test_post_sends_json_body(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(201, ACTION)])
    assert client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'INC-1', 'IsolationType': 'Full'}) == (201, ACTION)
    dummy, dummy2, kwargs = session.calls[0]
    assert json.loads(kwargs['data']) == {'Comment': 'INC-1', 'IsolationType': 'Full'}
    assert kwargs['headers']['Content-Type'] == 'application/json'


def test_empty_success_body_is_none(tmp_path, clock):
    client, dummy = new_client(tmp_path, clock, [make_response(204)])
    assert client.request('POST', '/api/x', 'cancel_action') == (204, None)


def test_success_with_html_body_is_a_clear_error(tmp_path, clock):
    client, dummy = new_client(tmp_path, clock, [make_response(200, text='<html><body><h1>Sign in</h1></body></html>')])
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action')
    assert info.value.status == 200
    assert 'not JSON' in info.value.msg and 'Sign in' in info.value.msg and 'api_url' in info.value.msg


# Errors --------------------------------------------------------------------------------------

def test_error_envelope_maps_to_fields(tmp_path, clock):
    body = error_body('InvalidRequestBody', 'Request body is incorrect', 'b7c2-corr')
    client, session = new_client(tmp_path, clock, [make_response(400, body)])
    with pytest.raises(MdeError) as info:
        client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'})
    err = info.value
    assert (err.kind, err.status, err.error_code, err.error_message, err.correlation_id) == \
        ('api', 400, 'InvalidRequestBody', 'Request body is incorrect', 'b7c2-corr')
    assert 'POST /api/machines/m1/isolate' in err.msg and 'HTTP 400' in err.msg
    assert 'Request body is incorrect' in err.msg and 'b7c2-corr' in err.msg
    assert err.maybe_sent is False
    assert len(session.calls) == 1
    result = err.result()
    assert result['error_code'] == 'InvalidRequestBody' and result['correlation_id'] == 'b7c2-corr'


MISSING_ROLES = 'Missing application roles. API required roles: Machine.Isolate, application roles: Machine.Read.All.'


def forbidden(code='Forbidden', message=MISSING_ROLES):
    return make_response(403, error_body(code, message))


def test_403_missing_role_gets_a_fresh_token_and_fails_saying_so(tmp_path, clock):
    tokens = FakeTokens()
    client, session = new_client(tmp_path, clock, [forbidden(), forbidden()], tokens=tokens)
    with pytest.raises(MdeError) as info:
        client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'})
    err = info.value
    assert err.status == 403 and err.error_code == 'Forbidden' and err.maybe_sent is False
    assert 'Machine.Isolate' in err.msg
    assert 'admin consent' in err.msg and 'WindowsDefenderATP' in err.msg
    assert 'fresh token' in err.msg and 'did not carry the role' in err.msg and 'about an hour' in err.msg
    assert tokens.rejected == ['token-1']
    assert session.tokens_sent() == ['Bearer token-1', 'Bearer token-2']
    assert [json.loads(kw['data']) for dummy, dummy2, kw in session.calls] == [{'Comment': 'x'}] * 2
    assert clock.sleeps == []


def test_403_missing_role_granted_since_the_token_succeeds_with_the_fresh_one(tmp_path, clock):
    tokens = FakeTokens()
    client, session = new_client(tmp_path, clock, [forbidden(), make_response(201, ACTION)], tokens=tokens)
    assert client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'}) == (201, ACTION)
    assert session.tokens_sent() == ['Bearer token-1', 'Bearer token-2']
    assert len(budget_state(tmp_path, 'isolate')['calls']) == 2  # the resend spends from the budget like any call


def test_403_fresh_token_is_tried_once_per_call_across_retries(tmp_path, clock):
    """A 503 retried between two 403s: still one fresh token for the call, then the 403 fails."""
    tokens = FakeTokens()
    client, session = new_client(tmp_path, clock, [forbidden(), make_response(503, error_body('ServiceUnavailable', 'busy')), forbidden()],
                                 tokens=tokens)
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action')
    assert info.value.status == 403 and 'did not carry the role' in info.value.msg
    assert tokens.rejected == ['token-1'] and len(session.calls) == 3


@pytest.mark.parametrize('code,message', [('DisabledFeature', 'Live response is not enabled for this tenant.'),
                                          ('DisallowedOperation', 'The machine is not supported.')])
def test_403_other_than_a_missing_role_is_not_resent(tmp_path, clock, code, message):
    tokens = FakeTokens()
    client, session = new_client(tmp_path, clock, [forbidden(code, message)], tokens=tokens)
    with pytest.raises(MdeError) as info:
        client.request('POST', '/api/machines/m1/runliveresponse', 'run_live_response', body={'Commands': []})
    assert info.value.status == 403 and info.value.error_code == code
    assert 'fresh token' not in info.value.msg
    assert tokens.rejected == [] and len(session.calls) == 1


def test_403_html_from_a_proxy_is_not_resent(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(403, text='<html><body>Forbidden by proxy</body></html>')])
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action')
    assert info.value.status == 403 and len(session.calls) == 1


def test_403_with_a_given_access_token_says_it_cannot_be_renewed(tmp_path, clock):
    tokens = FakeTokens(can_refresh=False)
    client, session = new_client(tmp_path, clock, [forbidden()], tokens=tokens)
    with pytest.raises(MdeError) as info:
        client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'})
    assert info.value.status == 403 and len(session.calls) == 1
    assert 'access_token is a ready token the collection cannot renew' in info.value.msg and 'about an hour' in info.value.msg
    assert 'fetched a fresh token' not in info.value.msg


def test_403_fresh_token_replaces_the_cached_one(tmp_path, clock):
    """With the real client-secret method: the refused token leaves the cache and the fresh one takes its place."""
    cache = TokenCache(folder=str(tmp_path), clock=clock)
    method = secret_method(cache=cache, clock=clock)
    issued = iter(['old-token', 'new-token'])
    fetches = []
    method._fetch = lambda waits=None: fetches.append(waits) or (next(issued), 3599)  # Entra ID's answers (msal is tested in test__auth)
    assert method.get() == 'old-token' and cache.get(method.key) == 'old-token'
    client, session = new_client(tmp_path, clock, [forbidden(), make_response(201, ACTION)], tokens=method)
    assert client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'}) == (201, ACTION)
    assert session.tokens_sent() == ['Bearer old-token', 'Bearer new-token']
    assert len(fetches) == 2
    assert cache.get(method.key) == 'new-token'


def test_error_message_sentences_are_joined_cleanly(tmp_path, clock):
    """An API message ending in a full stop must not give "..", nor ". ." in what the user reads."""
    message = 'The application does not have the required roles.'
    client, dummy = new_client(tmp_path, clock, [make_response(403, error_body('Forbidden', message))] * 2)
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action')
    assert '..' not in info.value.msg
    assert '. .' not in info.value.msg


def test_html_error_body_gives_clear_message(tmp_path, clock):
    html = '<html><head><style>h1{color:red}</style></head><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>'
    client, dummy = new_client(tmp_path, clock, [make_response(404, text=html, headers={'Content-Type': 'text/html'})])
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action')
    err = info.value
    assert err.status == 404 and err.error_code is None
    assert 'text/html' in err.msg and '502 Bad Gateway nginx' in err.msg
    assert '<h1>' not in err.msg and 'color:red' not in err.msg
    assert 'api_url' in err.msg


def test_not_found_hint(tmp_path, clock):
    client, dummy = new_client(tmp_path, clock, [make_response(404, error_body('ResourceNotFound', 'Action not found'))])
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action', not_found_hint='check id')
    assert info.value.status == 404 and 'check id' in info.value.msg


# 401 -----------------------------------------------------------------------------------------

def test_401_refreshes_once_and_resends(tmp_path, clock):
    tokens = FakeTokens()
    client, session = new_client(tmp_path, clock, [make_response(401, error_body('Unauthorized', 'expired')), make_response(200, ACTION)],
                                 tokens=tokens)
    assert client.get('/api/machineactions/a1', 'get_action') == ACTION
    assert tokens.rejected == ['token-1']
    assert session.tokens_sent() == ['Bearer token-1', 'Bearer token-2']
    assert clock.sleeps == []


def test_second_401_fails(tmp_path, clock):
    tokens = FakeTokens()
    answer = make_response(401, error_body('Unauthorized', 'invalid audience'))
    client, session = new_client(tmp_path, clock, [answer, make_response(401, error_body('Unauthorized', 'invalid audience'))],
                                 tokens=tokens)
    with pytest.raises(MdeError) as info:
        client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'})
    err = info.value
    assert err.status == 401 and err.error_code == 'Unauthorized'
    assert 'scope=' in err.msg and 'admin consent' in err.msg
    assert tokens.rejected == ['token-1']
    assert len(session.calls) == 2


def test_401_with_given_access_token_fails_without_resend(tmp_path, clock):
    tokens = FakeTokens(can_refresh=False)
    client, session = new_client(tmp_path, clock, [make_response(401, error_body('Unauthorized', 'expired'))], tokens=tokens)
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action')
    assert info.value.status == 401 and info.value.kind == 'auth'
    assert len(session.calls) == 1


# 429 -----------------------------------------------------------------------------------------

def test_429_waits_retry_after_retries_and_pauses_the_budget(tmp_path, clock):
    start = clock()
    throttled = make_response(429, error_body('TooManyRequests', 'Rate limit is exceeded.'), headers={'Retry-After': '7'})
    client, session = new_client(tmp_path, clock, [throttled, make_response(200, ACTION)])
    assert client.get('/api/machineactions/a1', 'get_action') == ACTION
    assert clock.sleeps == [7.0]
    assert len(session.calls) == 2
    state = budget_state(tmp_path, 'get_action')
    assert state['paused_until'] == start + 7
    assert state['calls'] == [start, start + 7]


def test_429_pause_holds_other_processes(tmp_path, clock):
    start = clock()
    throttled = make_response(429, error_body('TooManyRequests', 'slow down'), headers={'Retry-After': '20'})
    client, dummy = new_client(tmp_path, clock, [throttled], max_retries=0)
    with pytest.raises(MdeError):
        client.get('/api/machineactions/a1', 'get_action')
    # max_retries=0: no wait happened here, but the next caller of the same budget must wait
    other, dummy = new_client(tmp_path, clock, [make_response(200, ACTION)])
    assert other.get('/api/machineactions/a1', 'get_action') == ACTION
    assert clock() >= start + 20


def test_429_beyond_max_wait_still_pauses_other_processes(tmp_path, clock):
    """The process that gives up must still tell the others: they would only collect more 429s."""
    start = clock()
    throttled = make_response(429, error_body('TooManyRequests', 'slow down'), headers={'Retry-After': '90'})
    client, dummy = new_client(tmp_path, clock, [throttled], max_wait=60.0)
    with pytest.raises(MdeError):
        client.get('/api/machineactions/a1', 'get_action')
    assert budget_state(tmp_path, 'get_action')['paused_until'] == start + 90


def test_429_for_post_is_retried(tmp_path, clock):
    throttled = make_response(429, error_body('TooManyRequests', 'slow down'), headers={'Retry-After': '3'})
    client, session = new_client(tmp_path, clock, [throttled, make_response(201, ACTION)])
    assert client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'}) == (201, ACTION)
    assert clock.sleeps == [3.0]
    assert [m for m, dummy, dummy2 in session.calls] == ['POST', 'POST']


def test_429_asking_longer_than_max_wait_fails_naming_it(tmp_path, clock):
    throttled = make_response(429, error_body('TooManyRequests', 'slow down'), headers={'Retry-After': '600'})
    client, session = new_client(tmp_path, clock, [throttled], max_wait=60.0)
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action')
    assert info.value.status == 429 and 'max_wait=60' in info.value.msg
    assert clock.sleeps == []
    assert len(session.calls) == 1


def test_429_without_retry_after_backs_off_within_max_wait(tmp_path, clock):
    throttled = make_response(429, error_body('TooManyRequests', 'slow down'))
    client, session = new_client(tmp_path, clock, [throttled, make_response(200, ACTION)], max_wait=5.0)
    assert client.get('/api/machineactions/a1', 'get_action') == ACTION
    assert len(clock.sleeps) == 1 and 0 < clock.sleeps[0] <= 5.0


# 5xx and broken connections ------------------------------------------------------------------

def test_5xx_retried_for_get(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(503, error_body('ServiceUnavailable', 'busy')),
                                                   make_response(502, text='bad gateway'), make_response(200, ACTION)])
    assert client.get('/api/machineactions/a1', 'get_action') == ACTION
    assert len(session.calls) == 3
    assert len(clock.sleeps) == 2 and all(0 < s <= 60.0 for s in clock.sleeps)


def test_5xx_for_get_gives_up_after_max_retries(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(500, error_body('InternalError', 'oops'))] * 4, max_retries=3)
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action')
    assert info.value.status == 500 and 'max_retries=3' in info.value.msg and '4 attempt(s)' in info.value.msg
    assert len(session.calls) == 4


def test_5xx_not_retried_for_post(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(500, error_body('InternalError', 'oops'))])
    with pytest.raises(MdeError) as info:
        client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'})
    err = info.value
    assert err.status == 500 and err.maybe_sent is True
    assert len(session.calls) == 1
    assert clock.sleeps == []


def test_5xx_retried_for_post_marked_retry_safe(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(503, error_body('ServiceUnavailable', 'busy')), make_response(200, ACTION)])
    assert client.request('POST', '/api/machineactions/a1/cancel', 'cancel_action', body={'Comment': 'x'}, call='idempotent_write') == (200, ACTION)
    assert len(session.calls) == 2


@pytest.mark.parametrize('method', ['GET', 'POST'])
def test_connection_refused_is_retried_for_any_method(tmp_path, clock, method):
    client, session = new_client(tmp_path, clock, [refused(), make_response(200, ACTION)])
    assert client.request(method, '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'}) == (200, ACTION)
    assert len(session.calls) == 2
    assert len(clock.sleeps) == 1


def test_connect_timeout_is_retried_for_post(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [connect_timeout(), make_response(201, ACTION)])
    assert client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'}) == (201, ACTION)
    assert len(session.calls) == 2


def test_connection_refused_every_time_names_the_host(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [refused() for dummy in range(3)], max_retries=2)
    with pytest.raises(MdeError) as info:
        client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'})
    err = info.value
    assert err.kind == 'transport' and err.maybe_sent is False
    assert API_URL in err.msg and 'connection refused' in err.msg and 'max_retries=2' in err.msg
    assert 'object at 0x' not in err.msg
    assert len(session.calls) == 3


def test_read_timeout_on_post_is_not_retried(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [read_timeout()], timeout=12.0)
    with pytest.raises(MdeError) as info:
        client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'})
    err = info.value
    assert err.kind == 'transport' and err.maybe_sent is True
    assert 'timeout=12' in err.msg
    assert len(session.calls) == 1
    assert clock.sleeps == []


def test_broken_connection_on_post_is_not_retried(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [broken()])
    with pytest.raises(MdeError) as info:
        client.request('POST', '/api/machines/m1/isolate', 'isolate', body={'Comment': 'x'})
    assert info.value.maybe_sent is True and info.value.kind == 'transport'
    assert API_URL in info.value.msg and 'broke before an answer arrived: connection reset by the peer' in info.value.msg
    assert len(session.calls) == 1


def test_read_timeout_on_get_is_retried(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [read_timeout(), make_response(200, ACTION)])
    assert client.get('/api/machineactions/a1', 'get_action') == ACTION
    assert len(session.calls) == 2


def test_tls_failure_names_ca_path_and_is_not_retried(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [tls_failure()])
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action')
    assert 'ca_path' in info.value.msg and 'MDE_CA_PATH' in info.value.msg
    assert 'certificate verify failed: self-signed certificate' in info.value.msg and API_URL in info.value.msg
    assert len(session.calls) == 1


def test_unrelated_exception_propagates(tmp_path, clock):
    client, dummy = new_client(tmp_path, clock, [KeyError('bug')])
    with pytest.raises(KeyError):
        client.get('/api/machineactions/a1', 'get_action')


# Rate budget through the client --------------------------------------------------------------

def test_client_spends_from_the_budget(tmp_path, clock):
    start = clock()
    client, session = new_client(tmp_path, clock, [make_response(200, ACTION)] * 2, rate_limit_per_minute=1, max_wait=120.0)
    client.get('/api/machineactions/a1', 'get_action')
    client.get('/api/machineactions/a1', 'get_action')
    assert clock() >= start + 60
    assert len(session.calls) == 2


def test_budget_exhausted_beyond_max_wait_sends_nothing(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(200, ACTION)] * 2, rate_limit_per_minute=1, max_wait=10.0)
    client.get('/api/machineactions/a1', 'get_action')
    with pytest.raises(MdeError) as info:
        client.get('/api/machineactions/a1', 'get_action')
    assert info.value.kind == 'timeout' and 'max_wait=10' in info.value.msg
    assert len(session.calls) == 1


def test_budget_of_a_given_token_is_keyed_by_its_tenant_and_app(tmp_path, clock):
    claims = base64.urlsafe_b64encode(json.dumps({'tid': 'tid-9', 'appid': 'app-9'}).encode('utf-8')).decode('ascii').rstrip('=')
    token = 'eyJhbGciOiJub25lIn0.%s.sig' % claims
    tokens = _auth.AccessTokenMethod(make_settings(tenant_id=None, client_id=None), {'access_token': token}).validate()
    client, dummy = new_client(tmp_path, clock, [make_response(200, ACTION)], tokens=tokens, tenant_id=None, client_id=None)
    client.get('/api/machineactions/a1', 'get_action')
    assert len(budget_state(tmp_path, 'get_action', 'tid-9', 'app-9')['calls']) == 1


def test_documented_lower_limit_applies_per_api(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(200, {'value': 'https://blob'})] * 3, max_wait=1000.0)
    for dummy in range(3):
        client.get('/api/machineactions/a1/GetPackageUri', 'get_package_uri')
    assert clock.sleeps and sum(clock.sleeps) >= 60  # 2 calls a minute
    assert client.budgets['get_package_uri'].per_minute == 2


# Paging --------------------------------------------------------------------------------------

def test_paging_follows_next_link(tmp_path, clock):
    next_link = API_URL + '/api/machineactions?$skiptoken=abc'
    client, session = new_client(tmp_path, clock, [make_response(200, {'value': [1, 2], '@odata.nextLink': next_link}),
                                                   make_response(200, {'value': [3]})])
    assert client.list_all('/api/machineactions', 'list_actions', {'$filter': "status eq 'Pending'"}) == [1, 2, 3]
    first, second = session.calls[0][1], session.calls[1][1]
    assert first == API_URL + "/api/machineactions?$filter=status%20eq%20'Pending'&$top=10000"
    assert second == next_link


def test_paging_steps_skip_while_pages_are_full(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(_http, 'PAGE_SIZE', 2)
    client, session = new_client(tmp_path, clock, [make_response(200, {'value': ['a', 'b']}), make_response(200, {'value': ['c', 'd']}),
                                                   make_response(200, {'value': ['e']})])
    assert client.list_all('/api/machineactions', 'list_actions', {'$filter': "type eq 'Isolate'"}) == ['a', 'b', 'c', 'd', 'e']
    urls = [url for dummy, url, dummy2 in session.calls]
    assert urls == [
        API_URL + "/api/machineactions?$filter=type%20eq%20'Isolate'&$top=2",
        API_URL + "/api/machineactions?$filter=type%20eq%20'Isolate'&$top=2&$skip=2",
        API_URL + "/api/machineactions?$filter=type%20eq%20'Isolate'&$top=2&$skip=4",
    ]


def test_paging_full_last_page_ends_with_empty_page(tmp_path, clock, monkeypatch):
    monkeypatch.setattr(_http, 'PAGE_SIZE', 2)
    client, session = new_client(tmp_path, clock, [make_response(200, {'value': ['a', 'b']}), make_response(200, {'value': []})])
    assert client.list_all('/api/machineactions', 'list_actions') == ['a', 'b']
    assert len(session.calls) == 2


def test_paging_refuses_next_link_to_another_host(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(200, {'value': [1], '@odata.nextLink': 'https://evil.example/api/x?page=2'})])
    with pytest.raises(MdeError) as info:
        client.list_all('/api/machineactions', 'list_actions')
    assert 'https://evil.example' in info.value.msg
    assert len(session.calls) == 1  # the token never went there


def test_paging_refuses_plain_http_next_link(tmp_path, clock):
    client, session = new_client(tmp_path, clock, [make_response(200, {'value': [1], '@odata.nextLink': 'http://api.mde.test/api/x?page=2'})])
    with pytest.raises(MdeError):
        client.list_all('/api/machineactions', 'list_actions')
    assert len(session.calls) == 1


def test_paging_stops_on_repeated_next_link(tmp_path, clock):
    link = API_URL + '/api/machineactions?$skiptoken=same'
    client, session = new_client(tmp_path, clock, [make_response(200, {'value': [1], '@odata.nextLink': link})] * 3)
    with pytest.raises(MdeError) as info:
        client.list_all('/api/machineactions', 'list_actions')
    assert 'twice' in info.value.msg
    assert len(session.calls) == 2


# encode_query --------------------------------------------------------------------------------

def test_encode_query_keeps_dollar_names_and_quotes_spaces():
    query = _http.encode_query({'$filter': "machineId eq 'abc' and creationDateTimeUtc ge 2025-05-01T08:00:00Z", '$top': 100, '$skip': None})
    assert query == "$filter=machineId%20eq%20'abc'%20and%20creationDateTimeUtc%20ge%202025-05-01T08:00:00Z&$top=100"


def test_encode_query_quotes_reserved_characters_in_values():
    query = _http.encode_query({'$filter': "requestor eq 'a&b=c+d#e'"})
    assert query == "$filter=requestor%20eq%20'a%26b%3Dc%2Bd%23e'"


# MdeSession ----------------------------------------------------------------------------------

def throttling(conn, server):
    """A loopback handler: record each request, answer 429 with Retry-After: 12."""
    while True:
        request = read_request(conn)
        if request is None:
            return
        server.requests.append(request)
        answer(conn, 429, json.dumps(error_body('TooManyRequests', 'x')).encode('utf-8'),
               headers={'Content-Type': 'application/json', 'Retry-After': '12'}, reason='Too Many Requests')


@pytest.fixture
def tls_cert(tmp_path):
    folder = tmp_path / 'tls'
    folder.mkdir()
    return self_signed(folder)


@pytest.fixture
def socket_timeouts(monkeypatch):
    """The timeout of the socket as each answer is awaited (what the transport applied to the request)."""
    seen = []

    class Recording(_transport._HTTPSConnection):  # pylint: disable=protected-access
        def getresponse(self):  # pylint: disable=arguments-differ
            seen.append(self.sock.gettimeout())
            return super(Recording, self).getresponse()

    monkeypatch.setattr(_transport, '_HTTPSConnection', Recording)
    return seen


def test_session_applies_verify_timeout_and_user_agent(monkeypatch, tls_cert, socket_timeouts):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', '/nonexistent/bundle.pem')  # ca_path wins over it
    with Loopback(throttling, cert=tls_cert) as server:
        session = _http.MdeSession(tls_cert[0], 17.0, environ={})
        response = session.request('GET', server.url('/api/x'))
        assert response.status_code == 429 and response.headers['Retry-After'] == '12'
        assert response.json()['error']['code'] == 'TooManyRequests'
        request = server.requests[0]
        assert (request.method, request.target) == ('GET', '/api/x')
        assert request.headers['user-agent'].startswith('defender.endpoint/')
        assert socket_timeouts == [17.0]
        session.request('GET', server.url('/api/x'), timeout=3)
        assert socket_timeouts == [17.0, 3]
        session.close()


def test_session_without_verification(tls_cert):
    """validate_certs=false: a self-signed certificate is accepted, and a per-call verify=True changes nothing."""
    with Loopback(throttling, cert=tls_cert) as server:
        session = _http.MdeSession(False, 5.0, environ={})
        assert session.request('POST', server.url('/api/x'), verify=True).status_code == 429
        assert server.requests[0].method == 'POST'
        session.close()


# Downloads from pre-signed links ----------------------------------------------------------------

LINK = 'https://storage.mde.test/packages/abc.zip?sig=s3cr3t'


class _Raw:
    """The parts of an ``http.client.HTTPResponse`` that ``_transport.Response`` streams from: ``read`` hands
    out ``parts``, then raises ``error`` (if any) or ends (a clean close)."""

    length = None
    will_close = True
    reason = 'OK'

    def __init__(self, parts, error=None):
        self.parts, self.error, self.closed = list(parts), error, False

    def read(self, amt=None):  # pylint: disable=unused-argument
        if self.parts:
            return self.parts.pop(0)
        if self.error is not None:
            raise self.error
        return b''

    def close(self):
        self.closed = True


def body_response(parts, length=None, error=None, status=200, headers=None):
    """A streamed answer (stream=True), as the transport returns it: the body is read by iter_content."""
    all_headers = dict(headers or {})
    if length is not None:
        all_headers['Content-Length'] = str(length)
    return _transport.Response(status, all_headers, LINK, raw=_Raw(parts, error))


def test_download_writes_atomically_without_token(tmp_path, clock):
    dest = str(tmp_path / 'out' / 'package.zip')
    os.mkdir(str(tmp_path / 'out'))
    client, session = new_client(tmp_path, clock, [body_response([b'PK\x03', b'\x04rest'], length=8)])
    digest, size = client.download(LINK, dest)
    assert size == 8 and open(dest, 'rb').read() == b'PK\x03\x04rest'
    assert digest == __import__('hashlib').sha256(b'PK\x03\x04rest').hexdigest()
    assert oct(os.stat(dest).st_mode & 0o777) == '0o600'
    method, url, kwargs = session.calls[0]
    assert (method, url) == ('GET', LINK)
    assert 'Authorization' not in (kwargs.get('headers') or {})
    assert 'auth' not in kwargs
    assert os.listdir(str(tmp_path / 'out')) == ['package.zip']


def test_download_sends_no_authorization_whatever_netrc_says(tmp_path, clock, monkeypatch, tls_cert):
    """Through the real session: nothing adds an Authorization header for the storage host, not even a netrc entry."""
    netrc = tmp_path / '.netrc'
    netrc.write_text('machine 127.0.0.1 login someone password netrc-secret\n')
    netrc.chmod(0o600)
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.setenv('NETRC', str(netrc))

    def package(conn, server):
        server.requests.append(read_request(conn))
        answer(conn, 200, b'PK\x03\x04rest', headers={'Content-Type': 'application/zip'})

    dest = str(tmp_path / 'package.zip')
    with Loopback(package, cert=tls_cert) as server:
        session = _http.MdeSession(tls_cert[0], 5.0, environ={})
        client = _http.MdeClient(make_settings(), session, FakeTokens(), sleep=clock.sleep, budget_folder=str(tmp_path), clock=clock)
        assert client.download(server.url('/packages/abc.zip?sig=s3cr3t'), dest)[1] == 8
        session.close()
    with open(dest, 'rb') as handle:
        assert handle.read() == b'PK\x03\x04rest'
    request = server.requests[0]
    assert request.target == '/packages/abc.zip?sig=s3cr3t'
    assert 'authorization' not in request.headers


@pytest.mark.parametrize('length, error', [
    (8, None),  # closed cleanly after 3 of 8 bytes
    (8, http_client.IncompleteRead(b'PK\x03', 5)),
    (None, ConnectionResetError(104, 'Connection reset by peer')),
], ids=['short', 'incomplete-read', 'reset'])
def test_download_cut_short_is_retried_from_the_start(tmp_path, clock, length, error):
    dest = str(tmp_path / 'out' / 'package.zip')
    os.mkdir(str(tmp_path / 'out'))
    client, session = new_client(tmp_path, clock, [body_response([b'PK\x03'], length, error), body_response([b'PK\x03\x04rest'], length=8)])
    assert client.download(LINK, dest)[1] == 8
    assert len(session.calls) == 2 and len(clock.sleeps) == 1
    assert os.listdir(str(tmp_path / 'out')) == ['package.zip']


def test_download_that_always_breaks_leaves_no_file(tmp_path, clock):
    dest = str(tmp_path / 'out' / 'package.zip')
    os.mkdir(str(tmp_path / 'out'))
    client, session = new_client(tmp_path, clock, [body_response([b'PK'], length=8) for dummy in range(3)], max_retries=2)
    with pytest.raises(MdeError) as info:
        client.download(LINK, dest)
    assert 'cut short: 2 of 8 bytes' in info.value.msg and 'max_retries=2' in info.value.msg
    assert 's3cr3t' not in info.value.msg
    assert len(session.calls) == 3 and os.listdir(str(tmp_path / 'out')) == []


@pytest.mark.parametrize('status,retried', [(503, True), (500, True), (429, True), (403, False), (404, False)])
def test_download_status(tmp_path, clock, status, retried):
    dest = str(tmp_path / 'package.zip')
    error = make_response(status, text='<?xml version="1.0"?><Error><Code>AuthenticationFailed</Code></Error>', url=LINK,
                          headers={'Retry-After': '2'} if status == 429 else None)
    client, session = new_client(tmp_path, clock, [error, body_response([b'data'], length=4)])
    if retried:
        assert client.download(LINK, dest)[1] == 4
        assert clock.sleeps == ([2.0] if status == 429 else clock.sleeps) and len(clock.sleeps) == 1
    else:
        with pytest.raises(MdeError) as info:
            client.download(LINK, dest)
        assert info.value.status == status and 'HTTP %d' % status in info.value.msg and 'AuthenticationFailed' in info.value.msg
        assert len(session.calls) == 1 and not os.path.exists(dest)


def test_budget_records_each_call_at_its_answer(tmp_path, clock):
    def slow_answer(method, url, kwargs):
        clock.advance(2.5)  # the request reaches the service and is answered 2.5 s after the budget let it go
        return make_response(200, ACTION)
    client, dummy = new_client(tmp_path, clock, [slow_answer])
    client.get('/api/machineactions/a1', 'get_action')
    assert budget_state(tmp_path, 'get_action')['calls'] == [clock()]


def test_budget_records_a_broken_call_at_its_failure(tmp_path, clock):
    def times_out(method, url, kwargs):
        clock.advance(4)
        return read_timeout()
    client, dummy = new_client(tmp_path, clock, [times_out])
    with pytest.raises(MdeError):
        client.request('POST', '/api/machineactions/a1/cancel', 'cancel_action', body={'Comment': 'x'})
    assert budget_state(tmp_path, 'cancel_action')['calls'] == [clock()]
