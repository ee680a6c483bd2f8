# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Figures from the emulator's request log (make bench): API calls per task and login calls per play.

Starts its own emulator, runs real ansible-playbook plays against it with settings from MDE_*
environment variables, and counts what the emulator received. Wall times are reported for
information only; nothing here asserts speed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
HERE = os.path.dirname(os.path.realpath(__file__))
MACHINE = '1e5bc9d7e413ddd7902c2932e418702b84d0cc07'
sys.path.insert(0, os.path.join(REPO, 'tests', 'emulator'))

from mde_emulator.client import EmulatorControl, load_settings, module_env  # noqa: E402  pylint: disable=wrong-import-position


class Emulator(EmulatorControl):
    """An emulator of the bench's own (started here, stopped by stop()) and its control API."""

    def __init__(self, python, workdir):
        self.python = python
        self.workdir = workdir
        subprocess.run([python, os.path.join(REPO, 'tests/emulator/run_emulator.py'), 'start', '--workdir', workdir,
                        '--time-scale', '60', '--seed', 'empty'], check=True, stdout=subprocess.DEVNULL)
        self.settings = load_settings(workdir)
        super(Emulator, self).__init__(self.settings['control_url'], self.settings['ca_path'])

    def stop(self):
        subprocess.run([self.python, os.path.join(REPO, 'tests/emulator/run_emulator.py'), 'stop', '--workdir', self.workdir], check=False)

    def pending(self, machine=MACHINE, kind='RunAntiVirusScan'):
        return self.add_action({'machineId': machine, 'type': kind, 'status': 'Pending',
                                'lifecycle': {'pending': 10 ** 7, 'in_progress': 0, 'final': None}})

    def env(self):
        return module_env(self.settings)


def counts(log):
    api = [r for r in log if r['host'] == 'api']
    login = [r for r in log if r['host'] == 'login']
    return {'api': len(api), 'api_post': sum(1 for r in api if r['method'] == 'POST'),
            'login': len(login), 'token': sum(1 for r in login if r.get('api') == 'token')}


def main():
    venv = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, '.venv')
    collections = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, '.cache', 'collections')
    python = os.path.join(venv, 'bin', 'python')
    scratch = tempfile.mkdtemp(prefix='mde-bench-')
    emu = Emulator(python, os.path.join(REPO, '.emulator', 'bench'))
    rows = []
    try:
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, XDG_CACHE_HOME=os.path.join(scratch, 'xdg'),
                   ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false', **emu.env())

        def play(book, *extra):
            start = time.monotonic()
            subprocess.run([os.path.join(venv, 'bin', 'ansible-playbook'), os.path.join(HERE, book)] + list(extra),
                           env=env, check=True, stdout=subprocess.DEVNULL)
            return time.monotonic() - start

        def measure(label, goal, book, *extra, tasks=1):
            mark = emu.mark()
            seconds = play(book, *extra)
            figures = counts(emu.log(mark))
            rows.append((label, goal, figures, seconds, tasks))
            return figures

        emu.reset('empty')
        # launched actions stay Pending for an emulated hour (a real minute): re-runs meet them still running
        emu.set_config(default_lifecycle={'pending': 3600, 'in_progress': 3600, 'final': 'Succeeded'})
        # warm the token cache first so the per-task figures count API calls only
        measure('first task of a play with a cold token cache', 'login: 1 token request', 'cancel.yml',
                '-e', 'action_id=%s' % emu.pending()['id'])
        action = emu.pending()
        measure('cancel a pending action', 'API calls: 2', 'cancel.yml', '-e', 'action_id=%s' % action['id'])
        measure('cancel it again (no-op)', 'API calls: 1', 'cancel.yml', '-e', 'action_id=%s' % action['id'])
        measure('cancel in check mode', 'API calls: 1', 'cancel.yml', '--check', '-e', 'action_id=%s' % emu.pending()['id'])
        for kind in ('Isolate', 'RestrictCodeExecution', 'CollectInvestigationPackage'):
            emu.pending(machine='4b8e1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b', kind=kind)
        measure('cancel 3 running actions of a machine (machine_id)', 'API calls: 1 + 3', 'cancel_machine.yml')
        measure('isolate a machine (state module)', 'API calls: 2', 'launch.yml')
        measure('isolate it again (no-op)', 'API calls: 1', 'launch.yml')
        measure('start an AV scan in check mode', 'API calls: 1', 'launch.yml', '--check', '-e', 'launch_module=scan')
        measure('start an AV scan', 'API calls: 2', 'launch.yml', '-e', 'launch_module=scan')
        measure('start it again while it runs (no-op)', 'API calls: 1', 'launch.yml', '-e', 'launch_module=scan')
        measure('start it by name (computer_dns_name)', 'API calls: 1 + 1', 'launch.yml', '-e', 'launch_module=scan',
                '-e', 'machine_name=web-prod-01.contoso.com')
        forks = ('forks.yml', '-f', '5', '-i', os.path.join(HERE, 'inventory.forks'))
        shutil.rmtree(env['XDG_CACHE_HOME'], ignore_errors=True)
        measure('play of 20 tasks over 5 forks, first run on this controller (nothing cached)', 'login calls: 1', *forks, tasks=20)
        shutil.rmtree(os.path.join(env['XDG_CACHE_HOME'], 'defender.endpoint', 'tokens'), ignore_errors=True)
        measure('play of 20 tasks over 5 forks, no cached token (expired)', 'login calls: 1', *forks, tasks=20)
        measure('same play again within the token lifetime', 'login calls: 0', *forks, tasks=20)
    finally:
        emu.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    lines = ['| scenario | goal | API calls (POST) | login-host requests (token POSTs) | wall time (s) | s per task |',
             '|---|---|---|---|---|---|']
    for label, goal, fig, seconds, tasks in rows:
        values = (label, goal, fig['api'], fig['api_post'], fig['login'], fig['token'], seconds, seconds / tasks)
        lines.append('| %s | %s | %d (%d) | %d (%d) | %.1f | %.2f |' % values)
    report = '\n'.join(lines)
    print(report)
    out = os.path.join(REPO, 'tests', 'output', 'bench')
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'bench.md'), 'w', encoding='utf-8') as handle:
        handle.write(report + '\n')
    with open(os.path.join(out, 'bench.json'), 'w', encoding='utf-8') as handle:
        json.dump([{'scenario': r[0], 'goal': r[1], 'figures': r[2], 'seconds': r[3], 'tasks': r[4]} for r in rows], handle, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
