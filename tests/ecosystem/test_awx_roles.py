# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The containment role's AWX job template (roles/containment/README.md), run the way AWX runs it: the
playbook of the README as written, the survey's answers as extra variables, the connection only from the
shipped credential type's injectors (awx_inject.py), ansible-runner, the collection installed from its
Galaxy tarball. What happened is read from the emulator's request log and state."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid

import ansible_runner

import awx_inject
from conftest import REPO_ROOT, clean_env, last_seq

CREDENTIAL_TYPE = os.path.join(REPO_ROOT, 'extensions', 'awx', 'credential_type_mde.yml')
README = os.path.join(REPO_ROOT, 'roles', 'containment', 'README.md')
WEB = '7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a'
DB = '4b8e1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b'


def job_template_playbook():
    with open(README, encoding='utf-8') as handle:
        text = handle.read()
    section = text[text.index('## AWX job template'):]
    return re.search(r'```yaml\n(.*?)```', section, re.S).group(1)


def test_containment_job_template(emulator, built_collection, tmp_path, monkeypatch):
    settings, control = emulator
    default = settings['apps']['default']
    with open(settings['ca_path'], encoding='utf-8') as handle:
        ca_bundle = handle.read()
    inputs = {'tenant_id': settings['tenant_id'], 'client_id': default['client_id'], 'client_secret': default['client_secret'],
              'api_url': settings['api_url'], 'authority_host': settings['authority_host'], 'ca_bundle': ca_bundle,
              'cloud': 'commercial'}
    private_data_dir = tmp_path / 'job'
    (private_data_dir / 'project').mkdir(parents=True)
    (private_data_dir / 'project' / 'playbook.yml').write_text(job_template_playbook(), encoding='utf-8')
    awx_inject.inject(awx_inject.load(CREDENTIAL_TYPE), inputs, str(private_data_dir))
    control.reset('empty')
    mark = last_seq(control)
    for name in list(os.environ):
        if name.startswith(('MDE_', 'AZURE_', 'ANSIBLE_')):
            monkeypatch.delenv(name)
    for name, value in clean_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=built_collection['collections_path']).items():
        monkeypatch.setenv(name, value)
    incident = 'INC-AWX-%s' % uuid.uuid4().hex[:8]
    survey = {'machines_text': 'web-prod-01.contoso.com\n%s\n' % DB, 'incident': incident, 'containment_isolation_type': 'full',
              'containment_av_scan': 'none', 'collect_package': 'false', 'containment_poll_interval': 1}
    try:
        result = ansible_runner.run(private_data_dir=str(private_data_dir), playbook='playbook.yml', quiet=True, extravars=survey)
        stdout = result.stdout.read()
        assert (result.status, result.rc) == ('successful', 0), stdout
        assert default['client_secret'] not in stdout
        with open('/var/tmp/%s/containment-local.json' % incident, encoding='utf-8') as handle:
            report = json.load(handle)
    finally:
        shutil.rmtree('/var/tmp/%s' % incident, ignore_errors=True)
    expected = [(WEB, False, ['isolate', 'tag']), (DB, False, ['isolate', 'tag'])]
    assert [(e['machine_id'], e['failed'], sorted(e['steps'])) for e in report] == expected
    assert all(e['steps']['isolate']['status'] == 'Succeeded' for e in report)
    log = control.requests(since=mark)['requests']
    posts = sorted((r['api'], r['path'].split('/')[3]) for r in log if r['host'] == 'api' and r['method'] == 'POST')
    assert posts == sorted([('isolate', WEB), ('isolate', DB), ('machine_tags', WEB), ('machine_tags', DB)])
    assert len([r for r in log if r['host'] == 'login' and r['method'] == 'POST']) == 1
    machines = {m['id']: m for m in control.state()['machines']}
    assert incident in machines[WEB]['machineTags'] and machines[DB]['_state'].get('isolated')
