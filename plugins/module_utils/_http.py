# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""The one HTTP path of the collection: every API call goes through ``MdeClient.request``.

It spends from the shared rate budget, adds the bearer token (refreshing it once on a 401, and once
on a 403 that says the token lacks a role: a permission granted since the token was issued then works),
retries throttled, failed and broken calls through ``_retry.retry_loop`` as the kind of call's
entry of ``_retry.CALL_POLICIES`` says (a launch is never sent twice blindly), follows
``@odata.nextLink`` paging and turns the API's error envelope into an MdeError.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import re
import time

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, join_sentences  # noqa: F401 (re-exported)
from ansible_collections.defender.endpoint.plugins.module_utils._retry import CALL_POLICIES, CallWaits, backoff_delay, parse_retry_after, retry_loop
from ansible_collections.defender.endpoint.plugins.module_utils import _files
from ansible_collections.defender.endpoint.plugins.module_utils import _ratelimit

from ansible_collections.defender.endpoint.plugins.module_utils import _transport

try:
    from urllib.parse import quote, urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported
    from urllib import quote  # type: ignore
    from urlparse import urlsplit  # type: ignore

COLLECTION_VERSION = '1.0.0'  # galaxy.yml's version (a unit test, test_meta.py, holds them equal)
USER_AGENT = 'defender.endpoint/%s (Ansible collection)' % COLLECTION_VERSION
PAGE_SIZE = 10000  # the documented maximum $top
MAX_PAGES = 1000


DISCOVERY_SUFFIX = '/v2.0/.well-known/openid-configuration'
DISCOVERY_TTL = 24 * 3600.0  # as msal's own http cache keeps it


class MdeSession(_transport.Transport):
    """The collection's HTTP client (``_transport.Transport``) with the TLS settings and timeout of the
    connection options. msal gets it (through ``_auth.LoginTransport``) as its ``http_client``, so login
    and API calls share the same TLS settings, proxies and connections.

    With ``discovery_folder``, the tenant's OpenID configuration (msal's discovery GET before
    each token request) is kept on disk for a day, keyed by URL and TLS settings, so a token
    refresh costs one request to the login host instead of two.
    """

    def __init__(self, verify, timeout, discovery_folder=None, clock=time.time, environ=None):
        super(MdeSession, self).__init__(verify, timeout, USER_AGENT, environ=environ)
        self._discovery_folder = discovery_folder
        self._clock = clock

    def request(self, method, url, **kwargs):  # pylint: disable=arguments-differ
        cache_path = self._discovery_path(method, url, kwargs)
        if cache_path is not None:
            cached = self._cached_discovery(cache_path, url)
            if cached is not None:
                return cached
        response = super(MdeSession, self).request(method, url, **kwargs)
        if cache_path is not None and response.status_code == 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and body.get('token_endpoint'):
                _files.write_json_atomic(cache_path, {'fetched_at': self._clock(), 'body': body})
        return response

    def _discovery_path(self, method, url, kwargs):
        if self._discovery_folder is None or method.upper() != 'GET' or not url.endswith(DISCOVERY_SUFFIX) or kwargs.get('params'):
            return None
        raw = json.dumps([url, self.verify if isinstance(self.verify, (bool, str)) else True])
        return os.path.join(self._discovery_folder, hashlib.sha256(raw.encode('utf-8')).hexdigest() + '.json')

    def _cached_discovery(self, path, url):
        entry = _files.read_json(path)
        if not isinstance(entry, dict) or not isinstance(entry.get('body'), dict):
            return None
        age = self._clock() - entry.get('fetched_at', 0)
        if not 0 <= age < DISCOVERY_TTL:
            return None
        return _transport.Response(200, {'Content-Type': 'application/json'}, url, content=json.dumps(entry['body']).encode('utf-8'))


def _peer(url):
    parts = urlsplit(url)
    return '%s://%s' % (parts.scheme, parts.netloc.rpartition('@')[2])


TLS_HINT = ('If it uses a private CA, set ca_path (MDE_CA_PATH) to that CA bundle; validate_certs=false turns verification off '
            'and is not recommended.')


