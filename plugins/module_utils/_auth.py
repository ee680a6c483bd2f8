# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Auth methods: one class per way of getting an access token, and the registry that picks one.

Each method (``AccessTokenMethod``, ``CertificateMethod``, ``ClientSecretMethod``) says when its
options are present, checks them in ``validate()`` before any request, gives the ``identity``
(tenant, client) that keys the token cache and the rate budget, and gets and refreshes the token
(``get``, ``refresh``). ``choose_auth_method`` is the one place that picks the credentials: the
first method of ``AUTH_METHODS`` whose options are present. Another method (managed identity,
workload identity) is one more class in that list.

Tokens fetched from Entra ID are reused from the owner-only cache (``_token_cache``) while fresh;
only a miss imports msal and talks to the login host; cryptography is imported only to read a
certificate.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib
import json
import re
import time
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error, join_sentences
from ansible_collections.defender.endpoint.plugins.module_utils._clouds import MICROSOFT_LOGIN_HOSTS
from ansible_collections.defender.endpoint.plugins.module_utils._http import transport_error
from ansible_collections.defender.endpoint.plugins.module_utils._retry import CALL_POLICIES, parse_retry_after, retry_loop
from ansible_collections.defender.endpoint.plugins.module_utils._token_cache import TokenCache, cache_key

CREDENTIAL_HINT = ('Check tenant_id, client_id and client_secret or client_certificate_path '
                   '(or MDE_TENANT_ID, MDE_CLIENT_ID, MDE_CLIENT_SECRET, MDE_CLIENT_CERTIFICATE_PATH).')

ENTRA_HINTS = {
    'AADSTS7000215': 'The client secret is wrong or expired: set client_secret (MDE_CLIENT_SECRET) to the secret\'s value, '
                     'not its ID.',
    'AADSTS7000222': 'The client secret has expired: create a new one in the app registration.',
    'AADSTS700027': 'Entra ID did not accept the certificate assertion: upload this certificate to the app registration '
                    '(Certificates & secrets) or check client_certificate_path.',
    'AADSTS700016': 'client_id is not an application in this tenant: check client_id and tenant_id.',
    'AADSTS90002': 'tenant_id was not found: check tenant_id, and cloud or authority_host.',
    'AADSTS900023': 'tenant_id is not a valid tenant: use the directory (tenant) ID or a verified domain.',
    'AADSTS500011': 'The token scope is not known in this tenant: check cloud or scope.',
    'AADSTS1002012': 'The token scope is malformed: it must end in /.default (check scope).',
    'AADSTS70011': 'The token scope is invalid: check cloud or scope.',
}


def _pem_blocks(data, label_regex):
    return re.findall(br'-----BEGIN (?:' + label_regex + br')-----.+?-----END (?:' + label_regex + br')-----', data, re.S)


def load_certificate(path, password):
    """Read a PEM (certificate + private key) or PKCS#12 file for msal.

    Returns (msal client_credential dict, fingerprint). Fails before any request with a
    message naming client_certificate_path / client_certificate_password.
    """
    try:
        from cryptography import x509  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives.serialization import pkcs12  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise config_error(missing_required_lib('cryptography', reason='for client_certificate_path'))
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise config_error(join_sentences('client_certificate_path %s cannot be read: %s' % (path, exc.strerror or exc),
                                          'Point it at a PEM or PKCS#12 (PFX) file readable by the user running the module.'))
    pw_bytes = password.encode('utf-8') if password else None
    if b'-----BEGIN' in data:
        key_blocks = _pem_blocks(data, br'[A-Z ]*PRIVATE KEY')
        cert_blocks = _pem_blocks(data, br'CERTIFICATE')
        if not key_blocks or not cert_blocks:
            raise config_error('client_certificate_path %s must hold both the certificate and its private key in PEM '
                               '(found %d certificate(s) and %d private key(s)).' % (path, len(cert_blocks), len(key_blocks)))
        encrypted = b'ENCRYPTED' in key_blocks[0]
        if encrypted and not pw_bytes:
            raise config_error('The private key in client_certificate_path %s is encrypted: set client_certificate_password '
                               '(MDE_CLIENT_CERTIFICATE_PASSWORD).' % path)
        try:
            key = serialization.load_pem_private_key(key_blocks[0], password=pw_bytes if encrypted else None)
        except (ValueError, TypeError):
            raise config_error('client_certificate_password does not decrypt the private key in client_certificate_path %s '
                               '(or the key is malformed).' % path)
        try:
            cert = x509.load_pem_x509_certificate(cert_blocks[0])
        except ValueError:
            raise config_error('The certificate in client_certificate_path %s is malformed.' % path)
    else:
        try:
            key, cert, dummy = pkcs12.load_key_and_certificates(data, pw_bytes)
        except (ValueError, TypeError):
            raise config_error('client_certificate_path %s is not a PEM file, and as PKCS#12 (PFX) it cannot be opened: '
                               'check client_certificate_password (MDE_CLIENT_CERTIFICATE_PASSWORD).' % path)
        if key is None or cert is None:
            raise config_error('The PKCS#12 file client_certificate_path %s must hold a certificate and its private key.' % path)
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.PEM, pub) != cert.public_key().public_bytes(serialization.Encoding.PEM, pub):
        raise config_error('The private key in client_certificate_path %s does not belong to its certificate.' % path)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    fingerprint = hashlib.sha256(b'cert:' + cert.public_bytes(serialization.Encoding.DER) + key_pem).hexdigest()
    credential = {'private_key': key_pem.decode('ascii'), 'public_certificate': cert_pem.decode('ascii')}
    return credential, fingerprint


