# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""auth_method, workload identity federation and managed identity (issue 15): the choice of the
method, the federated token read at each fetch, the managed identity through msal's
ManagedIdentityClient (a stand-in msal here; the emulator runs the real one end to end), and that
neither msal nor cryptography is imported by _auth or on a warm token cache."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import os
import subprocess
import sys
import types

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _auth
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.plugins.module_utils._token_cache import TokenCache
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import FakeClock, make_response, make_settings

MI_CLIENT = '6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9'


def jwt_of(claims):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode('utf-8')).decode('ascii').rstrip('=')
    return '%s.%s.sig' % (part({'alg': 'RS256'}), part(claims))


FEDERATED_1 = jwt_of({'iss': 'https://issuer.test', 'sub': 'repo:contoso/mde:environment:prod', 'n': 1})
FEDERATED_2 = jwt_of({'iss': 'https://issuer.test', 'sub': 'repo:contoso/mde:environment:prod', 'n': 2})


def choose(params, **settings):
    return _auth.choose_auth_method(make_settings(**settings), params)


# the choice ------------------------------------------------------------------------------------

@pytest.mark.parametrize('params, chosen', [
    ({'access_token': 'a.b.c', 'client_secret': 's', 'federated_token': FEDERATED_1}, 'access_token'),
    ({'client_secret': 's', 'federated_token': FEDERATED_1}, 'client_secret'),
    ({'federated_token': FEDERATED_1}, 'workload_identity'),
    ({'client_secret': 's', 'auth_method': 'auto'}, 'client_secret'),
    ({'client_secret': 's', 'federated_token': FEDERATED_1, 'auth_method': 'workload_identity'}, 'workload_identity'),
    ({'access_token': 'a.b.c', 'client_secret': 's', 'auth_method': 'client_secret'}, 'client_secret'),
    ({'client_secret': 's', 'auth_method': 'managed_identity'}, 'managed_identity'),
])
def test_auto_takes_the_documented_order_and_a_named_method_wins(params, chosen):
    assert choose(params).name == chosen


def test_auto_never_picks_managed_identity():
    with pytest.raises(MdeError) as info:
        choose({})
    assert info.value.kind == 'config' and info.value.msg.startswith('No credentials')
    assert 'auth_method (MDE_AUTH_METHOD) to managed_identity' in info.value.msg
    assert 'federated_token_file' in info.value.msg


@pytest.mark.parametrize('method, named', [
    ('workload_identity', 'federated_token_file (MDE_FEDERATED_TOKEN_FILE or AZURE_FEDERATED_TOKEN_FILE) or federated_token'),
    ('client_secret', 'client_secret (MDE_CLIENT_SECRET'),
    ('certificate', 'client_certificate_path (MDE_CLIENT_CERTIFICATE_PATH'),
    ('access_token', 'access_token (MDE_ACCESS_TOKEN)'),
])
def test_a_named_method_without_its_options_names_them(method, named):
    with pytest.raises(MdeError) as info:
        choose({'auth_method': method, 'access_token': 'a.b.c' if method != 'access_token' else None,
                'client_secret': 's' if method != 'client_secret' else None})
    assert info.value.kind == 'config'
    assert 'auth_method (MDE_AUTH_METHOD) is %s' % method in info.value.msg and named in info.value.msg


def test_workload_identity_needs_tenant_and_client():
    with pytest.raises(MdeError) as info:
        choose({'federated_token': FEDERATED_1}, tenant_id=None)
    assert 'tenant_id (MDE_TENANT_ID' in info.value.msg and 'federated_token' in info.value.msg


# workload identity ------------------------------------------------------------------------------

