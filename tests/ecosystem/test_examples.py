# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every module's EXAMPLES block runs against the emulator's demo seed, from the installed tarball.

One playbook per module: the EXAMPLES tasks as they are, in a play on localhost, with the connection from the
MDE_* environment variables only (the emulator's, as a credential would set them) and the emulator reset to
the demo seed first. Launch examples really launch (against the emulator). A module whose examples cannot run
says so on the first line of its EXAMPLES: `# not runnable: REASON`; `# check mode: REASON` runs them with
--check. Variables the examples take from the reader (a list of machine IDs, an action ID registered
elsewhere, vault variables) come from EXAMPLE_VARS, with values of the demo seed."""

from __future__ import annotations

import ast
import os
import re
import time

import pytest
import yaml

from conftest import ECO_BIN, INVENTORY_LINE, REPO_ROOT, recap, run, user_env

MODULES_DIR = os.path.join(REPO_ROOT, 'plugins', 'modules')
MODULES = sorted(name[:-3] for name in os.listdir(MODULES_DIR) if name.startswith('mde_') and name.endswith('.py'))

LT = '1e5bc9d7e413ddd7902c2932e418702b84d0cc07'      # lt-0412.contoso.com, Active
WEB = '7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a'     # web-prod-01.contoso.com (quarantine is for Windows machines)
ENV = "{{ lookup('ansible.builtin.env', '%s') }}"
# What the examples leave to the reader, from the demo seed (tests/emulator/mde_emulator/seeds.py).
EXAMPLE_VARS = {
    'mde_machine_action_cancel': {
        'isolation_action_id': '5b7d2f90-4c1e-4e8a-9f3b-2a6c8e0d1f47',   # pending isolation of the old lt-0412 record
        # the example's module_defaults read these (vault variables in real life)
        'mde_tenant_id': ENV % 'MDE_TENANT_ID', 'mde_client_id': ENV % 'MDE_CLIENT_ID',
        'mde_client_secret': ENV % 'MDE_CLIENT_SECRET',
    },
    'mde_machine_file_quarantine': {'affected_machine_ids': [LT, WEB]},
    # an alert's time: within the last 30 days whenever the test runs (lt-0412 is Active, seen with its address since 2024)
    'mde_machine_info': {'alert_time': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(time.time() - 2 * 3600))},
}


def examples_of(module):
    """The EXAMPLES string of a module, read from its source (not imported)."""
    with open(os.path.join(MODULES_DIR, module + '.py'), encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, 'id', None) for t in node.targets] == ['EXAMPLES']:
            return node.value.value
    raise AssertionError('%s has no EXAMPLES' % module)


def header_mark(examples, kind):
    """`# not runnable: REASON` / `# check mode: REASON` among the comment lines that open EXAMPLES."""
    for line in examples.strip().splitlines():
        if not line.startswith('#'):
            break
        found = re.match(r'#\s*%s:\s*(.*)$' % kind, line)
        if found:
            assert found.group(1).strip(), 'a "# %s:" line must give the reason' % kind
            return found.group(1).strip()
    return None


@pytest.mark.parametrize('module', MODULES)
def test_examples_run_against_the_demo_seed(module, demo_emulator, built_collection, tmp_path):
    examples = examples_of(module)
    reason = header_mark(examples, 'not runnable')
    if reason:
        pytest.skip('%s EXAMPLES marked not runnable: %s' % (module, reason))
    tasks = yaml.safe_load(examples)
    assert isinstance(tasks, list) and tasks and all('hosts' not in t for t in tasks), \
        '%s: EXAMPLES must be a list of tasks' % module
    assert any('defender.endpoint.%s' % module in yaml.safe_dump(t) for t in tasks), module
    settings, control = demo_emulator
    control.reset('demo', realign_clock=True)  # the examples' times are the controller's (mde_machine_info seen_at: 30 days)
    mark = control.mark()
    play = [{'name': 'EXAMPLES of %s' % module, 'hosts': 'localhost', 'gather_facts': False,
             'vars': EXAMPLE_VARS.get(module, {}), 'tasks': tasks}]
    playbook, inventory = tmp_path / 'examples.yml', tmp_path / 'inventory'
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    inventory.write_text(INVENTORY_LINE)
    home = tmp_path / 'home'
    home.mkdir()
    env = user_env(home, settings, ANSIBLE_COLLECTIONS_PATH=built_collection['collections_path'],
                   ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false')
    cmd = [os.path.join(ECO_BIN, 'ansible-playbook'), '-i', str(inventory), str(playbook)]
    if header_mark(examples, 'check mode'):
        cmd.append('--check')
    out = run(cmd, env=env, cwd=str(tmp_path))
    assert '[WARNING]' not in out, out
    counts = recap(out)
    assert counts.get('failed', 0) == 0 and counts.get('ok', 0) >= len(tasks), (counts, out)
    # every example task ran (none skipped), and the module's calls reached the emulator from our app
    for task in tasks:
        for name in [t['name'] for t in task['block']] if 'block' in task else [task['name']]:
            assert 'TASK [%s]' % name in out, (name, out)
    api = [r for r in control.log(mark) if r['host'] == 'api']
    assert api and {r['client_id'] for r in api} == {settings['apps']['default']['client_id']}, api