def secret_fingerprint(secret):
    return hashlib.sha256(b'secret:' + secret.encode('utf-8')).hexdigest()


def entra_error(body, status, authority):
    """Turn an Entra ID error answer (or msal's result dict) into an MdeError."""
    code = body.get('error') or 'unknown_error'
    description = body.get('error_description') or ''
    first_line = description.splitlines()[0].strip() if description else code
    aadsts = re.match(r'(AADSTS\d+)', first_line)
    hint = ENTRA_HINTS.get(aadsts.group(1)) if aadsts else None
    msg = join_sentences('Entra ID (%s) rejected the credentials: %s' % (authority, first_line), hint or CREDENTIAL_HINT)
    if hint:
        msg = join_sentences(msg, CREDENTIAL_HINT)
    return MdeError(msg, kind='auth', status=status, error_code=code, error_message=first_line,
                    correlation_id=body.get('correlation_id'))


def token_identity(token):
    """(tenant, app) from a JWT's claims, without verifying it: only to key the rate budget of a given token."""
    try:
        payload = token.split('.')[1]
        payload += '=' * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload.encode('ascii')).decode('utf-8'))
        return claims.get('tid'), claims.get('appid') or claims.get('azp')
    except (IndexError, ValueError, TypeError, AttributeError):
        return None, None


class LoginTransport:
    """msal's ``http_client``: the shared session (same TLS settings and timeouts as the API calls),
    keeping the login host's last answer, whose status and Retry-After decide a retry."""

    def __init__(self, session, clock):
        self.session = session
        self.clock = clock
        self.last_response = None

    def get(self, url, **kwargs):
        self.last_response = self.session.get(url, **kwargs)
        return self.last_response

    def post(self, url, **kwargs):
        self.last_response = self.session.post(url, **kwargs)
        return self.last_response

    def close(self):
        """The session belongs to the module's client, which keeps using it."""

    def status(self):
        return getattr(self.last_response, 'status_code', None)

    def retry_after(self):
        if self.last_response is None:
            return None
        return parse_retry_after(self.last_response.headers.get('Retry-After'), self.clock())


class AuthMethod:
    """One way of getting an access token (the community.hashi_vault auth method shape).

    ``name``: its ``auth_method`` value. ``present(params)``: whether its options are set (the
    first present method of ``AUTH_METHODS`` is used). ``validate()``: check the options before
    any request (raises MdeError kind ``config``). ``bind(session, sleep, ...)``: the transport for
    its login calls. ``identity``: (tenant, client). ``get(waits)`` / ``refresh(rejected, waits)``:
    the token; ``waits`` is the bound of the API call that needs it (``_retry.CallWaits``).
    ``logs_in``: whether it talks to the login host (the client keeps a discovery cache then).
    """

    name = None
    logs_in = True
    can_refresh = True

    def __init__(self, settings, params):
        self.settings = settings
        self.params = params

    @classmethod
    def present(cls, params):
        raise NotImplementedError

    def validate(self):
        raise NotImplementedError

    def bind(self, session, sleep, cache=None, secret_sink=None, clock=time.time):  # pylint: disable=unused-argument
        return self

    @property
    def identity(self):
        return self.settings.tenant_id, self.settings.client_id

    def get(self, waits=None):
        raise NotImplementedError

    def refresh(self, rejected, waits=None):
        raise NotImplementedError


