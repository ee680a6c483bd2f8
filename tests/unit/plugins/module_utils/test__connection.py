# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from unittest import mock

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.defender.endpoint.plugins.module_utils import _auth
from ansible_collections.defender.endpoint.plugins.module_utils._clouds import CLOUDS
from ansible_collections.defender.endpoint.plugins.module_utils._connection import CONNECTION_ARGSPEC, Settings
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError

SECRET = 'sup3r-s3cret-value'


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith('MDE_') or name.startswith('AZURE_'):
            monkeypatch.delenv(name)


class CertLoader:

    def __init__(self):
        self.calls = []

    def __call__(self, path, password):
        self.calls.append((path, password))
        return {'private_key': 'KEY', 'public_certificate': 'CERT'}, 'cert-fingerprint'


def params(**given):
    result = ArgumentSpecValidator(CONNECTION_ARGSPEC).validate(given)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def chosen(loader=None, **given):
    """The auth method picked for these options (the certificate loader replaced by ``loader``), after Settings."""
    p = params(**given)
    with mock.patch.object(_auth, 'load_certificate', loader or CertLoader()):
        return _auth.choose_auth_method(Settings(p), p)


def settings(loader=None, **given):
    return chosen(loader, **given).settings


def config_failure(loader=None, **given):
    with pytest.raises(MdeError) as info:
        chosen(loader, **given)
    assert info.value.kind == 'config'
    assert SECRET not in info.value.msg
    return info.value.msg


SECRET_CREDS = dict(tenant_id='contoso.onmicrosoft.com', client_id='11111111-2222-3333-4444-555555555555', client_secret=SECRET)


# Credentials ---------------------------------------------------------------------------------

def test_missing_credentials_names_options_and_env_vars():
    msg = config_failure()
    for name in ('access_token', 'MDE_ACCESS_TOKEN', 'tenant_id', 'MDE_TENANT_ID', 'AZURE_TENANT_ID', 'client_id', 'MDE_CLIENT_ID',
                 'AZURE_CLIENT_ID', 'client_secret', 'MDE_CLIENT_SECRET', 'AZURE_CLIENT_SECRET', 'client_certificate_path',
                 'MDE_CLIENT_CERTIFICATE_PATH', 'AZURE_CLIENT_CERTIFICATE_PATH'):
        assert name in msg


def test_access_token_wins_over_certificate_and_secret():
    loader = CertLoader()
    m = chosen(loader, access_token='Bearer eyJ0eXAi.abc.def', client_certificate_path='/x/cert.pem', **SECRET_CREDS)
    assert m.name == 'access_token'
    assert m.access_token == 'eyJ0eXAi.abc.def'
    assert loader.calls == []
    assert not hasattr(m, 'credential')


def test_access_token_alone_needs_no_tenant_or_client():
    m = chosen(access_token='tok')
    assert m.name == 'access_token' and m.settings.tenant_id is None and m.settings.client_id is None


def test_certificate_wins_over_secret():
    loader = CertLoader()
    m = chosen(loader, client_certificate_path='/x/cert.pem', client_certificate_password='pw', **SECRET_CREDS)
    assert m.name == 'certificate'
    assert loader.calls == [('/x/cert.pem', 'pw')]
    assert m.credential == {'private_key': 'KEY', 'public_certificate': 'CERT'}
    assert m.fingerprint == 'cert-fingerprint'


def test_secret():
    m = chosen(**SECRET_CREDS)
    assert m.name == 'client_secret'
    assert m.credential == SECRET
    assert m.fingerprint == _auth.secret_fingerprint(SECRET)
    assert SECRET not in m.fingerprint
    assert m.settings.authority == 'https://login.microsoftonline.com/contoso.onmicrosoft.com'


def test_certificate_errors_surface():
    def failing_loader(path, password):
        raise MdeError('client_certificate_path %s cannot be read' % path, kind='config')
    msg = config_failure(failing_loader, client_certificate_path='/x/missing.pem', tenant_id='t', client_id='c')
    assert 'client_certificate_path /x/missing.pem' in msg