def fake_msal(monkeypatch, created, answers, version='1.31.0', with_mi=True):
    """A module ``msal`` whose clients record how they were made and answer from ``answers``; a
    confidential client calls its client_assertion callable for each token request, as msal does."""

    class App:
        def __init__(self, client_id, **kwargs):
            created.append(dict(kwargs, client_id=client_id))
            self.kwargs = kwargs

        def acquire_token_for_client(self, scopes):
            assertion = self.kwargs['client_credential']['client_assertion']
            created[-1]['assertion'] = assertion() if callable(assertion) else assertion
            answer = answers.pop(0)
            self.kwargs['http_client'].last_response = make_response(200 if 'access_token' in answer else 400, answer)
            return answer

    class MiClient:
        def __init__(self, identity, http_client):
            created.append({'identity': identity, 'http_client': http_client})
            self.http_client = http_client

        def acquire_token_for_client(self, resource):
            created[-1]['resource'] = resource
            answer = answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            self.http_client.last_response = make_response(200 if 'access_token' in answer else 400, answer)
            return answer

    module = types.SimpleNamespace(ConfidentialClientApplication=App, __version__=version,
                                   SystemAssignedManagedIdentity=lambda: {'ManagedIdentityIdType': 'SystemAssigned'},
                                   UserAssignedManagedIdentity=lambda client_id: {'ManagedIdentityIdType': 'ClientId', 'Id': client_id})
    if with_mi:
        module.ManagedIdentityClient = MiClient
    monkeypatch.setitem(sys.modules, 'msal', module)


def bound(method, tmp_path, clock, sink=None):
    return method.bind(object(), clock.sleep, cache=TokenCache(folder=str(tmp_path), clock=clock),
                       secret_sink=sink, clock=clock)


def test_the_token_file_is_read_again_at_each_fetch(tmp_path, monkeypatch):
    created, clock, sunk = [], FakeClock(), []
    token_file = tmp_path / 'federated'
    token_file.write_text(FEDERATED_1 + '\n')
    fake_msal(monkeypatch, created, [{'access_token': 'app-1', 'expires_in': 3599}, {'access_token': 'app-2', 'expires_in': 3599}])
    method = bound(choose({'federated_token_file': str(token_file)}), tmp_path, clock, sunk.append)
    assert method.get() == 'app-1' and method.get() == 'app-1'  # cached: one fetch
    token_file.write_text(FEDERATED_2)  # the platform rotates the file
    clock.advance(3600)
    assert method.get() == 'app-2'
    assert [c['assertion'] for c in created] == [FEDERATED_1, FEDERATED_2]
    assert callable(created[0]['client_credential']['client_assertion'])
    assert FEDERATED_1 in sunk and FEDERATED_2 in sunk  # masked in the task's output


@pytest.mark.parametrize('content', ['', 'not a jwt', 'a.b', 'a.b.c d.e'])
def test_a_token_file_without_a_jwt_fails_before_any_request(tmp_path, content):
    token_file = tmp_path / 'federated'
    token_file.write_text(content)
    with pytest.raises(MdeError) as info:
        choose({'federated_token_file': str(token_file)})
    assert info.value.kind == 'config' and 'does not hold a JWT' in info.value.msg
    assert 'api://AzureADTokenExchange' in info.value.msg
    if content:
        assert content not in info.value.msg


def test_a_missing_token_file_names_the_option(tmp_path):
    with pytest.raises(MdeError) as info:
        choose({'federated_token_file': str(tmp_path / 'nope')})
    assert info.value.kind == 'config' and 'federated_token_file' in info.value.msg and 'cannot be read' in info.value.msg


def test_the_cache_key_is_the_identity_never_the_token(tmp_path):
    clock = FakeClock()
    one = bound(choose({'federated_token': FEDERATED_1}), tmp_path, clock)
    two = bound(choose({'federated_token': FEDERATED_2}), tmp_path, clock)
    secret = bound(choose({'client_secret': 's'}), tmp_path, clock)
    other = bound(choose({'federated_token': FEDERATED_1}, client_id='client-b'), tmp_path, clock)
    assert one.key == two.key and one.key != secret.key and one.key != other.key
    assert one.identity == ('tenant-a', 'client-a')


