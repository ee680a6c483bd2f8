# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared fixtures of the ecosystem tests: an emulator of their own, the collection built and
installed from its tarball, and a clean environment for ansible-playbook and ansible-runner.

Run with the ecosystem virtualenv (make ecosystem): its bin holds ansible-core, ansible-runner,
ansible-builder and antsibull-changelog. The emulator runs with the main virtualenv (.venv)."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tarfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ECO_BIN = os.path.dirname(os.path.abspath(sys.executable))
EMULATOR_PYTHON = os.environ.get('MDE_EMULATOR_PYTHON', os.path.join(REPO_ROOT, '.venv', 'bin', 'python'))
EMULATOR_WORKDIR = os.path.join(REPO_ROOT, '.emulator', 'ecosystem')

sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'emulator'))
from mde_emulator.client import EmulatorControl, load_settings  # noqa: E402  pylint: disable=wrong-import-position


def galaxy_meta():
    import yaml  # pylint: disable=import-outside-toplevel
    with open(os.path.join(REPO_ROOT, 'galaxy.yml'), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def clean_env(tmp_path, **extra):
    """The environment for a run: ours, without any MDE_*/AZURE_*/ANSIBLE_* setting, the ecosystem venv first
    on PATH, and a token cache of its own (as a fresh AWX job container has)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('MDE_', 'AZURE_', 'ANSIBLE_'))}
    env['PATH'] = ECO_BIN + os.pathsep + env.get('PATH', os.defpath)
    env['XDG_CACHE_HOME'] = str(tmp_path / 'xdg-cache')
    env['ANSIBLE_LOCALHOST_WARNING'] = 'false'
    env['ANSIBLE_INVENTORY_UNPARSED_WARNING'] = 'false'
    env['ANSIBLE_NOCOLOR'] = 'true'
    env.update(extra)
    return env


def run(cmd, **kwargs):
    """Run a command, capture its output, fail with it when the command fails."""
    kwargs.setdefault('cwd', REPO_ROOT)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          check=False, **kwargs)
    assert proc.returncode == 0, 'command %s failed (%d):\n%s' % (' '.join(cmd), proc.returncode, proc.stdout)
    return proc.stdout


@pytest.fixture(scope='session')
def emulator():
    """An emulator of our own (time scale 60, empty seed), stopped at the end of the session."""
    cmd = [EMULATOR_PYTHON, os.path.join(REPO_ROOT, 'tests', 'emulator', 'run_emulator.py')]
    run(cmd + ['stop', '--workdir', EMULATOR_WORKDIR])  # a leftover of an interrupted run
    run(cmd + ['start', '--workdir', EMULATOR_WORKDIR, '--time-scale', '60', '--seed', 'empty'])
    try:
        settings = load_settings(EMULATOR_WORKDIR)
        yield settings, EmulatorControl(settings['control_url'], settings['ca_path'])
    finally:
        run(cmd + ['stop', '--workdir', EMULATOR_WORKDIR])


@pytest.fixture(scope='session')
def built_collection(tmp_path_factory):
    """`ansible-galaxy collection build` of the checkout, then `install` of that tarball into an empty folder."""
    meta = galaxy_meta()
    out = tmp_path_factory.mktemp('galaxy-build')
    run([os.path.join(ECO_BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(out), REPO_ROOT])
    tarballs = glob.glob(str(out / '*.tar.gz'))
    assert [os.path.basename(t) for t in tarballs] == ['%s-%s-%s.tar.gz' % (meta['namespace'], meta['name'], meta['version'])]
    install = tmp_path_factory.mktemp('galaxy-install')
    run([os.path.join(ECO_BIN, 'ansible-galaxy'), 'collection', 'install', '-p', str(install), tarballs[0]],
        env=clean_env(install, ANSIBLE_COLLECTIONS_PATH=str(install)))
    with tarfile.open(tarballs[0]) as tar:
        members = tar.getnames()
    return {
        'tarball': tarballs[0],
        'members': members,
        'collections_path': str(install),
        'root': os.path.join(str(install), 'ansible_collections', meta['namespace'], meta['name']),
    }


def new_pending_action(control, machine_id='1e5bc9d7e413ddd7902c2932e418702b84d0cc07', comment='ecosystem test'):
    """An action in the emulator that stays Pending until something happens to it."""
    return control.add_action({
        'machineId': machine_id, 'type': 'RunAntiVirusScan', 'status': 'Pending', 'scope': 'Full',
        'requestorComment': comment, 'lifecycle': {'pending': 10000000, 'in_progress': 10000000, 'final': None},
    })


def last_seq(control):
    return control.requests(since=0)['last_seq']


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


# ---- the demo seed, for the docs' snippets and the modules' EXAMPLES (test_snippets.py, test_examples.py)
DEMO_EMULATOR_WORKDIR = os.path.join(REPO_ROOT, '.emulator', 'ecosystem-demo')
# 600 emulated seconds a real second: the demo seed's slow actions (a 2-hour package collection) end within
# seconds; the modules' rate budget follows MDE_TIME_SCALE, their polls MDE_POLL_INTERVAL (real seconds).
DEMO_TIME_SCALE = 600
DEMO_POLL_INTERVAL = '0.5'
# The one inventory line the docs show: localhost on the controller, with the Python that runs Ansible.
INVENTORY_LINE = 'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n'


@pytest.fixture(scope='session')
def demo_emulator():
    """An emulator of our own with the demo seed (reset to it before each use), stopped at the end."""
    cmd = [EMULATOR_PYTHON, os.path.join(REPO_ROOT, 'tests', 'emulator', 'run_emulator.py')]
    run(cmd + ['stop', '--workdir', DEMO_EMULATOR_WORKDIR])  # a leftover of an interrupted run
    run(cmd + ['start', '--workdir', DEMO_EMULATOR_WORKDIR, '--time-scale', str(DEMO_TIME_SCALE), '--seed', 'demo'])
    try:
        settings = load_settings(DEMO_EMULATOR_WORKDIR)
        yield settings, EmulatorControl(settings['control_url'], settings['ca_path'])
    finally:
        run(cmd + ['stop', '--workdir', DEMO_EMULATOR_WORKDIR])


def user_env(home, settings=None, app='default', path_first=None, **extra):
    """The environment of a user trying the docs: a HOME of its own (so ~/.ansible and ~/evidence are the
    test's), no MDE_*/AZURE_*/ANSIBLE_* setting but the emulator's MDE_* ones (as a credential or an
    `eval` of emulator_env.py would set them), and none of Ansible's warnings switched off: a snippet that
    makes ansible-playbook warn fails its test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('MDE_', 'AZURE_', 'ANSIBLE_', 'VIRTUAL_ENV'))}
    env['HOME'] = str(home)
    env['XDG_CACHE_HOME'] = os.path.join(str(home), '.cache')
    env['PATH'] = os.pathsep.join([path_first or ECO_BIN, env.get('PATH', os.defpath)])
    env['ANSIBLE_NOCOLOR'] = 'true'
    env['PIP_DISABLE_PIP_VERSION_CHECK'] = '1'
    if settings is not None:
        info = settings['apps'][app]
        env.update(MDE_TENANT_ID=settings['tenant_id'], MDE_CLIENT_ID=info['client_id'],
                   MDE_CLIENT_SECRET=info['client_secret'], MDE_API_URL=settings['api_url'],
                   MDE_AUTHORITY_HOST=settings['authority_host'], MDE_CA_PATH=settings['ca_path'],
                   MDE_TIME_SCALE=str(settings['time_scale']), MDE_POLL_INTERVAL=DEMO_POLL_INTERVAL)
    env.update(extra)
    return env


def recap(output):
    """The PLAY RECAP counters of an ansible-playbook run, summed over hosts: {'ok': n, 'failed': n, ...}."""
    totals = {}
    for line in output.splitlines():
        if ' : ok=' not in line:
            continue
        for field in line.split(':', 1)[1].split():
            key, _sep, value = field.partition('=')
            if value.isdigit():
                totals[key] = totals.get(key, 0) + int(value)
    return totals