class AccessTokenMethod(AuthMethod):
    """``access_token`` given by the user: no login host involved."""

    name = 'access_token'
    logs_in = False
    can_refresh = False

    def __init__(self, settings, params):
        super(AccessTokenMethod, self).__init__(settings, params)
        self.access_token = None

    @classmethod
    def present(cls, params):
        return bool(params.get('access_token'))

    def validate(self):
        token = self.params['access_token']
        if token.lower().startswith('bearer '):
            token = token[7:].strip()
        if not token or token != token.strip():
            raise config_error('access_token (MDE_ACCESS_TOKEN) holds no usable token: give the token itself (a JWT, with '
                               'or without "Bearer "), or unset it to use client_secret or client_certificate_path.')
        self.access_token = token
        return self

    @property
    def identity(self):
        tenant, client = self.settings.tenant_id, self.settings.client_id
        if not (tenant and client):
            tenant, client = token_identity(self.access_token)
        return tenant, client

    def get(self, waits=None):  # pylint: disable=unused-argument
        return self.access_token

    def refresh(self, rejected, waits=None):  # pylint: disable=unused-argument
        raise MdeError('The API refused access_token (HTTP 401): it has expired or was not issued for this API. '
                       'Get a new token, or use client_secret or client_certificate_path so the collection fetches its own.',
                       kind='auth', status=401)


class EntraClientCredentials(AuthMethod):
    """The client-credentials flow of Entra ID through msal, with the shared token cache. Subclasses
    set ``option`` (the option that holds the credential: present when it is set) and read
    ``credential`` and ``fingerprint`` in ``load_credential()``."""

    option = None

    def __init__(self, settings, params):
        super(EntraClientCredentials, self).__init__(settings, params)
        self.credential = self.fingerprint = None
        self.login = self.sleep = self.secret_sink = self.authority = self.cache = self.key = None
        self.fetched = 0

    def validate(self):
        missing = []
        if not self.settings.tenant_id:
            missing.append('tenant_id (MDE_TENANT_ID or AZURE_TENANT_ID)')
        if not self.settings.client_id:
            missing.append('client_id (MDE_CLIENT_ID or AZURE_CLIENT_ID)')
        if missing:
            raise config_error('Missing %s: needed with %s.' % (' and '.join(missing), self.option))
        self.credential, self.fingerprint = self.load_credential()
        return self

    @classmethod
    def present(cls, params):
        return bool(params.get(cls.option))

    def load_credential(self):
        raise NotImplementedError

    def bind(self, session, sleep, cache=None, secret_sink=None, clock=time.time):
        settings = self.settings
        self.login = LoginTransport(session, clock)
        self.sleep = sleep
        self.secret_sink = secret_sink
        self.authority = '%s/%s' % (settings.authority_host, settings.tenant_id)
        self.cache = cache or TokenCache(lock_timeout=max(120.0, settings.timeout * (settings.max_retries + 2)))
        tenant, client = self.identity
        self.key = cache_key(self.authority, tenant, client, settings.scope, self.fingerprint)
        self.fetched = 0
        return self

    def get(self, waits=None):
        return self._token(None, waits)

    def refresh(self, rejected, waits=None):
        return self._token(rejected, waits)

    def _token(self, rejected, waits=None):
        """``waits``: the bound of the API call that needs the token (``_retry.CallWaits``): the
        waits of the token request count towards it."""
        token = self.cache.get(self.key) if rejected is None else None  # a fresh cached token needs no lock
        if token is None:
            with self.cache.locked(self.key):
                if rejected is not None:
                    self.cache.invalidate(self.key, rejected)
                token = self.cache.get(self.key)
                if token is None:
                    token, expires_in = self._fetch() if waits is None else self._fetch(waits)
                    self.cache.put(self.key, token, expires_in)
        if self.secret_sink is not None:
            self.secret_sink(token)
        return token

    def _fetch(self, waits=None):
        try:
            import msal  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise MdeError(missing_required_lib('msal', reason='to fetch tokens with client_secret or client_certificate_path'),
                           kind='config', details={'exception': traceback.format_exc()})
        settings = self.settings
        host = settings.authority_host.split('://', 1)[-1].split('/', 1)[0].split(':', 1)[0].lower()
        known = host in MICROSOFT_LOGIN_HOSTS
        policy = CALL_POLICIES['login']

        def attempt(dummy_retry):
            self.login.last_response = None
            try:
                app = msal.ConfidentialClientApplication(
                    settings.client_id, client_credential=self.credential, authority=self.authority,
                    http_client=self.login, instance_discovery=None if known else False,
                    validate_authority=known, timeout=settings.timeout)
                result = app.acquire_token_for_client(scopes=[settings.scope])
            except Exception as exc:  # pylint: disable=broad-except
                # msal raises for transport failures and for a login host that does not answer
                # like Entra ID; anything else surfaces with its type, never with the secret.
                raise self._classify_exception(exc)
            self.fetched += 1
            if result and result.get('access_token'):
                return result['access_token'], result.get('expires_in', 3599)
            status = self.login.status()
            err = entra_error(result or {}, status, self.authority)
            if status is None:
                raise err
            raise policy.failure(err, status=status, delay=self.login.retry_after())

        return retry_loop(attempt, settings.max_retries, settings.max_wait, self.sleep, waits=waits)

    def _classify_exception(self, exc):
        policy = CALL_POLICIES['login']
        err = transport_error(exc, 'Entra ID', self.settings, policy)
        if err is not None:
            return err
        response = self.login.last_response
        status = self.login.status()
        body = {}
        if response is not None:
            try:
                body = response.json()
            except ValueError:
                body = {}
        if isinstance(body, dict) and body.get('error'):
            err = entra_error(body, status, self.authority)
        else:
            err = MdeError('The login host %s did not answer like Entra ID (HTTP %s, %s: %s). Check authority_host, cloud and tenant_id.'
                           % (self.settings.authority_host, status, type(exc).__name__, exc), kind='auth', status=status)
        if status is None:
            return err
        return policy.failure(err, status=status, delay=self.login.retry_after())


