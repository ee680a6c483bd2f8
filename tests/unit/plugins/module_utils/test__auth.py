# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import os
import sys
import types

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ansible_collections.defender.endpoint.plugins.module_utils import _auth
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.plugins.module_utils._token_cache import TokenCache
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import FakeClock, make_response, make_settings, refused, secret_method

PASSWORD = 'Pa55-w0rd!xyz'
WRONG_PASSWORD = 'n0t-the-Pa55'


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(key, name='mde-unit-test'):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2025, 1, 1)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))


KEY = _key()
OTHER_KEY = _key()
CERT = _cert(KEY)
OTHER_CERT = _cert(OTHER_KEY, 'other')
CERT_PEM = CERT.public_bytes(serialization.Encoding.PEM)
PKCS8 = serialization.PrivateFormat.PKCS8
TRADITIONAL = serialization.PrivateFormat.TraditionalOpenSSL


def key_pem(key=KEY, password=None, fmt=PKCS8):
    enc = serialization.BestAvailableEncryption(password.encode('utf-8')) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def pfx(password=None, key=KEY, cert=CERT):
    enc = serialization.BestAvailableEncryption(password.encode('utf-8')) if password else serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(b'mde', key, cert, None, enc)


def assert_loaded(result, cert=CERT):
    credential, fingerprint = result
    assert set(credential) == {'private_key', 'public_certificate'}
    loaded_key = serialization.load_pem_private_key(credential['private_key'].encode('ascii'), password=None)
    assert loaded_key.private_numbers() == KEY.private_numbers()
    assert x509.load_pem_x509_certificate(credential['public_certificate'].encode('ascii')) == cert
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0
    return fingerprint


def config_failure(path, password):
    with pytest.raises(MdeError) as info:
        _auth.load_certificate(path, password)
    err = info.value
    assert err.kind == 'config'
    for secret in (PASSWORD, WRONG_PASSWORD):
        assert secret not in err.msg
        assert secret not in repr(err.result())
    return err.msg


# load_certificate: what works ---------------------------------------------------------------

@pytest.mark.parametrize('order', ['cert_first', 'key_first'])
@pytest.mark.parametrize('fmt', [PKCS8, TRADITIONAL])
def test_pem_certificate_and_key(tmp_path, order, fmt):
    parts = [CERT_PEM, key_pem(fmt=fmt)]
    if order == 'key_first':
        parts.reverse()
    path = write(tmp_path, 'cert.pem', b'\n'.join(parts))
    fingerprint = assert_loaded(_auth.load_certificate(path, None))
    # a password given for an unencrypted key is not needed and does not hurt
    assert assert_loaded(_auth.load_certificate(path, PASSWORD)) == fingerprint


@pytest.mark.parametrize('fmt', [PKCS8, TRADITIONAL])
def test_pem_with_encrypted_key_and_right_password(tmp_path, fmt):
    path = write(tmp_path, 'cert.pem', CERT_PEM + key_pem(password=PASSWORD, fmt=fmt))
    credential, dummy = _auth.load_certificate(path, PASSWORD)
    assert 'ENCRYPTED' not in credential['private_key']  # msal gets a usable key
    assert_loaded((credential, dummy))


def test_fingerprint_is_stable_and_depends_on_the_certificate(tmp_path):
    first = _auth.load_certificate(write(tmp_path, 'a.pem', CERT_PEM + key_pem()), None)[1]
    again = _auth.load_certificate(write(tmp_path, 'b.pfx', pfx(PASSWORD)), PASSWORD)[1]
    other = _auth.load_certificate(write(tmp_path, 'c.pem', OTHER_CERT.public_bytes(serialization.Encoding.PEM) + key_pem(OTHER_KEY)), None)[1]
    assert first == again
    assert first != other
    assert first != _auth.secret_fingerprint('secret')


def test_pkcs12_with_password(tmp_path):
    assert_loaded(_auth.load_certificate(write(tmp_path, 'c.pfx', pfx(PASSWORD)), PASSWORD))


def test_pkcs12_without_password(tmp_path):
    assert_loaded(_auth.load_certificate(write(tmp_path, 'c.pfx', pfx()), None))


# load_certificate: what fails, and how it says so ------------------------------------------