@pytest.mark.parametrize('code, says', [
    ('AADSTS70021', 'issuer = iss, subject = sub'),
    ('AADSTS700211', "token's issuer"),
    ('AADSTS700212', 'api://AzureADTokenExchange'),
    ('AADSTS700213', 'repo:ORG/REPO:environment:NAME'),
    ('AADSTS700024', 'expired'),
])
def test_entra_id_answers_to_a_federated_token_say_what_to_check(tmp_path, monkeypatch, code, says):
    created, clock = [], FakeClock()
    answer = {'error': 'invalid_client', 'error_description': '%s: No matching federated identity record.\r\nTrace ID: x' % code}
    fake_msal(monkeypatch, created, [answer])
    method = bound(choose({'federated_token': FEDERATED_1}), tmp_path, clock)
    with pytest.raises(MdeError) as info:
        method.get()
    assert info.value.kind == 'auth' and code in info.value.msg and says in info.value.msg
    assert 'federated_token_file' in info.value.msg
    assert FEDERATED_1 not in info.value.msg and clock.sleeps == []


# managed identity -------------------------------------------------------------------------------

def mi_token(appid=MI_CLIENT):
    return jwt_of({'tid': 'tenant-mi', 'appid': appid})


def test_managed_identity_asks_for_the_resource_with_the_identity(tmp_path, monkeypatch):
    created, clock, sunk = [], FakeClock(), []
    token = mi_token()
    fake_msal(monkeypatch, created, [{'access_token': token, 'expires_in': 86399}])
    monkeypatch.setenv('IDENTITY_ENDPOINT', 'http://127.0.0.1:9/msi/token')
    monkeypatch.setenv('IDENTITY_HEADER', 'h')
    method = bound(choose({'auth_method': 'managed_identity', 'managed_identity_client_id': MI_CLIENT},
                          scope='https://api.securitycenter.microsoft.com/.default'), tmp_path, clock, sunk.append)
    assert method.identity == (None, MI_CLIENT)
    assert method.get() == token and method.get() == token
    assert len(created) == 1
    assert created[0]['resource'] == 'https://api.securitycenter.microsoft.com'
    assert created[0]['identity'] == {'ManagedIdentityIdType': 'ClientId', 'Id': MI_CLIENT}
    assert isinstance(created[0]['http_client'], _auth.LocalTransport)
    assert method.identity == ('tenant-mi', MI_CLIENT)  # the rate budget of the identity's app
    assert sunk == [token, token]
    assert method.endpoint == 'http://127.0.0.1:9/msi/token'


def test_managed_identity_is_system_assigned_by_default_and_keyed_by_endpoint_and_identity(tmp_path, monkeypatch):
    created, clock = [], FakeClock()
    fake_msal(monkeypatch, created, [{'access_token': mi_token(), 'expires_in': 3599}])
    monkeypatch.delenv('IDENTITY_ENDPOINT', raising=False)
    monkeypatch.setenv('AZURE_POD_IDENTITY_AUTHORITY_HOST', 'http://127.0.0.1:9/')
    system = bound(choose({'auth_method': 'managed_identity'}), tmp_path, clock)
    user = bound(choose({'auth_method': 'managed_identity', 'managed_identity_client_id': MI_CLIENT}), tmp_path, clock)
    assert system.endpoint == 'http://127.0.0.1:9/metadata/identity/oauth2/token'
    system.get()
    assert created[0]['identity'] == {'ManagedIdentityIdType': 'SystemAssigned'}
    assert system.key != user.key
    monkeypatch.setenv('AZURE_POD_IDENTITY_AUTHORITY_HOST', 'http://127.0.0.2')
    assert bound(choose({'auth_method': 'managed_identity'}), tmp_path, clock).key != system.key


