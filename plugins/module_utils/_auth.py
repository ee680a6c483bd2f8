# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Getting an access token: a given one, or a client secret / certificate through msal.

Tokens are reused from the owner-only cache (``_token_cache``) while fresh; only a miss
imports msal and talks to the login host. A certificate is read and checked before any
request is sent.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import re
import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError, config_error
from ansible_collections.defender.endpoint.plugins.module_utils._clouds import MICROSOFT_LOGIN_HOSTS
from ansible_collections.defender.endpoint.plugins.module_utils._retry import CALL_POLICIES, retry_loop
from ansible_collections.defender.endpoint.plugins.module_utils._token_cache import TokenCache, cache_key

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()

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
    if not HAS_CRYPTOGRAPHY:
        raise config_error(missing_required_lib('cryptography', reason='for client_certificate_path'))
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise config_error('client_certificate_path %s cannot be read: %s. Point it at a PEM or PKCS#12 (PFX) file '
                           'readable by the user running the module.' % (path, exc.strerror or exc))
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
    msg = 'Entra ID (%s) rejected the credentials: %s. %s' % (authority, first_line, hint or CREDENTIAL_HINT)
    if hint:
        msg += ' ' + CREDENTIAL_HINT
    return MdeError(msg, kind='auth', status=status, error_code=code, error_message=first_line,
                    correlation_id=body.get('correlation_id'))


class StaticTokenProvider:
    """``access_token`` given by the user: no login host involved."""

    can_refresh = False

    def __init__(self, access_token):
        self.access_token = access_token

    def get(self, waits=None):  # pylint: disable=unused-argument
        return self.access_token

    def refresh(self, rejected, waits=None):  # pylint: disable=unused-argument
        raise MdeError('The API refused access_token (HTTP 401): it has expired or was not issued for this API. '
                       'Get a new token, or use client_secret or client_certificate_path so the collection fetches its own.',
                       kind='auth', status=401)


class ClientCredentialProvider:
    """Client secret or certificate, through msal's client-credentials flow, with the shared cache."""

    can_refresh = True

    def __init__(self, settings, session, sleep, cache=None, secret_sink=None):
        self.settings = settings
        self.secret_sink = secret_sink
        self.session = session
        self.sleep = sleep
        self.authority = '%s/%s' % (settings.authority_host, settings.tenant_id)
        self.cache = cache or TokenCache(lock_timeout=max(120.0, settings.timeout * (settings.max_retries + 2)))
        self.key = cache_key(self.authority, settings.tenant_id, settings.client_id, settings.scope, settings.credential_fingerprint)
        self.fetched = 0

    def get(self, waits=None):
        return self._token(None, waits)

    def refresh(self, rejected, waits=None):
        return self._token(rejected, waits)

    def _token(self, rejected, waits=None):
        """``waits``: the bound of the API call that needs the token (``_retry.CallWaits``): the
        waits of the token request count towards it."""
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

        def attempt(dummy_retry):
            self.session.last_response = None
            try:
                app = msal.ConfidentialClientApplication(
                    settings.client_id, client_credential=settings.credential, authority=self.authority,
                    http_client=self.session, instance_discovery=None if known else False,
                    validate_authority=known, timeout=settings.timeout)
                result = app.acquire_token_for_client(scopes=[settings.scope])
            except Exception as exc:  # pylint: disable=broad-except
                # msal raises for transport failures and for a login host that does not answer
                # like Entra ID; anything else surfaces with its type, never with the secret.
                raise self._classify_exception(exc)
            self.fetched += 1
            if result and result.get('access_token'):
                return result['access_token'], result.get('expires_in', 3599)
            status = getattr(self.session.last_response, 'status_code', None)
            err = entra_error(result or {}, status, self.authority)
            if status is None:
                raise err
            raise CALL_POLICIES['login'].failure(err, status=status, delay=self.session.retry_after())

        return retry_loop(attempt, settings.max_retries, settings.max_wait, self.sleep, waits=waits)

    def _classify_exception(self, exc):
        from ansible_collections.defender.endpoint.plugins.module_utils._http import transport_error  # pylint: disable=import-outside-toplevel
        err = transport_error(exc, 'Entra ID', self.settings, CALL_POLICIES['login'])
        if err is not None:
            return err
        response = self.session.last_response
        status = getattr(response, 'status_code', None)
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
        return CALL_POLICIES['login'].failure(err, status=status, delay=self.session.retry_after())
