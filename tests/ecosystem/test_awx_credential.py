# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AWX credential type (extensions/awx/credential_type_mde.yml), tested the way AWX runs jobs:
the shipped file's injectors are rendered as AWX renders them (awx_inject.py: private files for
the certificate and CA bundle, tower.filename.* substituted, env/envvars for ansible-runner), and
ansible-runner runs a playbook with no connection options against the emulator. What happened is
read from the emulator's request log and state, not from the modules."""

from __future__ import annotations

import json
import os
import re
import stat

import ansible_runner
import pytest

import awx_inject
from conftest import ECO_BIN, REPO_ROOT, clean_env, last_seq, new_pending_action, run

CREDENTIAL_TYPE = os.path.join(REPO_ROOT, 'extensions', 'awx', 'credential_type_mde.yml')
PLAYBOOK = os.path.join(REPO_ROOT, 'tests', 'ecosystem', 'playbooks', 'cancel_env_only.yml')
GUIDE = os.path.join(REPO_ROOT, 'docs', 'docsite', 'rst', 'guide_awx.rst')

# design.md's environment variables, one per input of the issue
ENV_OF_INPUT = {
    'tenant_id': 'MDE_TENANT_ID', 'client_id': 'MDE_CLIENT_ID', 'client_secret': 'MDE_CLIENT_SECRET',
    'client_certificate': 'MDE_CLIENT_CERTIFICATE_PATH', 'client_certificate_password': 'MDE_CLIENT_CERTIFICATE_PASSWORD',
    'cloud': 'MDE_CLOUD', 'api_url': 'MDE_API_URL', 'authority_host': 'MDE_AUTHORITY_HOST', 'ca_bundle': 'MDE_CA_PATH',
    'rate_limit_per_minute': 'MDE_RATE_LIMIT_PER_MINUTE', 'rate_limit_per_hour': 'MDE_RATE_LIMIT_PER_HOUR',
    'rate_limit_backend': 'MDE_RATE_LIMIT_BACKEND', 'redis_url': 'MDE_REDIS_URL',
    'auth_method': 'MDE_AUTH_METHOD', 'federated_token_file': 'MDE_FEDERATED_TOKEN_FILE',
    'managed_identity_client_id': 'MDE_MANAGED_IDENTITY_CLIENT_ID',
}


@pytest.fixture(scope='module')
def credential_type():
    return awx_inject.load(CREDENTIAL_TYPE)


def read(path):
    with open(path, encoding='utf-8') as handle:
        return handle.read()


def test_awx_would_accept_it(credential_type):
    awx_inject.validate(credential_type)
    assert set(credential_type) == {'name', 'description', 'kind', 'inputs', 'injectors'}
    assert credential_type['kind'] == 'cloud'
    fields = {field['id']: field for field in credential_type['inputs']['fields']}
    assert set(fields) == set(ENV_OF_INPUT)
    assert set(credential_type['injectors']['env']) == set(ENV_OF_INPUT.values())
    assert set(credential_type['injectors']['file']) == {'template.client_certificate', 'template.ca_bundle'}
    for secret in ('client_secret', 'client_certificate', 'client_certificate_password', 'redis_url'):
        assert fields[secret].get('secret') is True, secret
    assert credential_type['inputs']['required'] == []  # managed identity needs neither tenant_id nor client_id


def test_modules_read_every_injected_variable(credential_type):
    """Every injected variable is a fallback the connection options document (doc fragment)."""
    fragment = read(os.path.join(REPO_ROOT, 'plugins', 'doc_fragments', 'connection.py'))
    for env_var in credential_type['injectors']['env']:
        assert 'E(%s)' % env_var in fragment or env_var in fragment, env_var


def test_guide_matches_the_file(credential_type):
    """The AWX guide's table lists the file's inputs and what they become (the file stays the source)."""
    guide = read(GUIDE)
    rows = re.findall(r'\* - ``(\w+)``[^\n]*\n\s+- [^\n]*?``(MDE_\w+)``', guide)
    assert dict(rows) == ENV_OF_INPUT


def test_empty_inputs_inject_nothing_usable(credential_type, tmp_path):
    env = awx_inject.inject(credential_type, {'tenant_id': 't', 'client_id': 'c', 'client_secret': 's'}, str(tmp_path))
    assert env['MDE_CLIENT_CERTIFICATE_PATH'] == '' and env['MDE_CA_PATH'] == ''
    assert env['MDE_CLOUD'] == 'commercial'
    assert env['MDE_API_URL'] == '' and env['MDE_CLIENT_CERTIFICATE_PASSWORD'] == ''
    # AWX renders every env injector: empty rate limits arrive as empty variables (the modules then use 100 / 1500;
    # the certificate jobs below run with them empty)
    assert env['MDE_RATE_LIMIT_PER_MINUTE'] == '' and env['MDE_RATE_LIMIT_PER_HOUR'] == ''