class CertificateMethod(EntraClientCredentials):
    """``client_certificate_path`` (and ``client_certificate_password``): a PEM or PKCS#12 file."""

    name = 'certificate'
    option = 'client_certificate_path'

    def load_credential(self):
        return load_certificate(self.params['client_certificate_path'], self.params.get('client_certificate_password'))


class ClientSecretMethod(EntraClientCredentials):
    """``client_secret``."""

    name = 'client_secret'
    option = 'client_secret'

    def load_credential(self):
        secret = self.params['client_secret']
        return secret, secret_fingerprint(secret)


# The registry, in the order of the documented credential choice (a given access token, then a client
# certificate, then a client secret): the first present one is used.
AUTH_METHODS = [AccessTokenMethod, CertificateMethod, ClientSecretMethod]

NO_CREDENTIALS = ('No credentials: set access_token (MDE_ACCESS_TOKEN), or tenant_id (MDE_TENANT_ID or AZURE_TENANT_ID), '
                  'client_id (MDE_CLIENT_ID or AZURE_CLIENT_ID) and one of client_secret (MDE_CLIENT_SECRET or AZURE_CLIENT_SECRET) '
                  'or client_certificate_path (MDE_CLIENT_CERTIFICATE_PATH or AZURE_CLIENT_CERTIFICATE_PATH).')


def choose_auth_method(settings, params, methods=None):
    """The one place that picks the credentials: the first method whose options are present,
    validated (before any request). ``settings``: the validated ``_connection.Settings``."""
    for method in methods or AUTH_METHODS:
        if method.present(params):
            return method(settings, params).validate()
    raise config_error(join_sentences(NO_CREDENTIALS, _found_and_missing(settings)))


def _found_and_missing(settings):
    """What a run without usable credentials has (from options or environment) and what it still needs."""
    found = [name for name in ('tenant_id', 'client_id') if getattr(settings, name, None)]
    missing = [name for name in ('tenant_id', 'client_id') if name not in found] + ['client_secret or client_certificate_path']
    return 'Found: %s; missing: %s (or access_token alone).' % (', '.join(found) or 'none of them', ', '.join(missing))