def transport_error(exc, peer, settings, policy):
    """Map a ``_transport.TransportError`` to what the attempt raises: an MdeError (final) or, when the kind of
    call's ``policy`` (``_retry.CallPolicy``) tries it again, a RetryableError; None for other exceptions."""
    if not isinstance(exc, _transport.TransportError):
        return None
    if exc.kind == 'config':
        return MdeError(exc.reason, kind='config')
    if exc.kind == 'tls':
        return MdeError('TLS verification of %s failed (%s). %s' % (peer, exc.reason, TLS_HINT), kind='transport')
    if exc.kind == 'not_sent':
        return policy.failure(MdeError(join_sentences('Could not connect to %s: %s' % (peer, exc.reason),
                                                      'Check the host, the network path (proxy, firewall) and that the service is up.'),
                                       kind='transport'), sent=False)
    if exc.kind == 'timeout':
        err = MdeError('%s sent no answer within timeout=%s s.' % (peer, settings.timeout), kind='transport', maybe_sent=True)
    else:
        err = MdeError(join_sentences('The connection to %s broke before an answer arrived: %s' % (peer, exc.reason)), kind='transport',
                       maybe_sent=True)
    return policy.failure(err)


def encode_query(params):
    """OData query string with literal ``$`` option names and quoted values."""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        parts.append('%s=%s' % (key, quote(str(value), safe="',()/:$@")))
    return '&'.join(parts)


def _snippet(text, limit=200):
    text = re.sub(r'<script.*?</script>|<style.*?</style>', ' ', text or '', flags=re.S | re.I)
    text = re.sub(r'<[^>]+>', ' ', text)
    text = re.sub(r'\s+', ' ', text).strip()
    return text[:limit] + ('...' if len(text) > limit else '')