@pytest.mark.parametrize('missing, present', [('tenant_id', 'client_id'), ('client_id', 'tenant_id')])
def test_tenant_or_client_missing_with_secret(missing, present):
    msg = config_failure(client_secret=SECRET, **{present: 'value'})
    env = {'tenant_id': 'MDE_TENANT_ID or AZURE_TENANT_ID', 'client_id': 'MDE_CLIENT_ID or AZURE_CLIENT_ID'}[missing]
    assert '%s (%s)' % (missing, env) in msg
    assert present + ' (' not in msg
    assert 'client_secret' in msg


def test_tenant_and_client_missing_with_certificate():
    loader = CertLoader()
    msg = config_failure(loader, client_certificate_path='/x/cert.pem')
    assert 'tenant_id' in msg and 'client_id' in msg and 'client_certificate_path' in msg
    assert loader.calls == []


def test_blank_tenant_counts_as_missing():
    msg = config_failure(tenant_id='   ', client_id='c', client_secret=SECRET)
    assert 'tenant_id' in msg


def test_tenant_id_with_odd_characters_is_refused():
    msg = config_failure(tenant_id='contoso/../x', client_id='c', client_secret=SECRET)
    assert 'tenant_id' in msg and 'contoso/../x' in msg


# URLs, clouds, TLS ---------------------------------------------------------------------------

def test_defaults_from_commercial_cloud():
    s = settings(**SECRET_CREDS)
    assert s.api_url == CLOUDS['commercial']['api_url']
    assert s.authority_host == CLOUDS['commercial']['authority_host']
    assert s.scope == CLOUDS['commercial']['scope']
    assert s.verify is True and s.validate_certs is True
    assert (s.timeout, s.max_retries, s.max_wait) == (30.0, 5, 60.0)


@pytest.mark.parametrize('cloud', ['gcc', 'gcc_high', 'dod'])
def test_cloud_picks_hosts_and_scope(cloud):
    s = settings(cloud=cloud, **SECRET_CREDS)
    assert s.api_url == CLOUDS[cloud]['api_url']
    assert s.authority_host == CLOUDS[cloud]['authority_host']
    assert s.scope == CLOUDS[cloud]['scope']


def test_scope_comes_from_cloud_never_from_api_url():
    s = settings(api_url='https://eu.api.security.microsoft.com', **SECRET_CREDS)
    assert s.api_url == 'https://eu.api.security.microsoft.com'
    assert s.scope == CLOUDS['commercial']['scope']


@pytest.mark.parametrize('given, expected', [
    ('https://eu.api.security.microsoft.com/api', 'https://eu.api.security.microsoft.com'),
    ('https://eu.api.security.microsoft.com/api/', 'https://eu.api.security.microsoft.com'),
    ('https://127.0.0.1:8443/API', 'https://127.0.0.1:8443'),
    ('https://localhost:8443/', 'https://localhost:8443'),
])
def test_api_url_normalised(given, expected):
    assert settings(api_url=given, **SECRET_CREDS).api_url == expected


@pytest.mark.parametrize('option, env', [('api_url', 'MDE_API_URL'), ('authority_host', 'MDE_AUTHORITY_HOST')])
@pytest.mark.parametrize('value', ['http://api.example.com', 'api.example.com', 'ftp://api.example.com', 'https://'])
def test_non_https_urls_are_refused(option, env, value):
    msg = config_failure(**dict(SECRET_CREDS, **{option: value}))
    assert option in msg and env in msg and 'https://' in msg


@pytest.mark.parametrize('value', ['https://user:pw@api.example.com', 'https://api.example.com?x=1', 'https://api.example.com:99999'])
def test_urls_with_extras_or_bad_port_are_refused(value):
    msg = config_failure(api_url=value, **SECRET_CREDS)
    assert 'api_url' in msg


def test_ca_path_and_validate_certs(tmp_path):
    ca = str(tmp_path / 'ca.pem')
    open(ca, 'w').close()
    assert settings(ca_path=ca, **SECRET_CREDS).verify == ca
    s = settings(ca_path=ca, validate_certs=False, **SECRET_CREDS)
    assert s.verify is False and s.validate_certs is False