def test_pem_encrypted_key_without_password(tmp_path):
    path = write(tmp_path, 'cert.pem', CERT_PEM + key_pem(password=PASSWORD))
    msg = config_failure(path, None)
    assert 'client_certificate_password' in msg and 'MDE_CLIENT_CERTIFICATE_PASSWORD' in msg
    assert 'encrypted' in msg


@pytest.mark.parametrize('fmt', [PKCS8, TRADITIONAL])
def test_pem_encrypted_key_with_wrong_password(tmp_path, fmt):
    path = write(tmp_path, 'cert.pem', CERT_PEM + key_pem(password=PASSWORD, fmt=fmt))
    msg = config_failure(path, WRONG_PASSWORD)
    assert 'client_certificate_password' in msg and 'client_certificate_path' in msg


def test_pkcs12_with_wrong_password(tmp_path):
    msg = config_failure(write(tmp_path, 'c.pfx', pfx(PASSWORD)), WRONG_PASSWORD)
    assert 'client_certificate_password' in msg and 'client_certificate_path' in msg


def test_pkcs12_encrypted_but_no_password_given(tmp_path):
    msg = config_failure(write(tmp_path, 'c.pfx', pfx(PASSWORD)), None)
    assert 'client_certificate_password' in msg and 'MDE_CLIENT_CERTIFICATE_PASSWORD' in msg


def test_key_not_matching_certificate(tmp_path):
    path = write(tmp_path, 'cert.pem', CERT_PEM + key_pem(OTHER_KEY))
    msg = config_failure(path, None)
    assert 'client_certificate_path' in msg and 'does not belong' in msg


def test_missing_file(tmp_path):
    path = str(tmp_path / 'nope.pem')
    msg = config_failure(path, PASSWORD)
    assert 'client_certificate_path' in msg and path in msg and 'cannot be read' in msg


def test_folder_instead_of_file(tmp_path):
    msg = config_failure(str(tmp_path), None)
    assert 'client_certificate_path' in msg and 'cannot be read' in msg


@pytest.mark.skipif(os.getuid() == 0, reason='root reads any file')
def test_unreadable_file(tmp_path):
    path = write(tmp_path, 'cert.pem', CERT_PEM + key_pem())
    os.chmod(path, 0)
    msg = config_failure(path, None)
    assert 'client_certificate_path' in msg and 'cannot be read' in msg


@pytest.mark.parametrize('data', [b'', b'garbage \x00\x01\x02 not a certificate', os.urandom(512)])
def test_garbage_file(tmp_path, data):
    msg = config_failure(write(tmp_path, 'junk', data), PASSWORD)
    assert 'client_certificate_path' in msg and 'client_certificate_password' in msg


@pytest.mark.parametrize('content, found', [
    (CERT_PEM, '1 certificate(s) and 0 private key(s)'),
    (key_pem(), '0 certificate(s) and 1 private key(s)'),
])
def test_pem_missing_key_or_certificate(tmp_path, content, found):
    msg = config_failure(write(tmp_path, 'half.pem', content), None)
    assert 'client_certificate_path' in msg and found in msg


def test_pem_with_malformed_certificate(tmp_path):
    bad_cert = b'-----BEGIN CERTIFICATE-----\nTUlJQm9ndXM=\n-----END CERTIFICATE-----\n'
    msg = config_failure(write(tmp_path, 'bad.pem', bad_cert + key_pem()), None)
    assert 'client_certificate_path' in msg and 'malformed' in msg


# Entra ID errors -----------------------------------------------------------------------------

ENTRA_BODY = {
    'error': 'invalid_client',
    'error_description': "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the "
                         "client secret value, not the client secret ID.\r\nTrace ID: 0a1b2c3d\r\nCorrelation ID: "
                         "9f8e7d6c\r\nTimestamp: 2025-05-01 08:00:00Z",
    'error_codes': [7000215],
    'correlation_id': '9f8e7d6c-0000-4000-8000-000000000001',
}


def test_entra_error_maps_fields_and_names_client_secret():
    err = _auth.entra_error(ENTRA_BODY, 401, 'https://login.microsoftonline.com/tenant-a')
    assert err.kind == 'auth'
    assert err.status == 401
    assert err.error_code == 'invalid_client'
    assert err.error_message.startswith('AADSTS7000215: Invalid client secret provided.')
    assert 'Trace ID' not in err.error_message and '\r' not in err.error_message
    assert err.correlation_id == '9f8e7d6c-0000-4000-8000-000000000001'
    assert 'client_secret' in err.msg and 'MDE_CLIENT_SECRET' in err.msg
    assert 'rejected the credentials' in err.msg
    assert 'https://login.microsoftonline.com/tenant-a' in err.msg
    result = err.result()
    assert result['error_code'] == 'invalid_client' and result['status'] == 401