def test_rate_limits_are_injected_when_set(credential_type, tmp_path):
    env = awx_inject.inject(credential_type, {'tenant_id': 't', 'client_id': 'c', 'client_secret': 's',
                                              'rate_limit_per_minute': '50', 'rate_limit_per_hour': '700'}, str(tmp_path))
    assert env['MDE_RATE_LIMIT_PER_MINUTE'] == '50' and env['MDE_RATE_LIMIT_PER_HOUR'] == '700'


@pytest.mark.parametrize('given, backend', [({}, ''), ({'redis_url': 'rediss://:pw@redis.example.com:6380/0'}, 'redis'),
                                            ({'redis_url': 'redis://r:6379/0', 'rate_limit_backend': 'file'}, 'file')])
def test_redis_backend_follows_the_url_unless_chosen(credential_type, tmp_path, given, backend):
    env = awx_inject.inject(credential_type, dict({'tenant_id': 't', 'client_id': 'c', 'client_secret': 's'}, **given), str(tmp_path))
    assert env['MDE_RATE_LIMIT_BACKEND'] == backend and env['MDE_REDIS_URL'] == given.get('redis_url', '')


def test_lookup_keeps_the_templates(credential_type, tmp_path):
    """The guide's way of feeding awx.awx.credential_type (file lookup + from_yaml) hands the injector
    templates over untouched: Ansible must not render {{ tenant_id }} or tower.filename.* itself."""
    out_file = tmp_path / 'seen.json'
    playbook = tmp_path / 'load.yml'
    playbook.write_text('''---
- name: Load the credential type as the AWX guide does
  hosts: localhost
  gather_facts: false
  vars:
    mde_credential_type: "{{ lookup('ansible.builtin.file', mde_credential_type_file) | ansible.builtin.from_yaml }}"
  tasks:
    - name: Write what awx.awx.credential_type would receive
      ansible.builtin.copy:
        content: "{{ {'inputs': mde_credential_type.inputs, 'injectors': mde_credential_type.injectors} | to_json }}"
        dest: "{{ out_file }}"
        mode: "0600"
''', encoding='utf-8')
    run([os.path.join(ECO_BIN, 'ansible-playbook'), str(playbook), '-e',
         json.dumps({'mde_credential_type_file': CREDENTIAL_TYPE, 'out_file': str(out_file)})],
        env=clean_env(tmp_path), cwd=str(tmp_path))
    seen = json.loads(out_file.read_text(encoding='utf-8'))
    assert seen == {'inputs': credential_type['inputs'], 'injectors': credential_type['injectors']}


def _cases(settings):
    default, cert = settings['apps']['default'], settings['apps']['cert']
    common = {'tenant_id': settings['tenant_id'], 'api_url': settings['api_url'],
              'authority_host': settings['authority_host'], 'ca_bundle': read(settings['ca_path'])}
    return {
        'client_secret': (default['client_id'], dict(common, client_id=default['client_id'],
                                                     client_secret=default['client_secret'], cloud='commercial',
                                                     rate_limit_per_minute='50', rate_limit_per_hour='700')),
        'certificate_pem': (cert['client_id'], dict(common, client_id=cert['client_id'],
                                                    client_certificate=read(cert['certificate_path']))),
        'certificate_encrypted_pem_and_password': (cert['client_id'], dict(
            common, client_id=cert['client_id'], client_certificate=read(cert['certificate_pem_encrypted_path']),
            client_certificate_password=cert['certificate_password'])),
    }