def test_missing_ca_path_fails_before_any_request():
    with pytest.raises(MdeError, match=r'ca_path \(MDE_CA_PATH\) /nonexistent/ca.pem does not exist'):
        settings(ca_path='/nonexistent/ca.pem', **SECRET_CREDS)


@pytest.mark.parametrize('token', ['   ', 'Bearer ', 'bearer   '])
def test_access_token_without_a_token_fails(token):
    with pytest.raises(MdeError, match='holds no usable token'):
        settings(access_token=token)


# Numeric bounds ------------------------------------------------------------------------------

@pytest.mark.parametrize('option, value, expected', [
    ('timeout', 0, 'timeout must be greater than 0'),
    ('timeout', -1, 'timeout must be greater than 0'),
    ('max_wait', 0, 'max_wait must be greater than 0'),
    ('poll_interval', -5, 'poll_interval must be greater than 0'),
    ('rate_limit_per_minute', 0, 'rate_limit_per_minute must be greater than 0'),
    ('rate_limit_per_hour', -1, 'rate_limit_per_hour must be greater than 0'),
    ('max_retries', -1, 'max_retries must be 0 or more'),
])
def test_bad_numeric_bounds(option, value, expected):
    msg = config_failure(**dict(SECRET_CREDS, **{option: value}))
    assert expected in msg


def test_zero_retries_is_allowed():
    assert settings(max_retries=0, **SECRET_CREDS).max_retries == 0


# Environment fallbacks -----------------------------------------------------------------------

@pytest.mark.parametrize('option, mde, azure', [
    ('tenant_id', 'MDE_TENANT_ID', 'AZURE_TENANT_ID'),
    ('client_id', 'MDE_CLIENT_ID', 'AZURE_CLIENT_ID'),
    ('client_secret', 'MDE_CLIENT_SECRET', 'AZURE_CLIENT_SECRET'),
    ('client_certificate_path', 'MDE_CLIENT_CERTIFICATE_PATH', 'AZURE_CLIENT_CERTIFICATE_PATH'),
    ('client_certificate_password', 'MDE_CLIENT_CERTIFICATE_PASSWORD', 'AZURE_CLIENT_CERTIFICATE_PASSWORD'),
    ('authority_host', 'MDE_AUTHORITY_HOST', 'AZURE_AUTHORITY_HOST'),
])
def test_env_precedence_option_then_mde_then_azure(monkeypatch, option, mde, azure):
    monkeypatch.setenv(azure, '/from-azure')
    assert params()[option] == '/from-azure'
    monkeypatch.setenv(mde, '/from-mde')
    assert params()[option] == '/from-mde'
    assert params(**{option: '/from-option'})[option] == '/from-option'


@pytest.mark.parametrize('option, env, value, expected', [
    ('access_token', 'MDE_ACCESS_TOKEN', 'tok', 'tok'),
    ('cloud', 'MDE_CLOUD', 'gcc_high', 'gcc_high'),
    ('api_url', 'MDE_API_URL', 'https://x.example', 'https://x.example'),
    ('scope', 'MDE_SCOPE', 'https://x/.default', 'https://x/.default'),
    ('validate_certs', 'MDE_VALIDATE_CERTS', 'false', False),
    ('ca_path', 'MDE_CA_PATH', '/etc/ca.pem', '/etc/ca.pem'),
    ('max_retries', 'MDE_MAX_RETRIES', '7', 7),
    ('max_wait', 'MDE_MAX_WAIT', '12.5', 12.5),
])
def test_env_only_options(monkeypatch, option, env, value, expected):
    monkeypatch.setenv(env, value)
    assert params()[option] == expected


@pytest.mark.parametrize('option, names', [
    ('tenant_id', ['MDE_TENANT_ID', 'AZURE_TENANT_ID', 'AZURE_TENANT']),
    ('client_secret', ['MDE_CLIENT_SECRET', 'AZURE_CLIENT_SECRET', 'AZURE_SECRET']),
])
def test_awx_azure_names_are_the_last_fallbacks(monkeypatch, option, names):
    """AZURE_TENANT / AZURE_SECRET (AWX's built-in Azure credential) count only when the others are unset."""
    for name in reversed(names):
        monkeypatch.setenv(name, 'from-%s' % name)
        assert params()[option] == 'from-%s' % name
    assert params(**{option: 'from-option'})[option] == 'from-option'


