# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Auth methods: one class per way of getting an access token, and the registry that picks one.

Each method (``AccessTokenMethod``, ``CertificateMethod``, ``ClientSecretMethod``,
``WorkloadIdentityMethod``, ``ManagedIdentityMethod``) says when its options are present, checks
them in ``validate()`` before any request, gives the ``identity`` (tenant, client) that keys the
token cache and the rate budget, and gets and refreshes the token (``get``, ``refresh``).
``choose_auth_method`` is the one place that picks the credentials: the method ``auth_method``
names, or with ``auto`` the first method of ``AUTH_METHODS`` whose options are present (managed
identity is never picked by ``auto``: only when asked for).

Tokens fetched from Entra ID or a managed identity endpoint are reused from the owner-only cache
(``_token_cache``) while fresh; only a miss imports msal and talks to the login host or the
endpoint; cryptography is imported only to read a certificate.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import hashlib
import json
import os
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


# Entra ID's answers to a federated credential (workload identity federation): what to check.
FEDERATED_CHECK = ('Compare the federated credential of the app registration (Certificates & secrets > Federated credentials) '
                   'with the token\'s claims: issuer = iss, subject = sub (case-sensitive), audience = aud '
                   '(api://AzureADTokenExchange).')
FEDERATED_HINTS = dict(ENTRA_HINTS, **{
    'AADSTS70021': 'No federated credential of the app matches the federated token\'s issuer, subject and audience.',
    'AADSTS700211': 'No federated credential of the app has the token\'s issuer: register the issuer URL exactly as the platform '
                    'issues it (for example https://token.actions.githubusercontent.com, or the AKS cluster\'s OIDC issuer URL).',
    'AADSTS700212': 'No federated credential of the app has the token\'s audience: request the token for the audience '
                    'api://AzureADTokenExchange, or register the audience the platform uses.',
    'AADSTS700213': 'No federated credential of the app has the token\'s subject: register the subject exactly, for example '
                    'repo:ORG/REPO:environment:NAME (GitHub) or system:serviceaccount:NAMESPACE:NAME (Kubernetes).',
    'AADSTS7002138': 'No federated credential of the app has the token\'s subject (subjects match case-sensitively): register it '
                     'exactly as the platform issues it.',
    'AADSTS700024': 'The federated token has expired or is not valid yet: these tokens live minutes, so the platform must write a '
                    'fresh one to federated_token_file (MDE_FEDERATED_TOKEN_FILE), or fetch federated_token right before the run.',
    'AADSTS700027': 'The federated token\'s signature does not verify against its issuer\'s published keys: check that the token '
                    'is the platform\'s, unaltered, and that the credential\'s issuer is that platform.',
    'AADSTS50027': 'The federated token is not a valid JWT: federated_token_file (or federated_token) must hold the token alone.',
})


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