def test_an_old_msal_is_named_before_any_request(tmp_path, monkeypatch):
    created, clock = [], FakeClock()
    fake_msal(monkeypatch, created, [], version='1.28.0', with_mi=False)
    method = bound(choose({'auth_method': 'managed_identity'}), tmp_path, clock)
    with pytest.raises(MdeError) as info:
        method.get()
    assert info.value.kind == 'config' and 'msal 1.28.0 is installed' in info.value.msg and 'msal>=1.29' in info.value.msg
    assert created == []


@pytest.mark.parametrize('params, settings, says', [
    ({'managed_identity_client_id': 'my-identity'}, {}, 'managed_identity_client_id (MDE_MANAGED_IDENTITY_CLIENT_ID)'),
    ({}, {'scope': 'https://api.securitycenter.microsoft.com'}, 'must end in /.default'),
])
def test_bad_managed_identity_input_fails_before_any_request(params, settings, says):
    with pytest.raises(MdeError) as info:
        choose(dict(params, auth_method='managed_identity'), **settings)
    assert info.value.kind == 'config' and says in info.value.msg


def test_a_refusal_of_the_endpoint_names_the_identity(tmp_path, monkeypatch):
    created, clock = [], FakeClock()
    fake_msal(monkeypatch, created, [{'error': 'invalid_request', 'error_description': 'Identity not found'}])
    monkeypatch.setenv('AZURE_POD_IDENTITY_AUTHORITY_HOST', 'http://127.0.0.1:9')
    method = bound(choose({'auth_method': 'managed_identity', 'managed_identity_client_id': MI_CLIENT}), tmp_path, clock)
    with pytest.raises(MdeError) as info:
        method.get()
    assert info.value.kind == 'auth' and 'Identity not found' in info.value.msg
    assert MI_CLIENT in info.value.msg and 'managed_identity_client_id' in info.value.msg


def test_the_endpoint_is_never_asked_through_a_proxy_and_connects_at_once_or_not():
    calls = []

    class Session:
        def get(self, url, **kwargs):
            calls.append(kwargs)
            return make_response(200, {})

        post = get

    transport = _auth.LocalTransport(Session(), FakeClock(), timeout=30.0)
    transport.get('http://169.254.169.254/metadata/identity/oauth2/token', params={'resource': 'r'})
    assert calls[0]['proxy'] is False
    assert calls[0]['timeout'] == (5.0, 30.0)  # off Azure the link-local address drops the packets: fail fast
    assert calls[0]['params'] == {'resource': 'r'}
    transport.post('http://127.0.0.1:40342/metadata/identity/oauth2/token', data={'resource': 'r'}, proxy=True)
    assert calls[1]['proxy'] is False and calls[1]['timeout'] == (5.0, 30.0)


# import cost ------------------------------------------------------------------------------------

WARM = r'''
import sys
from ansible_collections.defender.endpoint.plugins.module_utils import _auth
from ansible_collections.defender.endpoint.plugins.module_utils._token_cache import TokenCache
from types import SimpleNamespace
settings = SimpleNamespace(tenant_id='t', client_id='c', scope='https://api.test/.default', authority_host='https://login.test',
                           timeout=30.0, max_retries=1, max_wait=1.0)
assert 'msal' not in sys.modules and 'cryptography' not in sys.modules, 'imported by _auth'
for params in ({'client_secret': 's'}, {'federated_token': 'a.b.c'}, {'auth_method': 'managed_identity'}):
    method = _auth.choose_auth_method(settings, params).bind(None, None, cache=TokenCache(folder=sys.argv[1]))
    TokenCache(folder=sys.argv[1]).put(method.key, 'cached-token', 3599)
    assert method.get() == 'cached-token'
print(sorted(m for m in ('msal', 'cryptography') if m in sys.modules))
'''


def test_neither_msal_nor_cryptography_is_imported_by_auth_or_a_warm_cache(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.check_output([sys.executable, '-c', WARM, str(tmp_path)], env=env)
    assert out.decode().strip() == '[]'