def test_builtin_azure_credential_alone_gives_a_secret_login(monkeypatch):
    """What AWX's "Microsoft Azure Resource Manager" credential injects is enough."""
    for name, value in (('AZURE_CLIENT_ID', 'c'), ('AZURE_TENANT', 't'), ('AZURE_SECRET', SECRET),
                        ('AZURE_SUBSCRIPTION_ID', 's')):
        monkeypatch.setenv(name, value)
    m = chosen()
    assert m.identity + (m.name, m.credential) == ('t', 'c', 'client_secret', SECRET)


@pytest.mark.parametrize('option, env, default', [
    ('rate_limit_per_minute', 'MDE_RATE_LIMIT_PER_MINUTE', 100),
    ('rate_limit_per_hour', 'MDE_RATE_LIMIT_PER_HOUR', 1500),
])
def test_rate_limits_from_env_and_empty_is_unset(monkeypatch, option, env, default):
    """An AWX credential injects an empty variable for an empty field: the default then."""
    monkeypatch.setenv(env, '')
    assert params()[option] == default
    monkeypatch.setenv(env, '50')
    assert params()[option] == 50
    assert Settings(params()).__dict__[option] == 50


def test_empty_variable_counts_as_unset_in_the_fallback_order(monkeypatch):
    monkeypatch.setenv('MDE_CLIENT_SECRET', '')
    monkeypatch.setenv('AZURE_CLIENT_SECRET', SECRET)
    assert params()['client_secret'] == SECRET


def test_each_option_resolves_on_its_own(monkeypatch):
    monkeypatch.setenv('AZURE_CLIENT_ID', 'client-from-env')
    monkeypatch.setenv('MDE_CLIENT_SECRET', SECRET)
    m = chosen(tenant_id='tenant-from-option')
    assert m.identity + (m.name, m.credential) == ('tenant-from-option', 'client-from-env', 'client_secret', SECRET)


def test_access_token_from_env_wins_over_secret_option(monkeypatch):
    monkeypatch.setenv('MDE_ACCESS_TOKEN', 'env-token')
    m = chosen(**SECRET_CREDS)
    assert m.name == 'access_token' and m.access_token == 'env-token'


def test_certificate_from_env_wins_over_secret_from_env(monkeypatch):
    loader = CertLoader()
    monkeypatch.setenv('AZURE_CLIENT_CERTIFICATE_PATH', '/env/cert.pfx')
    monkeypatch.setenv('MDE_CLIENT_SECRET', SECRET)
    monkeypatch.setenv('MDE_TENANT_ID', 't')
    monkeypatch.setenv('MDE_CLIENT_ID', 'c')
    m = chosen(loader)
    assert m.name == 'certificate'
    assert loader.calls == [('/env/cert.pfx', None)]


def test_env_secrets_are_no_log(monkeypatch):
    monkeypatch.setenv('MDE_CLIENT_SECRET', SECRET)
    result = ArgumentSpecValidator(CONNECTION_ARGSPEC).validate({})
    assert SECRET in result._no_log_values  # pylint: disable=protected-access


# The emulator's time scale: an environment variable of the tests, no option ---------------------

def test_time_scale_is_no_option():
    assert 'time_scale' not in CONNECTION_ARGSPEC


def test_time_scale_is_1_without_the_environment_variable():
    assert settings(**SECRET_CREDS).time_scale == 1.0


def test_time_scale_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv('MDE_TIME_SCALE', '60')
    assert settings(**SECRET_CREDS).time_scale == 60.0


@pytest.mark.parametrize('value', ['0', '-1', 'fast', 'nan', 'inf'])
def test_bad_time_scale_fails_before_any_request(monkeypatch, value):
    monkeypatch.setenv('MDE_TIME_SCALE', value)
    msg = config_failure(**SECRET_CREDS)
    assert 'MDE_TIME_SCALE must be a number greater than 0' in msg
