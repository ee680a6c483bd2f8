# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Galaxy: `ansible-galaxy collection build`, `install` into an empty folder, and a playbook run from that
install only (ANSIBLE_COLLECTIONS_PATH = the install folder, outside the checkout) against the emulator."""

from __future__ import annotations

import json
import os

from conftest import ECO_BIN, REPO_ROOT, clean_env, last_seq, new_pending_action, run

# What must never be in the tarball: virtualenvs, test output, emulator state (its CA keys and
# client secrets), caches, the docs build, test configs written from a running emulator.
FORBIDDEN_PREFIXES = ('.venv', '.emulator', '.cache', '.git', '.pytest_cache', '.ci', 'tests/output', 'docs/build',
                      'tests/integration/integration_config.yml', 'changelogs/.plugin-cache.yaml')
EXPECTED = ('MANIFEST.json', 'FILES.json', 'README.md', 'requirements.txt', 'meta/runtime.yml',
            'meta/execution-environment.yml', 'plugins/modules/mde_machine_action_cancel.py',
            'plugins/modules/mde_machine_action_info.py', 'plugins/doc_fragments/connection.py',
            'extensions/awx/credential_type_mde.yml', 'extensions/ee/execution-environment.yml',
            'docs/docsite/extra-docs.yml', 'docs/docsite/rst/guide_awx.rst', 'changelogs/changelog.yaml',
            # the emulator ships as a rehearsal tool (docs/docsite/rst/guide_emulator.rst runs it from an install)
            'tests/emulator/run_emulator.py', 'tests/emulator/requirements.txt', 'tests/emulator/README.md',
            'tests/emulator/mde_emulator/seeds.py', 'tests/utils/emulator_env.py')


def test_tarball_is_clean(built_collection):
    members = [name[2:] if name.startswith('./') else name for name in built_collection['members']]
    bad = [name for name in members
           if any(name == prefix or name.startswith(prefix + '/') for prefix in FORBIDDEN_PREFIXES)
           or '__pycache__' in name.split('/') or name.endswith(('.pyc', '.tar.gz'))]
    assert not bad, 'tarball holds files it must not: %s' % bad[:20]
    missing = [name for name in EXPECTED if name not in members]
    assert not missing, 'tarball lacks %s' % missing


def test_installed_collection_is_listed(built_collection, tmp_path):
    env = clean_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=built_collection['collections_path'])
    out = run([os.path.join(ECO_BIN, 'ansible-galaxy'), 'collection', 'list', 'defender.endpoint', '--format', 'json'],
              env=env, cwd=str(tmp_path))
    listed = json.loads(out)
    assert list(listed) == [os.path.join(built_collection['collections_path'], 'ansible_collections')]
    doc = json.loads(run([os.path.join(ECO_BIN, 'ansible-doc'), '--json', 'defender.endpoint.mde_machine_action_cancel'],
                         env=env, cwd=str(tmp_path)))
    filename = doc['defender.endpoint.mde_machine_action_cancel']['doc']['filename']
    assert filename.startswith(built_collection['root'] + os.sep), filename
    assert not filename.startswith(REPO_ROOT + os.sep)


def test_playbook_from_the_install(built_collection, emulator, tmp_path):
    settings, control = emulator
    action = new_pending_action(control, comment='galaxy install test')
    mark = last_seq(control)
    app = settings['apps']['default']
    env = clean_env(
        tmp_path,
        ANSIBLE_COLLECTIONS_PATH=built_collection['collections_path'],
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
        MDE_TENANT_ID=settings['tenant_id'], MDE_CLIENT_ID=app['client_id'], MDE_CLIENT_SECRET=app['client_secret'],
        MDE_API_URL=settings['api_url'], MDE_AUTHORITY_HOST=settings['authority_host'], MDE_CA_PATH=settings['ca_path'],
    )
    playbook = os.path.join(REPO_ROOT, 'tests', 'ecosystem', 'playbooks', 'cancel_env_only.yml')
    extra = json.dumps({'eco_action_id': action['id'], 'eco_comment': 'cancelled from the Galaxy install'})
    out = run([os.path.join(ECO_BIN, 'ansible-playbook'), playbook, '-e', extra], env=env, cwd=str(tmp_path))
    assert 'failed=0' in out, out

    # the emulator's own word: the action is cancelled with our comment, by our app
    state = control.action(action['id'])
    assert state['status'] == 'Cancelled', state
    assert state['cancellationComment'] == 'cancelled from the Galaxy install'
    log = control.requests(since=mark)['requests']
    cancels = [r for r in log if r['host'] == 'api' and r.get('api') == 'cancel_action']
    assert len(cancels) == 1 and cancels[0]['status'] == 200, log
    assert {r['client_id'] for r in log if r['host'] == 'api'} == {app['client_id']}