def test_entra_error_with_unknown_code_names_the_options_to_check():
    err = _auth.entra_error({'error': 'invalid_request', 'error_description': 'AADSTS123456: Something new.'}, 400, 'https://login/t')
    assert err.error_message == 'AADSTS123456: Something new.'
    for option in ('tenant_id', 'client_id', 'client_secret', 'client_certificate_path'):
        assert option in err.msg
    assert err.correlation_id is None


def test_entra_error_without_body():
    err = _auth.entra_error({}, None, 'https://login/t')
    assert err.error_code == 'unknown_error'
    assert err.kind == 'auth'
    assert 'tenant_id' in err.msg


def test_access_token_method():
    tokens = _auth.AccessTokenMethod(make_settings(), {'access_token': 'abc'}).validate()
    assert tokens.get() == 'abc'
    assert tokens.can_refresh is False and tokens.logs_in is False
    assert tokens.identity == ('tenant-a', 'client-a')
    with pytest.raises(MdeError) as info:
        tokens.refresh('abc')
    assert info.value.status == 401 and 'access_token' in info.value.msg
    assert 'abc' not in info.value.msg


# EntraClientCredentials._fetch through a stand-in msal --------------------------------------

class LoginSession:
    """The session the auth method hands msal (through its LoginTransport); the stand-in msal never sends."""


def fake_msal(monkeypatch, session, script, created):
    """Install a module ``msal`` whose acquire_token_for_client answers from ``script``, as if the
    login host had answered ``response`` on the http_client it was given."""

    class App:
        def __init__(self, client_id, **kwargs):
            created.append(dict(kwargs, client_id=client_id))
            self.http_client = kwargs['http_client']

        def acquire_token_for_client(self, scopes):
            response, result = script.pop(0)
            self.http_client.last_response = response
            if isinstance(result, BaseException):
                raise result
            return result

    monkeypatch.setitem(sys.modules, 'msal', types.SimpleNamespace(ConfidentialClientApplication=App))


def ok(token):
    answer = {'access_token': token, 'expires_in': 3599, 'token_type': 'Bearer'}
    return make_response(200, answer), answer


def secret_provider(tmp_path, session, clock, **overrides):
    settings = make_settings(max_retries=2, max_wait=30.0, **overrides)
    return secret_method(settings, 'very-secret-value', session, clock.sleep, cache=TokenCache(folder=str(tmp_path), clock=clock), clock=clock)


def test_provider_fetches_through_msal_and_caches(tmp_path, monkeypatch):
    session, clock, created = LoginSession(), FakeClock(), []
    fake_msal(monkeypatch, session, [ok('jwt-1')], created)
    prov = secret_provider(tmp_path, session, clock)
    assert prov.get() == 'jwt-1'
    assert prov.get() == 'jwt-1'  # served from the cache: msal not asked again
    assert prov.fetched == 1
    assert len(created) == 1
    assert created[0]['client_id'] == 'client-a'
    assert created[0]['authority'] == 'https://login.mde.test/tenant-a'
    assert created[0]['client_credential'] == 'very-secret-value'
    assert created[0]['validate_authority'] is False  # not a Microsoft login host


def test_provider_entra_rejection_is_not_retried(tmp_path, monkeypatch):
    session, clock, created = LoginSession(), FakeClock(), []
    fake_msal(monkeypatch, session, [(make_response(401, ENTRA_BODY), ENTRA_BODY)], created)
    prov = secret_provider(tmp_path, session, clock)
    with pytest.raises(MdeError) as info:
        prov.get()
    assert info.value.kind == 'auth' and info.value.status == 401
    assert info.value.error_code == 'invalid_client'
    assert 'very-secret-value' not in info.value.msg
    assert clock.sleeps == []
    assert os.listdir(str(tmp_path)) == [prov.key + '.lock']  # nothing cached


def test_provider_retries_entra_5xx(tmp_path, monkeypatch):
    session, clock, created = LoginSession(), FakeClock(), []
    busy = {'error': 'temporarily_unavailable', 'error_description': 'AADSTS90033: busy'}
    fake_msal(monkeypatch, session, [(make_response(503, busy), busy), ok('jwt-2')], created)
    prov = secret_provider(tmp_path, session, clock)
    assert prov.get() == 'jwt-2'
    assert len(clock.sleeps) == 1