def entra_error(body, status, authority, hints=None, credential_hint=CREDENTIAL_HINT):
    """Turn an Entra ID error answer (or msal's result dict) into an MdeError. ``hints``: what to
    check per AADSTS code (the method's, ``ENTRA_HINTS`` by default); ``credential_hint``: the options to check."""
    code = body.get('error') or 'unknown_error'
    description = body.get('error_description') or ''
    first_line = description.splitlines()[0].strip() if description else code
    aadsts = re.match(r'(AADSTS\d+)', first_line)
    hint = (ENTRA_HINTS if hints is None else hints).get(aadsts.group(1)) if aadsts else None
    msg = join_sentences('Entra ID (%s) rejected the credentials: %s' % (authority, first_line), hint or credential_hint)
    if hint:
        msg = join_sentences(msg, credential_hint)
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
    ``auto``: whether ``auth_method`` auto may pick it. ``requires``: the options it needs, for the
    message when ``auth_method`` names it and they are missing.
    """

    name = None
    logs_in = True
    can_refresh = True
    auto = True
    requires = None

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
    requires = 'access_token (MDE_ACCESS_TOKEN)'

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


class FetchingMethod(AuthMethod):
    """A method that fetches its token through msal and keeps it in the shared token cache, under
    ``cache_key_parts()`` (the identity, never a secret or a token), renewing it under the retry
    policy of login calls. Subclasses give ``acquire(msal)`` (msal's result dict) and ``peer``."""

    peer = 'Entra ID'
    hints = ENTRA_HINTS
    credential_hint = CREDENTIAL_HINT
    msal_reason = 'to fetch tokens with client_secret or client_certificate_path'

    def __init__(self, settings, params):
        super(FetchingMethod, self).__init__(settings, params)
        self.login = self.sleep = self.secret_sink = self.authority = self.cache = self.key = None
        self.fetched = 0

    def cache_key_parts(self):
        """(authority, tenant, client, scope or resource, fingerprint) of the token cache key."""
        raise NotImplementedError

    def acquire(self, msal):
        raise NotImplementedError

    def bind(self, session, sleep, cache=None, secret_sink=None, clock=time.time):
        settings = self.settings
        self.login = LoginTransport(session, clock)
        self.sleep = sleep
        self.secret_sink = secret_sink
        self.cache = cache or TokenCache(lock_timeout=max(120.0, settings.timeout * (settings.max_retries + 2)))
        self.key = cache_key(*self.cache_key_parts())
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
        self.got(token)
        return token

    def got(self, token):
        """Called with each token handed out (cached or fetched)."""

    def _import_msal(self):
        try:
            import msal  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise MdeError(missing_required_lib('msal', reason=self.msal_reason),
                           kind='config', details={'exception': traceback.format_exc()})
        return msal

    def _fetch(self, waits=None):
        msal = self._import_msal()
        policy = CALL_POLICIES['login']

        def attempt(dummy_retry):
            self.login.last_response = None
            try:
                result = self.acquire(msal)
            except MdeError:
                raise
            except Exception as exc:  # pylint: disable=broad-except
                # msal raises for transport failures and for a login host that does not answer
                # like Entra ID; anything else surfaces with its type, never with the secret.
                raise self._classify_exception(exc)
            self.fetched += 1
            if result and result.get('access_token'):
                return result['access_token'], result.get('expires_in', 3599)
            status = self.login.status()
            err = self.error(result or {}, status)
            if status is None:
                raise err
            raise policy.failure(err, status=status, delay=self.login.retry_after())

        return retry_loop(attempt, self.settings.max_retries, self.settings.max_wait, self.sleep, waits=waits)

    def error(self, body, status):
        return entra_error(body, status, self.authority, self.hints, self.credential_hint)

    def not_like(self, status, exc):
        return MdeError('The login host %s did not answer like Entra ID (HTTP %s, %s: %s). Check authority_host, cloud and tenant_id.'
                        % (self.settings.authority_host, status, type(exc).__name__, exc), kind='auth', status=status)

    def _classify_exception(self, exc):
        policy = CALL_POLICIES['login']
        err = transport_error(exc, self.peer, self.settings, policy)
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
            err = self.error(body, status)
        else:
            err = self.not_like(status, exc)
        if status is None:
            return err
        return policy.failure(err, status=status, delay=self.login.retry_after())


class EntraClientCredentials(FetchingMethod):
    """The client-credentials flow of Entra ID through msal, with the shared token cache. Subclasses
    set ``option`` (the option that holds the credential: present when it is set) and read
    ``credential`` and ``fingerprint`` in ``load_credential()``."""

    option = None

    def __init__(self, settings, params):
        super(EntraClientCredentials, self).__init__(settings, params)
        self.credential = self.fingerprint = None

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

    def cache_key_parts(self):
        self.authority = '%s/%s' % (self.settings.authority_host, self.settings.tenant_id)
        tenant, client = self.identity
        return self.authority, tenant, client, self.settings.scope, self.fingerprint

    def acquire(self, msal):
        settings = self.settings
        host = settings.authority_host.split('://', 1)[-1].split('/', 1)[0].split(':', 1)[0].lower()
        known = host in MICROSOFT_LOGIN_HOSTS
        app = msal.ConfidentialClientApplication(
            settings.client_id, client_credential=self.credential, authority=self.authority,
            http_client=self.login, instance_discovery=None if known else False,
            validate_authority=known, timeout=settings.timeout)
        return app.acquire_token_for_client(scopes=[settings.scope])


class CertificateMethod(EntraClientCredentials):
    """``client_certificate_path`` (and ``client_certificate_password``): a PEM or PKCS#12 file."""

    name = 'certificate'
    option = 'client_certificate_path'
    requires = 'client_certificate_path (MDE_CLIENT_CERTIFICATE_PATH or AZURE_CLIENT_CERTIFICATE_PATH), with tenant_id and client_id'

    def load_credential(self):
        return load_certificate(self.params['client_certificate_path'], self.params.get('client_certificate_password'))


class ClientSecretMethod(EntraClientCredentials):
    """``client_secret``."""

    name = 'client_secret'
    option = 'client_secret'
    requires = 'client_secret (MDE_CLIENT_SECRET, AZURE_CLIENT_SECRET or AZURE_SECRET), with tenant_id and client_id'

    def load_credential(self):
        secret = self.params['client_secret']
        return secret, secret_fingerprint(secret)


class WorkloadIdentityMethod(EntraClientCredentials):
    """Workload identity federation: a platform's OIDC token (GitHub Actions, Azure DevOps, GitLab,
    Kubernetes) sent to Entra ID as the ``client_assertion`` of the app, which trusts it through a
    federated credential. ``federated_token`` (given) or ``federated_token_file``, re-read at each
    token fetch: the platforms rotate it."""

    name = 'workload_identity'
    option = 'federated_token_file'
    hints = FEDERATED_HINTS
    credential_hint = join_sentences('Check tenant_id, client_id and the federated token (federated_token_file, '
                                     'MDE_FEDERATED_TOKEN_FILE or AZURE_FEDERATED_TOKEN_FILE, or federated_token, MDE_FEDERATED_TOKEN)',
                                     FEDERATED_CHECK)
    requires = ('federated_token_file (MDE_FEDERATED_TOKEN_FILE or AZURE_FEDERATED_TOKEN_FILE) or federated_token '
                '(MDE_FEDERATED_TOKEN), with tenant_id and client_id')

    @classmethod
    def present(cls, params):
        return bool(params.get('federated_token') or params.get('federated_token_file'))

    def validate(self):
        if self.params.get('federated_token'):
            self.option = 'federated_token'
        return super(WorkloadIdentityMethod, self).validate()

    def load_credential(self):
        self.read_assertion(sink=False)  # fails now, before any request, when the token is unusable
        # keyed by the identity (tenant, client, scope) and the method: never by the token, which rotates
        return {'client_assertion': self.assertion}, hashlib.sha256(b'workload_identity').hexdigest()

    def assertion(self):
        """msal's client_assertion callable (no argument, so that msal passes none)."""
        return self.read_assertion()

    def read_assertion(self, sink=True):
        """The federated token, read again from the file at each call (msal calls it for each token request)."""
        inline = self.params.get('federated_token')
        if inline:
            token, where = inline.strip(), 'federated_token (MDE_FEDERATED_TOKEN)'
        else:
            path = self.params['federated_token_file']
            where = 'federated_token_file %s' % path
            try:
                with open(path, 'r') as handle:
                    token = handle.read().strip()
            except (IOError, OSError) as exc:
                raise config_error(join_sentences('%s cannot be read: %s' % (where, exc.strerror or exc),
                                                  'Point federated_token_file (MDE_FEDERATED_TOKEN_FILE or AZURE_FEDERATED_TOKEN_FILE) '
                                                  'at the file the platform writes its OIDC token to.'))
        if token.count('.') != 2 or any(c.isspace() for c in token):
            raise config_error('%s does not hold a JWT (three base64url parts joined by dots): give the OIDC token the platform '
                               'issued for the audience api://AzureADTokenExchange, and nothing else.' % where)
        if sink and self.secret_sink is not None:
            self.secret_sink(token)
        return token


def managed_identity_endpoint(environ=None):
    """The endpoint msal's ManagedIdentityClient asks, as msal picks it from the environment (for
    messages and the token cache key): App Service / Functions / Arc ``IDENTITY_ENDPOINT``, Azure ML
    ``MSI_ENDPOINT``, else the instance metadata service (IMDS), whose host
    ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` overrides."""
    env = os.environ if environ is None else environ
    if 'IDENTITY_ENDPOINT' in env and ('IDENTITY_HEADER' in env or 'IMDS_ENDPOINT' in env):
        return env['IDENTITY_ENDPOINT']
    if 'MSI_ENDPOINT' in env and 'MSI_SECRET' in env:
        return env['MSI_ENDPOINT']
    return env.get('AZURE_POD_IDENTITY_AUTHORITY_HOST', 'http://169.254.169.254').strip('/') + '/metadata/identity/oauth2/token'


class LocalTransport(LoginTransport):
    """The managed identity endpoint is local by design (link-local IMDS, a localhost sidecar), so it
    is asked directly, never through a proxy of the environment. It is plain HTTP, as msal finds it
    in the environment: the https-only rule of api_url and authority_host does not apply to it.
    Being local, it connects at once or not at all (off Azure, 169.254.169.254 drops the packets):
    connecting waits at most ``CONNECT_TIMEOUT`` seconds (``timeout`` still bounds the answer)."""

    CONNECT_TIMEOUT = 5.0

    def __init__(self, session, clock, timeout=30.0):
        super(LocalTransport, self).__init__(session, clock)
        self.timeout = timeout

    def _local(self, kwargs):
        kwargs['proxy'] = False
        kwargs.setdefault('timeout', (min(self.CONNECT_TIMEOUT, self.timeout), self.timeout))
        return kwargs

    def get(self, url, **kwargs):
        return super(LocalTransport, self).get(url, **self._local(kwargs))

    def post(self, url, **kwargs):
        return super(LocalTransport, self).post(url, **self._local(kwargs))


MSAL_MANAGED_IDENTITY = (1, 29)
_GUID = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')


def _version_tuple(text):
    numbers = re.findall(r'\d+', str(text or '0'))[:3]
    return tuple(int(n) for n in numbers) or (0,)


class ManagedIdentityMethod(FetchingMethod):
    """The managed identity of the Azure host (VM, scale set, Arc-enabled server, App Service,
    Functions), through msal's ManagedIdentityClient: system-assigned, or user-assigned with
    ``managed_identity_client_id``. Asks for the resource (the scope without ``/.default``).
    Never chosen by ``auto``: probing a metadata endpoint on every run would slow every task and
    surprise users off Azure."""

    name = 'managed_identity'
    auto = False
    logs_in = False
    msal_reason = 'for auth_method managed_identity (msal 1.29 or later)'
    requires = 'nothing but a host with a managed identity'

    def __init__(self, settings, params):
        super(ManagedIdentityMethod, self).__init__(settings, params)
        self.client = self.resource = self.endpoint = None
        self.token_claims = (None, None)

    @classmethod
    def present(cls, params):
        return True

    def validate(self):
        client = (self.params.get('managed_identity_client_id') or '').strip() or None
        if client is not None and not _GUID.match(client):
            raise config_error('managed_identity_client_id (MDE_MANAGED_IDENTITY_CLIENT_ID) must be the client ID of a '
                               'user-assigned managed identity, a GUID such as 00000000-0000-0000-0000-000000000000 (got "%s"); '
                               'leave it unset for the system-assigned identity.' % client)
        scope = self.settings.scope
        if not scope.endswith('/.default'):
            raise config_error('With auth_method managed_identity, scope must end in /.default (the resource is the scope '
                               'without it), got "%s".' % scope)
        self.client = client
        self.resource = scope[:-len('/.default')]
        return self

    @property
    def peer(self):
        return ('the managed identity endpoint %s (auth_method managed_identity needs a host with a managed identity: an Azure '
                'VM or scale set, an Arc-enabled server, App Service or Functions)' % self.endpoint)

    @property
    def identity(self):
        tenant, client = self.token_claims
        return tenant, client or self.client

    def got(self, token):
        # the rate budget is the app's: the managed identity's application ID in the token
        self.token_claims = token_identity(token)

    def bind(self, session, sleep, cache=None, secret_sink=None, clock=time.time):
        super(ManagedIdentityMethod, self).bind(session, sleep, cache=cache, secret_sink=secret_sink, clock=clock)
        self.login = LocalTransport(session, clock, self.settings.timeout)
        return self

    def cache_key_parts(self):
        self.endpoint = self.authority = managed_identity_endpoint()
        return self.endpoint, None, self.client or 'system-assigned', self.resource, self.name

    def acquire(self, msal):
        version = getattr(msal, '__version__', None)
        if _version_tuple(version) < MSAL_MANAGED_IDENTITY or not hasattr(msal, 'ManagedIdentityClient'):
            raise config_error("auth_method managed_identity needs msal 1.29 or later (its ManagedIdentityClient), but msal %s "
                               "is installed: upgrade it (pip install 'msal>=1.29') where the modules run." % (version or '(unknown)'))
        if self.client:
            identity = msal.UserAssignedManagedIdentity(client_id=self.client)
        else:
            identity = msal.SystemAssignedManagedIdentity()
        return msal.ManagedIdentityClient(identity, http_client=self.login).acquire_token_for_client(resource=self.resource)

    def error(self, body, status):
        description = body.get('error_description') or body.get('message') or body.get('error') or 'no reason given'
        first_line = str(description).splitlines()[0].strip()
        which = ('the user-assigned identity %s' % self.client) if self.client else 'the system-assigned identity'
        msg = join_sentences('The managed identity endpoint %s refused a token for %s (resource %s): %s' % (
            self.endpoint, which, self.resource, first_line),
            'Check that %s is enabled on this host, and managed_identity_client_id (MDE_MANAGED_IDENTITY_CLIENT_ID): the client '
            'ID of a user-assigned identity attached to the host, or unset for the system-assigned one' % which)
        return MdeError(msg, kind='auth', status=status, error_code=body.get('error'), error_message=first_line)

    def not_like(self, status, exc):
        return MdeError('The managed identity endpoint %s did not answer like one (HTTP %s, %s). Check IDENTITY_ENDPOINT and '
                        'IDENTITY_HEADER (App Service, Functions) or that this host is an Azure VM, scale set or Arc-enabled server.'
                        % (self.endpoint, status, type(exc).__name__), kind='auth', status=status)


# The registry, in the order of the documented credential choice with auth_method auto (a given
# access token, then a client certificate, then a client secret, then a federated token): the
# first present one is used. Managed identity comes last and only when auth_method asks for it.
AUTH_METHODS = [AccessTokenMethod, CertificateMethod, ClientSecretMethod, WorkloadIdentityMethod, ManagedIdentityMethod]
AUTH_METHOD_NAMES = ['auto'] + [m.name for m in AUTH_METHODS]

NO_CREDENTIALS = ('No credentials: set access_token (MDE_ACCESS_TOKEN), or tenant_id (MDE_TENANT_ID or AZURE_TENANT_ID), '
                  'client_id (MDE_CLIENT_ID or AZURE_CLIENT_ID) and one of client_secret (MDE_CLIENT_SECRET or AZURE_CLIENT_SECRET), '
                  'client_certificate_path (MDE_CLIENT_CERTIFICATE_PATH or AZURE_CLIENT_CERTIFICATE_PATH) or a federated token '
                  '(federated_token_file, MDE_FEDERATED_TOKEN_FILE or AZURE_FEDERATED_TOKEN_FILE, or federated_token, MDE_FEDERATED_TOKEN); '
                  'or set auth_method (MDE_AUTH_METHOD) to managed_identity on a host with a managed identity.')


def choose_auth_method(settings, params, methods=None):
    """The one place that picks the credentials: the method ``auth_method`` names, or with ``auto``
    the first method (of those ``auto`` may pick) whose options are present; validated before any
    request. ``settings``: the validated ``_connection.Settings``."""
    methods = methods or AUTH_METHODS
    wanted = params.get('auth_method') or 'auto'
    if wanted != 'auto':
        for method in methods:
            if method.name == wanted:
                if not method.present(params):
                    raise config_error('auth_method (MDE_AUTH_METHOD) is %s, which needs %s: set it, or set auth_method to auto '
                                       'or to the method whose options are given.' % (wanted, method.requires))
                return method(settings, params).validate()
        raise config_error('auth_method (MDE_AUTH_METHOD) must be one of %s, got "%s".' % (
            ', '.join(['auto'] + [m.name for m in methods]), wanted))
    for method in methods:
        if method.auto and method.present(params):
            return method(settings, params).validate()
    raise config_error(join_sentences(NO_CREDENTIALS, _found_and_missing(settings)))


def _found_and_missing(settings):
    """What a run without usable credentials has (from options or environment) and what it still needs."""
    found = [name for name in ('tenant_id', 'client_id') if getattr(settings, name, None)]
    missing = [name for name in ('tenant_id', 'client_id') if name not in found] + [
        'client_secret, client_certificate_path or federated_token_file']
    return 'Found: %s; missing: %s (or access_token alone).' % (', '.join(found) or 'none of them', ', '.join(missing))