@pytest.mark.parametrize('case', ['client_secret', 'certificate_pem', 'certificate_encrypted_pem_and_password'])
def test_job_through_ansible_runner(case, credential_type, emulator, built_collection, tmp_path, monkeypatch):
    settings, control = emulator
    client_id, inputs = _cases(settings)[case]
    private_data_dir = tmp_path / 'job'
    (private_data_dir / 'project').mkdir(parents=True)
    (private_data_dir / 'project' / 'playbook.yml').write_text(read(PLAYBOOK), encoding='utf-8')
    env = awx_inject.inject(credential_type, inputs, str(private_data_dir))

    # the files AWX writes: private, holding the inputs, named in the variables
    if 'client_certificate' in inputs:
        cert_file = env['MDE_CLIENT_CERTIFICATE_PATH']
        assert cert_file.startswith(str(private_data_dir / 'env') + os.sep)
        assert read(cert_file) == inputs['client_certificate']
        assert stat.S_IMODE(os.stat(cert_file).st_mode) == 0o600
    else:
        assert env['MDE_CLIENT_CERTIFICATE_PATH'] == ''
    assert read(env['MDE_CA_PATH']) == inputs['ca_bundle']

    action = new_pending_action(control, comment='awx %s' % case)
    mark = last_seq(control)
    # the rest of the job's environment: no MDE_*/AZURE_*/ANSIBLE_* from outside, a fresh token cache (a new
    # job container), the collection as an execution environment has it (installed from the tarball)
    for name in list(os.environ):
        if name.startswith(('MDE_', 'AZURE_', 'ANSIBLE_')):
            monkeypatch.delenv(name)
    for name, value in clean_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=built_collection['collections_path']).items():
        monkeypatch.setenv(name, value)
    comment = 'cancelled by an AWX job (%s)' % case
    result = ansible_runner.run(private_data_dir=str(private_data_dir), playbook='playbook.yml', quiet=True,
                                extravars={'eco_action_id': action['id'], 'eco_comment': comment})
    stdout = result.stdout.read()
    assert (result.status, result.rc) == ('successful', 0), stdout

    state = control.action(action['id'])
    assert state['status'] == 'Cancelled' and state['cancellationComment'] == comment, state
    log = control.requests(since=mark)['requests']
    token_calls = [r for r in log if r['host'] == 'login' and r['method'] == 'POST']
    assert len(token_calls) == 1, log
    form = token_calls[0]['body']
    assert token_calls[0]['client_id'] == client_id
    if case == 'client_secret':
        assert 'client_secret' in str(form) and 'client_assertion' not in str(form)
    else:
        assert 'client_assertion' in str(form) and 'client_secret' not in str(form)
    api = [r for r in log if r['host'] == 'api']
    cancels = [r for r in api if r['api'] == 'cancel_action']
    assert len(cancels) == 1 and cancels[0]['status'] == 200, api
    assert {r['client_id'] for r in api} == {client_id}
    for secret in (inputs.get('client_secret'), inputs.get('client_certificate_password')):
        if secret:
            assert secret not in stdout


def test_job_with_the_builtin_azure_credential(emulator, built_collection, tmp_path, monkeypatch):
    """AWX's built-in "Microsoft Azure Resource Manager" credential, unchanged: the modules read its
    AZURE_CLIENT_ID, AZURE_TENANT and AZURE_SECRET (the azure.azcollection names)."""
    settings, control = emulator
    default = settings['apps']['default']
    private_data_dir = tmp_path / 'job'
    (private_data_dir / 'project').mkdir(parents=True)
    (private_data_dir / 'project' / 'playbook.yml').write_text(read(PLAYBOOK), encoding='utf-8')
    env = awx_inject.inject_azure_rm({'subscription': '00000000-0000-0000-0000-000000000000', 'client': default['client_id'],
                                      'tenant': settings['tenant_id'], 'secret': default['client_secret']},
                                     str(private_data_dir))
    assert set(env) == {'AZURE_SUBSCRIPTION_ID', 'AZURE_CLIENT_ID', 'AZURE_TENANT', 'AZURE_SECRET'}
    # Only for the emulator: a real tenant needs none of these three (the commercial cloud's hosts and the
    # system's CA certificates are the defaults); they point the job at the emulator and its private CA.
    env.update(MDE_API_URL=settings['api_url'], MDE_AUTHORITY_HOST=settings['authority_host'], MDE_CA_PATH=settings['ca_path'])
    awx_inject.write_envvars(env, str(private_data_dir))

    action = new_pending_action(control, comment='awx azure_rm')
    mark = last_seq(control)
    for name in list(os.environ):
        if name.startswith(('MDE_', 'AZURE_', 'ANSIBLE_')):
            monkeypatch.delenv(name)
    for name, value in clean_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=built_collection['collections_path']).items():
        monkeypatch.setenv(name, value)
    comment = 'cancelled by an AWX job (built-in Azure credential)'
    result = ansible_runner.run(private_data_dir=str(private_data_dir), playbook='playbook.yml', quiet=True,
                                extravars={'eco_action_id': action['id'], 'eco_comment': comment})
    stdout = result.stdout.read()
    assert (result.status, result.rc) == ('successful', 0), stdout

    state = control.action(action['id'])
    assert state['status'] == 'Cancelled' and state['cancellationComment'] == comment, state
    log = control.requests(since=mark)['requests']
    token_calls = [r for r in log if r['host'] == 'login' and r['method'] == 'POST']
    assert len(token_calls) == 1 and token_calls[0]['client_id'] == default['client_id'], log
    assert 'client_secret' in str(token_calls[0]['body'])
    assert {r['client_id'] for r in log if r['host'] == 'api'} == {default['client_id']}
    assert default['client_secret'] not in stdout
