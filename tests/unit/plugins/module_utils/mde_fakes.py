# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fakes for the module_utils unit tests: a clock advanced by its own sleep, a
scripted HTTP session, token providers and a Settings-like namespace."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import types

from ansible_collections.defender.endpoint.plugins.module_utils import _auth
from ansible_collections.defender.endpoint.plugins.module_utils import _transport
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError

API_URL = 'https://api.mde.test'


class FakeClock:
    """A clock that only moves when ``sleep`` is called; ``sleeps`` records every wait."""

    def __init__(self, start=1700000000.0):
        self.now = start
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0, 'negative sleep %r' % seconds
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds):
        self.now += seconds


def make_response(status, body=None, headers=None, text=None, url=API_URL + '/api/x'):
    """A complete ``_transport.Response`` (what the transport hands over) with the given status, JSON body
    (or raw text) and headers."""
    all_headers = {}
    if text is not None:
        content = text.encode('utf-8')
    elif body is not None:
        content = json.dumps(body).encode('utf-8')
        all_headers['Content-Type'] = 'application/json; charset=utf-8'
    else:
        content = b''
    all_headers.update(headers or {})
    return _transport.Response(status, all_headers, url, content=content)


# What the transport raises, worded as _transport words it (TransportError.kind says what is known of the request).

def refused():
    """Connection refused: the request never left."""
    return _transport.TransportError('connection refused', 'not_sent')


def connect_timeout(seconds=30.0):
    """No connection within the connect timeout: the request never left."""
    return _transport.TransportError('the host did not accept a connection within %s s' % seconds, 'not_sent')


def read_timeout():
    """Sent, but no answer within the timeout: it may have been processed."""
    return _transport.TransportError('no answer within the timeout', 'timeout')


def broken(reason='connection reset by the peer'):
    """Sent, then the connection broke (reset, protocol error, body cut short): it may have been processed."""
    return _transport.TransportError(reason, 'broken')


def tls_failure(reason='certificate verify failed: self-signed certificate'):
    """The certificate does not verify (final)."""
    return _transport.TransportError(reason, 'tls')


def error_body(code, message, target='corr-1234'):
    return {'error': {'code': code, 'message': message, 'target': target}}


class FakeSession:
    """Answers ``request`` from a script: each item is a Response or an exception to raise (what the
    transport raises is a ``_transport.TransportError``).

    An item may also be a callable taking (method, url, kwargs) and returning one of those.
    Every call is recorded in ``calls`` as (method, url, kwargs).
    """

    def __init__(self, script=None):
        self.script = list(script or [])
        self.calls = []

    def add(self, *items):
        self.script.extend(items)

    def request(self, method, url, **kwargs):
        self.calls.append((method, url, kwargs))
        assert self.script, 'unexpected request %s %s' % (method, url)
        item = self.script.pop(0)
        if callable(item) and not isinstance(item, _transport.Response):
            item = item(method, url, kwargs)
        if isinstance(item, BaseException):
            raise item
        return item

    def tokens_sent(self):
        return [kw['headers']['Authorization'] for dummy, dummy2, kw in self.calls]


class FakeTokens:
    """An auth method (``_auth.AuthMethod``): ``refresh`` hands out the next token and records the rejected one."""

    def __init__(self, can_refresh=True, identity=('tenant-a', 'client-a')):
        self.can_refresh = can_refresh
        self.identity = identity
        self.current = 'token-1'
        self.issued = 1
        self.rejected = []

    def get(self, waits=None):  # pylint: disable=unused-argument
        return self.current

    def refresh(self, rejected, waits=None):  # pylint: disable=unused-argument
        if not self.can_refresh:
            raise MdeError('access_token refused', kind='auth', status=401)
        self.rejected.append(rejected)
        self.issued += 1
        self.current = 'token-%d' % self.issued
        return self.current


def make_settings(**overrides):
    """The attributes MdeClient and friends read from ``_connection.Settings``."""
    values = dict(
        api_url=API_URL, tenant_id='tenant-a', client_id='client-a', access_token=None, scope=API_URL + '/.default',
        timeout=30.0, max_retries=3, max_wait=60.0, rate_limit_per_minute=100, rate_limit_per_hour=1500,
        time_scale=1.0, poll_interval=10.0, authority_host='https://login.mde.test',
    )
    values.update(overrides)
    return types.SimpleNamespace(**values)


def secret_method(settings=None, secret='very-secret-value', session=None, sleep=None, cache=None, secret_sink=None, clock=None):
    """A validated ``_auth.ClientSecretMethod`` bound to ``session`` (msal's http_client) and ``cache``."""
    method = _auth.ClientSecretMethod(settings or make_settings(), {'client_secret': secret}).validate()
    kwargs = {'clock': clock} if clock is not None else {}
    return method.bind(session, sleep, cache=cache, secret_sink=secret_sink, **kwargs)