def api_error(method, path, response, hint=None):
    """The MDE error envelope {"error": {"code", "message", "target"}} as an MdeError."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get('error') if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get('code')
        message = error.get('message')
        target = error.get('target')
        msg = 'MDE API %s %s failed with HTTP %d %s: %s' % (method, path, status, code or '', message or '(no message)')
    else:
        code = message = target = None
        content_type = response.headers.get('Content-Type', 'no content type')
        msg = 'MDE API %s %s failed with HTTP %d and an answer that is not the API\'s JSON (%s): "%s". A proxy or gateway ' \
              'may stand in the way; check api_url and the network path.' % (method, path, status, content_type, _snippet(response.text))
    if status == 403:
        msg = join_sentences(msg, 'The app registration lacks a permission this call needs: add the WindowsDefenderATP application '
                                  'permission named above and grant admin consent (Entra ID > App registrations > API permissions); '
                                  'the token picks it up once it is renewed.')
    if hint:
        msg = join_sentences(msg, hint)
    if target:
        msg += ' (correlation id %s)' % target
    return MdeError(msg, kind='api', status=status, error_code=code, error_message=message,
                    correlation_id=target if isinstance(target, str) else None, maybe_sent=status >= 500)


ROLE_DELAY = ('Roles are written into a token when Entra ID issues it: after a permission is added and admin consent granted, '
              'a new token typically carries it within minutes, and it can take up to about an hour to apply (tokens cached '
              'elsewhere keep the old roles until they expire).')


def missing_role(response):
    """Whether an answer is the API's 403 for a token without the role the call needs (``Forbidden``, "Missing
    application roles"), not a tenant feature that is off (``DisabledFeature``) or an operation refused for
    another reason (``DisallowedOperation``)."""
    if response.status_code != 403:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    error = body.get('error') if isinstance(body, dict) else None
    if not isinstance(error, dict) or error.get('code') in ('DisabledFeature', 'DisallowedOperation'):
        return False
    message = error.get('message')
    return error.get('code') == 'Forbidden' or (isinstance(message, str) and re.search(r'\broles?\b|permission', message, re.I) is not None)


def role_hint(renewed, can_refresh):
    """What a 403 for a missing role adds: a fresh token was tried (``renewed``), or a given token cannot be renewed."""
    if renewed:
        return join_sentences('The collection fetched a fresh token for this call and the API refused it too: the fresh token did '
                              'not carry the role either, so nothing was done', join_sentences(ROLE_DELAY, 'Run the task again later.'))
    if not can_refresh:
        return join_sentences('access_token is a ready token the collection cannot renew: its roles were fixed when it was issued, '
                              'so after granting the permission get a new token (or use client_secret or client_certificate_path, '
                              'and the collection fetches a fresh token itself)', ROLE_DELAY)
    return None


def _body_chunks(response, peer):
    """The body of a download, checked: a failure while it streams (reset, TLS record cut short, read
    timeout) or fewer bytes than Content-Length announced is a broken download, retried from the start
    (write_stream_atomic removes the partial temp file)."""
    expected = None
    if response.headers.get('Content-Encoding', 'identity').lower() == 'identity':
        try:
            expected = int(response.headers.get('Content-Length'))
        except (TypeError, ValueError):
            expected = None
    received = 0
    try:
        for chunk in response.iter_content(chunk_size=65536):
            received += len(chunk)
            yield chunk
    except _transport.TransportError as exc:
        raise CALL_POLICIES['storage'].failure(MdeError('The download from %s broke after %d of %s bytes: %s.' % (
            peer, received, expected if expected is not None else 'unknown', exc.reason), kind='transport'))
    if expected is not None and received != expected:
        raise CALL_POLICIES['storage'].failure(MdeError('The download from %s was cut short: %d of %d bytes arrived.' % (
            peer, received, expected), kind='transport'))


class MdeClient:
    """API calls with the token of ``tokens`` (an ``_auth.AuthMethod``: ``get``, ``refresh``,
    ``can_refresh``, and the ``identity`` that keys the rate budget)."""

    def __init__(self, settings, session, tokens, sleep=time.sleep, budget_folder=None, clock=time.time, warn=None):
        self.settings = settings
        self.session = session
        self.tokens = tokens
        self.sleep = sleep
        self.clock = clock
        self.budget_folder = budget_folder
        self.budgets = {}
        # the rate budget's store beyond this host's files (rate_limit_backend=redis); ``warn`` gets its warnings
        self.budget_store = _ratelimit.new_store(settings, warn)

    def _budget(self, api):
        if api not in self.budgets:
            s = self.settings
            tenant, client = self.tokens.identity
            per_minute, per_hour = _ratelimit.limits_for(api, s.rate_limit_per_minute, s.rate_limit_per_hour)
            self.budgets[api] = _ratelimit.new_budget(
                s, _ratelimit.budget_key(s.api_url, tenant, client, api), api, per_minute, per_hour, store=self.budget_store,
                folder=self.budget_folder, clock=self.clock, sleep=self.sleep)
        return self.budgets[api]

    def _send(self, method, url, api, token, body, waits=None):
        budget = self._budget(api)
        budget.acquire(waits)
        headers = {'Authorization': 'Bearer %s' % token, 'Accept': 'application/json'}
        kwargs = {'headers': headers}
        if body is not None:
            kwargs['data'] = json.dumps(body)
            headers['Content-Type'] = 'application/json'
        try:
            return self.session.request(method, url, **kwargs)
        finally:
            # the budget records the call at the time of its answer, after the service counted it (RateBudget.settle)
            settle = getattr(budget, 'settle', None)
            if settle is not None:
                settle()

    def request(self, method, path, api, body=None, params=None, url=None, call=None, not_found_hint=None, waits=None):
        """Send one API call; returns (status, parsed JSON or None).

        ``call``: the kind of call, a key of ``_retry.CALL_POLICIES`` (default: ``read`` for a GET,
        ``launch`` otherwise), which says what a failed or broken call is sent again for. A 429 is
        always retried (the API refused it unprocessed), and so are connection errors before
        sending; 5xx, timeouts and broken connections after sending as the policy says. Otherwise
        the MdeError carries ``maybe_sent``.

        Every wait of the call (rate budget, ``Retry-After``, backoff, the token request it may
        make) is under one bound, ``CallWaits``: at most max_wait each, (max_retries + 1) * max_wait
        in all. ``waits``: that bound when the caller shares it over several requests.
        """
        policy = CALL_POLICIES[call or ('read' if method == 'GET' else 'launch')]
        if url is None:
            url = self.settings.api_url + path
            if params:
                url += '?' + encode_query(params)
        peer = 'the MDE API at %s' % _peer(url)
        if waits is None:
            waits = self.call_waits()

        renewed = []  # a 403 for a missing role gets one fresh token per call (a 403 means nothing was done)

        def attempt(retry):
            token = self.tokens.get(waits)
            try:
                response = self._send(method, url, api, token, body, waits)
                if response.status_code == 401 and self.tokens.can_refresh:
                    token = self.tokens.refresh(token, waits)
                    response = self._send(method, url, api, token, body, waits)
                if not renewed and self.tokens.can_refresh and missing_role(response):
                    renewed.append(token)
                    token = self.tokens.refresh(token, waits)
                    response = self._send(method, url, api, token, body, waits)
            except Exception as exc:  # pylint: disable=broad-except
                err = transport_error(exc, peer, self.settings, policy)
                if err is None:
                    raise
                raise err
            return self._handle(method, path or urlsplit(url).path, api, response, policy, not_found_hint, retry, bool(renewed))

        return retry_loop(attempt, self.settings.max_retries, self.settings.max_wait, self.sleep, waits=waits)

    def call_waits(self):
        """A fresh bound on the waits of one call (``_retry.CallWaits``), sleeping through the injected ``sleep``."""
        return CallWaits(self.settings.max_wait, self.settings.max_retries, self.sleep)

    def _handle(self, method, path, api, response, policy, not_found_hint, retry=0, renewed=False):
        status = response.status_code
        if 200 <= status < 300:
            if not response.content:
                return status, None
            try:
                return status, response.json()
            except ValueError:
                raise MdeError('MDE API %s %s answered HTTP %d with a body that is not JSON: "%s". A proxy or gateway may stand '
                               'in the way; check api_url.' % (method, path, status, _snippet(response.text)),
                               kind='transport', status=status)
        if status == 401:
            err = api_error(method, path, response)
            if self.tokens.can_refresh:
                err.msg = join_sentences(err.msg, 'The API refused a freshly issued token: the app registration needs WindowsDefenderATP '
                                                  'application permissions with admin consent, and scope must match the API (scope=%s).'
                                         % self.settings.scope)
                err.args = (err.msg,)
                raise err
            self.tokens.refresh(None)
        if status == 429:
            delay = parse_retry_after(response.headers.get('Retry-After'), self.clock())
            if delay is None:  # no (readable) Retry-After: our own backoff, the same for this process and the others
                delay = backoff_delay(retry, cap=self.settings.max_wait)
            # Every process using this budget waits too, whether or not this one retries.
            self._budget(api).pause(delay)
            raise policy.failure(api_error(method, path, response, 'The API is throttling this app'), status=status, delay=delay)
        if missing_role(response):
            hint = role_hint(renewed, self.tokens.can_refresh)
        else:
            hint = not_found_hint if status == 404 else None
        raise policy.failure(api_error(method, path, response, hint), status=status)

    def download(self, url, dest):
        """Fetch a pre-signed download link into ``dest`` atomically; returns (sha256 hex, size).

        The link is on a storage host: no bearer token is sent (it must never reach another
        host), TLS is verified with the same settings, and the file appears only when complete.
        """
        parts = urlsplit(url)
        if parts.scheme != 'https' or not parts.hostname:
            raise MdeError('The API returned a download link that is not https (%s://%s); refusing to fetch it.'
                           % (parts.scheme, parts.hostname), kind='api')
        peer = 'the download host %s' % _peer(url)
        policy = CALL_POLICIES['storage']

        def attempt(dummy_retry):
            try:
                response = self.session.request('GET', url, stream=True)
            except Exception as exc:  # pylint: disable=broad-except
                err = transport_error(exc, peer, self.settings, policy)
                if err is None:
                    raise
                raise err
            try:
                if response.status_code != 200:
                    err = MdeError('%s answered HTTP %d: "%s".' % (peer, response.status_code, _snippet(response.text)),
                                   kind='api', status=response.status_code)
                    raise policy.failure(err, status=response.status_code,
                                         delay=parse_retry_after(response.headers.get('Retry-After'), self.clock()))
                return _files.write_stream_atomic(dest, _body_chunks(response, peer))
            finally:
                response.close()

        return retry_loop(attempt, self.settings.max_retries, self.settings.max_wait, self.sleep)

    def get(self, path, api, params=None, not_found_hint=None, waits=None):
        return self.request('GET', path, api, params=params, not_found_hint=not_found_hint, waits=waits)[1]

    def list_all(self, path, api, params=None, paged=True):
        """Every entity of a list call: follow ``@odata.nextLink``, else step ``$skip`` while pages come back full.
        ``paged`` false: a call that documents no ``$top`` (an OData function such as findbyip): only
        ``@odata.nextLink`` is followed."""
        params = dict(params or {})
        if paged:
            params['$top'] = PAGE_SIZE
        skip = 0
        items = []
        url = None
        seen = set()
        for dummy in range(MAX_PAGES):
            data = self.request('GET', path, api, params=None if url else params, url=url)[1] or {}
            value = (data.get('value') or []) if isinstance(data, dict) else None
            if not isinstance(value, list):
                raise MdeError('MDE API GET %s answered with JSON that is not a list of entities (unexpected shape). A proxy or another '
                               'service may be answering: check api_url (MDE_API_URL) and the network path.' % path, kind='api')
            items.extend(value)
            next_link = data.get('@odata.nextLink')
            if next_link:
                if _peer(next_link).lower() != _peer(self.settings.api_url).lower():
                    raise MdeError('The API returned a next-page link to another host (%s); refusing to send the token there.'
                                   % _peer(next_link), kind='api')
                if next_link in seen:
                    raise MdeError('The API returned the same next-page link twice (%s); stopping to avoid a loop.' % next_link, kind='api')
                seen.add(next_link)
                url = next_link
                continue
            if url is None and paged and len(value) >= params['$top']:
                skip += len(value)
                params['$skip'] = skip
                continue
            return items
        raise MdeError('More than %d pages of results; narrow the filters.' % MAX_PAGES, kind='api')