def test_provider_retries_connection_refused(tmp_path, monkeypatch):
    session, clock, created = LoginSession(), FakeClock(), []
    script = [(None, refused()), ok('jwt-3')]
    fake_msal(monkeypatch, session, script, created)
    prov = secret_provider(tmp_path, session, clock)
    assert prov.get() == 'jwt-3'
    assert len(clock.sleeps) == 1


def test_provider_login_host_not_like_entra(tmp_path, monkeypatch):
    session, clock, created = LoginSession(), FakeClock(), []
    fake_msal(monkeypatch, session, [(make_response(404, text='<html>Not Found</html>'), ValueError('no openid configuration'))], created)
    prov = secret_provider(tmp_path, session, clock)
    with pytest.raises(MdeError) as info:
        prov.get()
    assert info.value.kind == 'auth'
    assert 'authority_host' in info.value.msg and 'https://login.mde.test' in info.value.msg
    assert clock.sleeps == []


@pytest.mark.parametrize('status, retried', [(500, True), (502, True), (503, True), (504, True), (429, True), (501, False), (505, False)])
def test_provider_retries_the_statuses_the_api_side_retries(tmp_path, monkeypatch, status, retried):
    session, clock, created = LoginSession(), FakeClock(), []
    busy = {'error': 'temporarily_unavailable', 'error_description': 'AADSTS90033: busy'}
    fake_msal(monkeypatch, session, [(make_response(status, busy), busy), ok('jwt-4')], created)
    prov = secret_provider(tmp_path, session, clock)
    if retried:
        assert prov.get() == 'jwt-4' and len(clock.sleeps) == 1
    else:
        with pytest.raises(MdeError) as info:
            prov.get()
        assert info.value.status == status and clock.sleeps == []


# The registry of auth methods ----------------------------------------------------------------

def test_registry_order_is_the_documented_credential_choice():
    assert [m.name for m in _auth.AUTH_METHODS] == ['access_token', 'certificate', 'client_secret', 'workload_identity', 'managed_identity']
    assert [m.name for m in _auth.AUTH_METHODS if m.auto] == ['access_token', 'certificate', 'client_secret', 'workload_identity']


def test_a_new_method_is_one_more_class_in_the_list():
    class Federated(_auth.AuthMethod):
        name = 'workload_identity'

        @classmethod
        def present(cls, params):
            return bool(params.get('federated_token'))

        def validate(self):
            self.validated = True
            return self

    chosen = _auth.choose_auth_method(make_settings(), {'federated_token': 'oidc'}, methods=[Federated] + _auth.AUTH_METHODS)
    assert isinstance(chosen, Federated) and chosen.validated and chosen.identity == ('tenant-a', 'client-a')


def test_identity_of_a_given_token_comes_from_its_claims():
    import base64
    import json
    claims = base64.urlsafe_b64encode(json.dumps({'tid': 'tid-9', 'azp': 'app-9'}).encode('utf-8')).decode('ascii').rstrip('=')
    method = _auth.AccessTokenMethod(make_settings(tenant_id=None, client_id=None), {'access_token': 'h.%s.s' % claims}).validate()
    assert method.identity == ('tid-9', 'app-9')
    assert _auth.AccessTokenMethod(make_settings(tenant_id=None, client_id=None), {'access_token': 'opaque'}).validate().identity == (None, None)


def test_the_identity_keys_the_token_cache(tmp_path):
    one = secret_method(make_settings(), cache=TokenCache(folder=str(tmp_path)))
    other = secret_method(make_settings(client_id='client-b'), cache=TokenCache(folder=str(tmp_path)))
    assert one.identity == ('tenant-a', 'client-a') and other.identity == ('tenant-a', 'client-b')
    assert one.key != other.key


def test_login_transport_keeps_the_last_answer_and_its_retry_after():
    answers = [make_response(503, {'error': 'busy'}, headers={'Retry-After': '7'})]

    class Session:
        def post(self, url, **kwargs):
            return answers[0]

    transport = _auth.LoginTransport(Session(), FakeClock())
    assert transport.status() is None and transport.retry_after() is None
    transport.post('https://login.mde.test/t/oauth2/v2.0/token', data={})
    assert transport.status() == 503 and transport.retry_after() == 7.0
