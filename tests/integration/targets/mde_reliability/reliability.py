# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the reliability checks of matrix.py as real ansible-playbook runs against the emulator.

    reliability.py CONFIG OUTDIR run [matrix bad concurrency fresh_home kill tls]  run parts (default: all), write OUTDIR/results.json
    reliability.py - RESULTS.json doc DOCFILE                                 rewrite the generated part of docs/reliability.md
    reliability.py - - check-doc DOCFILE                                      fail if the doc's tables differ from matrix.py

Every fact is read from the emulator (request log, state, issued tokens), never from the module's
own word; the module's result is only compared with it. Each cell runs in its own cache folder
(token cache and rate budget) and on its own machine and action, so cells can run side by side;
cells that count login-host requests run alone.
"""

from __future__ import annotations

import concurrent.futures
import copy
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import yaml

import matrix

HERE = os.path.dirname(os.path.abspath(__file__))
# the collection, or ansible-test's copy of it around the copy of this target, holds tests/emulator
ROOT = os.path.dirname(os.path.realpath(__file__))
while not os.path.isdir(os.path.join(ROOT, 'tests', 'emulator', 'mde_emulator')) and os.path.dirname(ROOT) != ROOT:
    ROOT = os.path.dirname(ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'emulator'))

from mde_emulator.client import EmulatorControl, scan as scan_files, secrets_of  # noqa: E402  pylint: disable=wrong-import-position
WORKERS = 4
MARGIN_FACTOR, MARGIN_SECONDS = 2.0, 15.0  # upper bounds only: generous for a loaded CI machine
DOC_BEGIN, DOC_END = '<!-- BEGIN GENERATED: reliability.py doc -->', '<!-- END GENERATED -->'
SOCKET_KINDS = ('reset', 'drop', 'stall')


# ---------------------------------------------------------------------------------- emulator
class Emulator(EmulatorControl):
    """The shared control client (tests/emulator/mde_emulator/client.py) and this target's fixtures."""

    def __init__(self, cfg):
        super(Emulator, self).__init__(cfg['mde_control_url'], cfg['mde_ca_path'], timeout=60)
        self.cfg = cfg

    def new_machine(self, lifecycle=None):
        machine_id = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        machine = {'id': machine_id, 'computerDnsName': 'rel-%s.contoso.com' % machine_id[:8]}
        if lifecycle:
            machine['_lifecycle'] = lifecycle
        self.add_machine(machine)
        return machine_id

    def new_action(self, machine_id):
        return self.add_action({'machineId': machine_id, 'type': 'RunAntiVirusScan', 'lifecycle': {'pending': None},
                                'requestorComment': 'reliability'})


def scan(paths, secrets):
    """(files scanned, ['<what> in <path>']): the shared scanner over files and folders; token cache
    files are the one place tokens may live. secrets_of(cfg, emu) is the shared one too."""
    scanned, hits = scan_files(paths, secrets)
    return scanned, ['%s in %s' % hit for hit in hits]


# ---------------------------------------------------------------------------------- playbooks
CELL_PLAY = '''- name: One reliability cell
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: The module under test
      defender.endpoint.{module}: "{{{{ rel_args }}}}"
'''

BAD_PLAY = '''- name: Bad inputs
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Each bad input
      defender.endpoint.{module}: "{{{{ item.args }}}}"
      environment: "{{{{ item.env }}}}"
      loop: "{{{{ rel_inputs }}}}"
      loop_control:
        label: "{{{{ item.index }}}}"
      register: rel_bad
      ignore_errors: true
    - name: Keep the results
      ansible.builtin.copy:
        content: "{{{{ rel_bad.results | to_json }}}}"
        dest: "{{{{ rel_out }}}}"
        mode: '0600'
'''

FORKS_PLAY = '''- name: Twenty processes, one token cache, one rate budget
  hosts: rel_forks
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Look up the pending actions of the machine, three times per host
      defender.endpoint.mde_machine_action_info: "{{ rel_args }}"
      loop: [1, 2, 3]
'''


class Runner:
    def __init__(self, cfg, outdir):
        self.cfg = cfg
        self.out = os.path.abspath(outdir)
        self.emu = Emulator(cfg)
        self.lock = threading.Lock()
        self.counter = 0
        for sub in ('plays', 'logs', 'results', 'xdg', 'files'):
            os.makedirs(os.path.join(self.out, sub), exist_ok=True)

    def name(self, prefix):
        with self.lock:
            self.counter += 1
            return '%s-%03d' % (re.sub(r'[^a-z0-9]+', '-', prefix.lower()).strip('-')[:50], self.counter)

    def env(self, xdg, **extra):
        env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('MDE_', 'AZURE_')) and k != 'REQUESTS_CA_BUNDLE')
        c = self.cfg
        env.update(MDE_API_URL=c['mde_api_url'], MDE_AUTHORITY_HOST=c['mde_authority_host'], MDE_CA_PATH=c['mde_ca_path'],
                   MDE_TENANT_ID=c['mde_tenant_id'], MDE_CLIENT_ID=c['mde_client_id'], MDE_CLIENT_SECRET=c['mde_client_secret'],
                   MDE_TIME_SCALE=str(c['mde_time_scale']), XDG_CACHE_HOME=xdg, ANSIBLE_FORCE_COLOR='false',
                   ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='false')
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def play(self, kind, module):
        path = os.path.join(self.out, 'plays', '%s-%s.yml' % (kind, module))
        if not os.path.exists(path):
            text = {'cell': CELL_PLAY, 'bad': BAD_PLAY}[kind].format(module=module) if kind != 'forks' else FORKS_PLAY
            with open(path, 'w', encoding='utf-8') as handle:
                handle.write('---\n' + text)
        return path

    def ansible(self, name, play, extra_vars, env, inventory='localhost,', forks=None, popen=False):
        vars_path = os.path.join(self.out, 'plays', name + '.vars.json')
        with open(vars_path, 'w', encoding='utf-8') as handle:
            json.dump(extra_vars, handle)
        cmd = ['ansible-playbook', '-vvv', '-i', inventory, play, '-e', '@' + vars_path]
        if forks:
            cmd += ['-f', str(forks)]
        log = open(os.path.join(self.out, 'logs', name + '.log'), 'w', encoding='utf-8')  # pylint: disable=consider-using-with
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)  # pylint: disable=consider-using-with
        if popen:
            return proc, log
        try:
            code = proc.wait(timeout=900)
        finally:
            log.close()
        return code

    def run_module(self, name, module, args, env):
        """One module task in a real play; returns (its result, as the tree callback wrote it, and the play's wall time)."""
        tree = os.path.join(self.out, 'results', name)
        env = dict(env, ANSIBLE_CALLBACKS_ENABLED='ansible.builtin.tree', ANSIBLE_CALLBACK_TREE_DIR=tree)
        started = time.monotonic()
        code = self.ansible(name, self.play('cell', module), {'rel_args': args}, env)
        elapsed = time.monotonic() - started
        out = os.path.join(tree, 'localhost')
        if code not in (0, 2) or not os.path.exists(out):  # 2: the task failed
            raise AssertionError('ansible-playbook for %s exited %s; see logs/%s.log' % (name, code, name))
        with open(out, encoding='utf-8') as handle:
            result = json.load(handle)
        result['failed'] = code == 2  # the tree callback leaves the flag out
        return result, elapsed


# ---------------------------------------------------------------------------------- fault matrix
def bound_for(row, args):
    """The longest a task may take by its configured bounds (timeout, max_retries, max_wait, wait_timeout)."""
    t, r, w = args['timeout'], args['max_retries'], args['max_wait']
    per_call = (r + 1) * t + r * w           # every attempt times out, every wait is max_wait
    login = (r + 1) * 2 * t + r * w          # msal: discovery + token per attempt
    bound = login + row['calls'] * per_call
    if args.get('wait') or row.get('waits'):
        bound += args['wait_timeout'] + per_call
    return bound


def _fill(value, ctx):
    if isinstance(value, str):
        return value.format(**ctx)
    if isinstance(value, dict):
        return dict((k, _fill(v, ctx)) for k, v in value.items())
    if isinstance(value, list):
        return [_fill(v, ctx) for v in value]
    return value


def closed_port():
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def run_cell(runner, row_name, fault):
    row = matrix.ROWS[row_name]
    emu = runner.emu
    launch = row['check'] in ('launch', 'download')
    name = runner.name('%s %s' % (row_name, fault['name']))
    # download rows wait for their action: a short life cycle keeps the wait short
    machine_id = emu.new_machine({'pending': 5, 'in_progress': 5} if row.get('waits') else None)
    # a launch row starts from a machine without actions: whatever the emulator holds afterwards came from the task
    action = None if launch else emu.new_action(machine_id)
    keys = [action['id'], machine_id] if action else [machine_id]
    dest = os.path.join(runner.out, 'files', name)
    os.makedirs(dest)
    ctx = {'action_id': action['id'] if action else '', 'machine_id': machine_id, 'comment': '%s %s' % (matrix.COMMENT, name), 'dest': dest}
    args = _fill(dict(row['args'], **fault.get('args', {})), ctx)
    args.update(matrix.BOUNDS)
    # ``twin``: the machine already holds a finished action of the type with the cell's comment (its id is not the cell's)
    before = finished_twin(emu, row, machine_id, ctx['comment'], fault['twin']) if fault.get('twin') else []
    if fault.get('api_url') == 'closed':
        args['api_url'] = 'https://127.0.0.1:%d' % closed_port()
    if fault.get('redis_url') == 'closed':  # the Redis rate budget's server unreachable (issue 14)
        args.update(rate_limit_backend='redis', redis_url='redis://127.0.0.1:%d/0' % closed_port())
    xdg = os.path.join(runner.out, 'xdg', name)
    mark, started = emu.mark(), time.time()
    serial = is_serial(fault)
    if fault['rule']:
        rule = _fill(copy.deepcopy(fault['rule']), ctx)
        rule.update(times=fault['times'], skip=fault.get('skip', 0))
        on = fault['on']
        if on == 'token':
            rule.update(host='login', api='token')
        elif on == 'storage':  # download cells run one at a time: the storage host's paths carry no machine or action
            rule.update(host='storage', api='download')
        elif on == 'link':  # the link call's path holds the action the task creates: unknown here, and download cells run one at a time
            rule.update(host='api', api=row['link_op'])
        else:
            op = {'read': row['read_op'], 'write': row['write_op'], 'last': row['write_op'] or row['read_op'], 'api': None}[on]
            rule.update(host='api', api=op, path_regex='|'.join(keys))
        fault_ids = emu.call('POST', '/control/faults', {'faults': [rule]})['ids']
    try:
        result, elapsed = runner.run_module(name, row['module'], args, runner.env(xdg))
        if fault.get('warning'):  # the tree callback leaves warnings out of the result: the play's output holds them
            with open(os.path.join(runner.out, 'logs', name + '.log'), encoding='utf-8') as handle:
                result['warnings'] = [line for line in handle if '[WARNING]' in line]
    finally:
        if serial:
            emu.call('DELETE', '/control/faults')  # a login fault is not confined to this cell's paths
        elif fault['rule']:
            emu.remove_faults(fault_ids)  # a rule that never heals must not outlive its cell

    def ours(entry):
        if entry['host'] == 'storage':
            # a live response result's path holds its action; while a link or storage fault cell runs, no other cell downloads
            return any(key in entry['path'] for key in keys) or (fault['on'] in ('link', 'storage') and entry['time'] >= started)
        return entry['host'] == 'api' and (any(key in entry['path'] for key in keys) or machine_id in json.dumps(entry.get('query')))

    if launch:  # the actions the task created: their polls and link calls are the cell's too
        keys.extend(a['id'] for a in emu.call('GET', '/control/state')['actions'] if a.get('machineId') == machine_id)
    if fault['rule'] and fault['rule']['kind'] == 'stall' and fault['on'] != 'token':
        # the emulator logs a stalled request when the stall ends, which may be after the module gave up on it
        wait_for(lambda: any(e.get('fault') == 'stall' and ours(e) for e in emu.log(mark)), 'the stalled request in the log',
                 fault['rule']['seconds'] + 30)
    log = emu.log(mark)
    api_log = [e for e in log if ours(e)]
    # a request stalled by an earlier cell is logged when its stall ends: count only requests sent during this cell
    login_tokens = [e for e in log if e['host'] == 'login' and e.get('api') == 'token' and e['time'] >= started]
    if launch:
        # the emulator's own record of every action on the cell's machine (it is the cell's alone)
        found = [a for a in emu.call('GET', '/control/state')['actions'] if a.get('machineId') == machine_id and a['id'] not in before]
        mine = [a for a in found if a.get('type') == row['action_type'] and a.get('requestorComment') == ctx['comment']]
        state = {'status': '%d %s with the comment, %d action(s) in all' % (len(mine), row['action_type'], len(found)),
                 'launched': mine, 'all': found}
    else:
        state = emu.action(action['id'])
    if row['check'] == 'download':
        state['expected'] = dict((a['id'], emu.call('GET', '/control/actions/%s/results' % a['id'])['results']) for a in state['launched'])
        state['dest'] = dest
    return judge(row_name, row, fault, args, action, state, result, elapsed, api_log, login_tokens, name)


def finished_twin(emu, row, machine_id, comment, seconds_ago):
    """A Succeeded action of the row's type with this comment, created ``seconds_ago`` (emulated) before; on a state row
    also the action that undid it since, so that the task launches again. Returns their ids."""
    made = [emu.call('POST', '/control/actions', {'machineId': machine_id, 'type': row['action_type'], 'status': 'Succeeded',
                                                  'created_ago': seconds_ago, 'requestorComment': comment})]
    if row.get('released_by'):
        made.append(emu.call('POST', '/control/actions', {'machineId': machine_id, 'type': row['released_by'], 'status': 'Succeeded',
                                                          'created_ago': seconds_ago / 2, 'requestorComment': 'released since'}))
    return [a['id'] for a in made]


def check_launch(row, args, state, result, failed, writes, after_launch=False):
    """A launch cell: (actions launched, lost, problems) from the emulator's state and request log.

    ``after_launch``: the fault hits after the launch (a download row's link call or storage host),
    so a failure must still hold the one action it launched, changed, in its result.
    """
    problems = []
    launched = state['launched']
    if failed and after_launch:
        returned = (result.get('machine_action') or {}).get('id')
        lost = int(len(launched) != 1 or not result.get('changed') or returned != launched[0]['id'])
        if lost:
            problems.append('the download failed with changed=%s, machine_action %s, but the emulator holds %s'
                            % (result.get('changed'), returned, [a['id'] for a in launched]))
    elif failed:
        lost = int(bool(launched))  # a failure must leave nothing launched (every failing launch cell fails before or at the POST)
        if launched:
            problems.append('the task failed (%s) but the emulator holds %d %s action(s) with its comment'
                            % ((result.get('msg') or '')[:200], len(launched), row['action_type']))
    else:
        returned = (result.get('machine_action') or {}).get('id')
        lost = int(len(launched) != 1 or not result.get('changed') or returned != launched[0]['id'])
        if lost:
            problems.append('the task succeeded with changed=%s, machine_action %s, but the emulator holds %s'
                            % (result.get('changed'), returned, [a['id'] for a in launched]))
    others = [a for a in state['all'] if a not in launched]
    if others:
        problems.append('%d other action(s) on the machine: %s' % (len(others), [(a['type'], a.get('requestorComment')) for a in others]))
    if len(writes) > args['max_retries'] + 1:
        problems.append('%d launch POSTs, more than the %d attempts allowed' % (len(writes), args['max_retries'] + 1))
    writes = sorted(writes, key=lambda e: e['time'])  # by arrival: a stalled request is logged only when its stall ends
    maybe_sent = [i for i, e in enumerate(writes) if e.get('fault') in SOCKET_KINDS or (e.get('status') or 0) >= 500]
    if maybe_sent and len(writes) > maybe_sent[0] + 1:
        problems.append('%d launch POST(s) sent after one that may have reached the server' % (len(writes) - maybe_sent[0] - 1))
    return len(launched), lost, problems


def check_download(state, result, failed, api_log):
    """A download cell: the files in the cell's folder are exactly what the emulator serves, or none."""
    problems = []
    folder = state['dest']
    present = sorted(os.listdir(folder))
    if [e for e in api_log if e['host'] == 'storage' and e['authorization']]:
        problems.append('a request to the storage host carried an Authorization header')
    if failed:
        if present:
            problems.append('the task failed but left files behind: %s' % present)
        return problems
    expected = [r for results in state['expected'].values() for r in results]
    got = [result] if 'sha256' in result else (result.get('results') or [])
    if len(got) != len(expected) or not expected:
        problems.append('%d file(s) in the result, the emulator serves %d' % (len(got), len(expected)))
    for entry, want in zip(sorted(got, key=lambda r: r.get('index') or 0), sorted(expected, key=lambda r: r['index'] or 0)):
        path = entry.get('dest') or ''
        if not os.path.isfile(path) or os.path.dirname(path) != folder:
            problems.append('%s is not a file in the cell folder' % path)
            continue
        with open(path, 'rb') as handle:
            data = handle.read()
        digest = hashlib.sha256(data).hexdigest()
        if (digest, len(data)) != (want['sha256'], want['size']) or entry.get('sha256') != digest:
            problems.append('%s: sha256 %s (result says %s), the emulator serves %s' % (os.path.basename(path), digest, entry.get('sha256'), want['sha256']))
    leftovers = [n for n in present if n.startswith('.tmp')]
    if leftovers:
        problems.append('temporary files left behind: %s' % leftovers)
    return problems


def judge(row_name, row, fault, args, action, state, result, elapsed, api_log, login_tokens, name):  # pylint: disable=too-many-branches
    problems = []
    expect = fault['expect']
    failed = bool(result.get('failed'))
    msg = result.get('msg') or ''
    writes = [e for e in api_log if e['api'] == row['write_op'] and e['method'] == 'POST'] if row['write_op'] else []
    processed = bool(fault['rule'] and fault['rule'].get('process'))
    applied = sum(1 for e in writes if e['status'] == 200 or (e['fault'] in SOCKET_KINDS and processed))
    lost = 0
    if row['check'] in ('launch', 'download'):
        applied, lost, launch_problems = check_launch(row, args, state, result, failed, writes, after_launch=fault['on'] in ('link', 'storage'))
        problems.extend(launch_problems)
    if row['check'] == 'download':
        problems.extend(check_download(state, result, failed, api_log))
    duplicates = max(0, applied - 1)
    faulted = sum(1 for e in api_log + login_tokens if e.get('fault'))
    if fault['rule'] and faulted == 0:
        problems.append('the fault never fired (the cell tested nothing)')
    if fault['times'] and faulted > fault['times']:
        problems.append('the fault fired %d times, more than %d' % (faulted, fault['times']))
    if 'Traceback' in json.dumps(result) or 'MODULE FAILURE' in msg:
        problems.append('a traceback instead of a clear message: %s' % msg[:300])
    if row['check'] == 'cancel':
        ours = state['status'] == 'Cancelled' and state.get('cancellationComment') == matrix.COMMENT
        said = not failed and bool(result.get('changed'))
        if expect == 'final':
            returned = result.get('machine_action') or ((result.get('machine_actions') or [None])[0])
            lost = int(state['status'] != 'Succeeded' or failed or said or (returned is not None and returned.get('status') != 'Succeeded'))
            if len(writes) != 1:
                problems.append('%d cancel POSTs, expected 1' % len(writes))
        else:
            lost = int(ours != said)
        if lost:
            problems.append('the module said changed=%s failed=%s but the emulator has the action %s (comment %r)'
                            % (result.get('changed'), failed, state['status'], state.get('cancellationComment')))
    if duplicates:
        problems.append('%d duplicate %s(s) applied' % (duplicates, 'launch' if row['check'] == 'launch' else 'cancel'))
    if fault.get('warning') and fault['warning'] not in json.dumps(result.get('warnings', [])):
        problems.append('no warning holding "%s": %s' % (fault['warning'], result.get('warnings')))
    if expect == 'recovers':
        if failed:
            problems.append('failed instead of recovering: %s' % msg[:300])
        elif row['check'] == 'cancel' and not (result.get('changed') and state['status'] == 'Cancelled'):
            problems.append('not cancelled: changed=%s, emulator status %s' % (result.get('changed'), state['status']))
        elif row['check'] in ('launch', 'download') and not result.get('changed'):
            problems.append('recovered but changed=false: the launch it made must show as a change')
        elif row['check'] == 'info' and [a.get('id') for a in result.get('machine_actions', [])] != [action['id']]:
            problems.append('info returned %s, the emulator has [%s]' % ([a.get('id') for a in result.get('machine_actions', [])], action['id']))
        elif row['check'] == 'machines' and [m.get('id') for m in result.get('machines', [])] != [action['machineId']]:
            problems.append('machine info returned %s, the emulator has [%s]' % ([m.get('id') for m in result.get('machines', [])],
                                                                                 action['machineId']))
        counted = [e for e in api_log if e['host'] == 'api' and not (row.get('waits') and e['api'] == 'get_action')]
        if fault.get('no_retry') and len(counted) != row.get('clean_calls', row['calls']):
            problems.append('%d API requests, a clean run makes %d (a retry happened)' % (len(counted), row.get('clean_calls', row['calls'])))
    elif expect == 'fails':
        if not failed:
            problems.append('succeeded, expected a failure')
        missing = [text for text in fault.get('msg', []) if text not in msg]
        if missing:
            problems.append('message lacks %s: %s' % (missing, msg[:400]))
        if fault['on'] == 'token' and api_log:
            problems.append('%d API requests without a token' % len(api_log))
    elif expect == 'final' and (failed or result.get('changed')):
        problems.append('expected ok and not changed, got failed=%s changed=%s: %s' % (failed, result.get('changed'), msg[:200]))
    if 'token_requests' in fault and len(login_tokens) != fault['token_requests']:
        problems.append('%d token requests, expected %d' % (len(login_tokens), fault['token_requests']))
    bound = bound_for(row, args)
    limit = bound * MARGIN_FACTOR + MARGIN_SECONDS
    if elapsed > limit:
        problems.append('took %.1f s, more than the bound %.0f s (x%.0f + %.0f s margin)' % (elapsed, bound, MARGIN_FACTOR, MARGIN_SECONDS))
    return {'row': row_name, 'module': row['module'], 'fault': fault['name'], 'expect': expect, 'failed': failed,
            'changed': bool(result.get('changed')), 'msg': msg, 'elapsed': round(elapsed, 2), 'bound': bound,
            'api_requests': ['%s %s %s%s' % (e['method'], e['api'], e['status'], ' (%s)' % e['fault'] if e['fault'] else '')
                             for e in api_log],
            'token_requests': len(login_tokens), 'applied_writes': applied, 'duplicates': duplicates, 'lost': lost,
            'emulator_status': state['status'], 'problems': problems, 'log': 'logs/%s.log' % name}


def is_serial(fault):
    """Cells that fault or count the login host run alone: its requests carry no cell's action or machine."""
    return fault['on'] == 'token' or 'token_requests' in fault


def run_matrix(runner, only=None):
    """Cells side by side (WORKERS at a time). Faults on the download-link call and the storage host cannot be
    confined to one cell: those cells run one after another in a lane of their own, and the other cells of the
    download rows (which call the link and the storage host too) start only when the lane is done. Cells that
    fault or count the login host run alone, at the end."""
    cells = [c for c in matrix.cells() if not only or re.search(only, '%s %s' % (c[0], c[1]['name']))]
    serial = [c for c in cells if is_serial(c[1])]
    lane = [c for c in cells if c not in serial and c[1]['on'] in ('link', 'storage')]
    after_lane = [c for c in cells if c not in serial and c not in lane and c[0] in matrix.DOWNLOAD_ROWS]
    parallel = [c for c in cells if c not in serial and c not in lane and c not in after_lane]
    lane_done = threading.Event()
    records = []

    def run_lane():
        done = []
        try:
            for cell in lane:
                done.append(run_cell(runner, *cell))
                report(done[-1])
        finally:
            lane_done.set()
        return done

    def run_parallel(cell):
        if cell in after_lane:
            lane_done.wait()
        return run_cell(runner, *cell)

    with concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS) as pool:
        in_lane = pool.submit(run_lane)
        for record in pool.map(run_parallel, parallel + after_lane):
            report(record)
            records.append(record)
        records.extend(in_lane.result())
    for cell in serial:
        record = run_cell(runner, *cell)
        report(record)
        records.append(record)
    return records


def report(record):
    status = 'ok  ' if not record['problems'] else 'FAIL'
    line = '%s %-18s %-45s %-9s %5.1fs (bound %3.0fs) ' % (status, record['row'], record['fault'], record['expect'], record['elapsed'], record['bound'])
    print(line + '; '.join(record['problems']), flush=True)


# ---------------------------------------------------------------------------------- bad inputs
def prepare_files(runner):
    """Certificate files for the bad-input table (the emulator's own, and broken variants)."""
    files = os.path.join(runner.out, 'files')
    workdir = runner.cfg['mde_emulator_workdir']
    paths = {'folder': os.path.join(files, 'a-folder'), 'garbage': os.path.join(files, 'garbage.pem'),
             'public_only': os.path.join(workdir, 'cert-app-public.pem'), 'mismatched': os.path.join(files, 'mismatched.pem'),
             'encrypted': runner.cfg['mde_cert_encrypted_path'], 'pfx': runner.cfg['mde_cert_pfx_path']}
    os.makedirs(paths['folder'], exist_ok=True)
    with open(paths['garbage'], 'wb') as handle:
        handle.write(b'\x00\x01 this is neither PEM nor PKCS#12 \xff' * 10)
    with open(paths['mismatched'], 'w', encoding='utf-8') as handle:  # the app's certificate with the server's key
        for part in (os.path.join(workdir, 'cert-app-public.pem'), os.path.join(workdir, 'server-key.pem')):
            with open(part, encoding='utf-8') as src:
                handle.write(src.read())
    return paths


def run_bad_inputs(runner):
    files = prepare_files(runner)
    by_module = {}
    for index, (module, args, env, option, fix) in enumerate(matrix.BAD_INPUTS):
        args = dict((k, files[v[6:-1]] if isinstance(v, str) and v.startswith('{cert:') else v) for k, v in args.items())
        by_module.setdefault(module, []).append({'index': index, 'args': args, 'env': env, 'option': option, 'fix': fix})
    records = []
    xdg = os.path.join(runner.out, 'xdg', 'bad-inputs')
    mark = runner.emu.mark()
    for module, inputs in by_module.items():
        name = runner.name('bad ' + module)
        out = os.path.join(runner.out, 'results', name + '.json')
        runner.ansible(name, runner.play('bad', module), {'rel_inputs': inputs, 'rel_out': out}, runner.env(xdg))
        with open(out, encoding='utf-8') as handle:
            results = json.load(handle)
        for item, result in zip(inputs, results):
            msg = result.get('msg') or ''
            problems = []
            if not result.get('failed'):
                problems.append('did not fail')
            for text in (item['option'], item['fix']):
                if text not in msg:
                    problems.append('message lacks %r' % text)
            if 'Traceback' in json.dumps(result) or 'MODULE FAILURE' in msg:
                problems.append('traceback')
            records.append({'module': module, 'args': matrix.BAD_INPUTS[item['index']][1], 'env': item['env'], 'option': item['option'],
                            'fix': item['fix'], 'msg': msg, 'problems': problems})
    log = runner.emu.log(mark)
    for record in records:
        if log:
            record['problems'].append('%d request(s) reached the emulator during the bad-input runs' % len(log))
        shown = json.dumps(dict(record['args'], **record['env']))[:60]
        module = record['module'].replace('mde_machine_action_', '').replace('mde_machine_', '')
        print('%s bad input %-8s %-60s %s' % ('ok  ' if not record['problems'] else 'FAIL', module, shown, '; '.join(record['problems'])), flush=True)
    return records, len(log)


# ---------------------------------------------------------------------------------- concurrency
def sliding_max(times, window):
    times = sorted(times)
    best, start = 0, 0
    for end, when in enumerate(times):
        while when - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def run_concurrency(runner, processes=20, limit=10):
    emu = runner.emu
    machine_id = emu.new_machine()
    action = emu.new_action(machine_id)
    emu.call('POST', '/control/config', {'rate_limits': {'list_actions': {'per_minute': limit, 'per_hour': None}}})
    inventory = os.path.join(runner.out, 'plays', 'inventory.forks')
    with open(inventory, 'w', encoding='utf-8') as handle:
        handle.write('[rel_forks]\n' + ''.join('fork%02d\n' % i for i in range(processes)))
    xdg = os.path.join(runner.out, 'xdg', 'forks')
    args = dict(matrix.BOUNDS, machine_id=machine_id, status=['Pending'], rate_limit_per_minute=limit, max_wait=30)
    mark = emu.mark()
    name = runner.name('forks')
    try:
        code = runner.ansible(name, runner.play('forks', 'info'), {'rel_args': args}, runner.env(xdg), inventory=inventory, forks=processes)
    finally:
        emu.call('POST', '/control/config', {'rate_limits': {'list_actions': None}})
    log = emu.log(mark)
    calls = [e for e in log if e['host'] == 'api' and machine_id in json.dumps(e.get('query'))]
    tokens = [e for e in log if e['host'] == 'login' and e.get('api') == 'token']
    throttled = [e for e in calls if e['status'] == 429]
    window = 60.0  # emulated seconds: the emulator's windows run on emulated time, as the client's scaled clock does
    peak = sliding_max([e['emulated_time'] for e in calls if e['status'] != 429], window)
    peak_all = sliding_max([e['emulated_time'] for e in calls], window)
    cache = [os.path.join(dp, f) for dp, dummy, fs in os.walk(os.path.join(xdg, 'defender.endpoint', 'tokens')) for f in fs if f.endswith('.json')]
    problems = []
    if code != 0:
        problems.append('the play failed (exit %d); see logs/%s.log' % (code, name))
    if len(calls) != processes * 3:
        problems.append('%d list calls, expected %d' % (len(calls), processes * 3))
    if len(tokens) != 1:
        problems.append('%d token requests, expected exactly 1' % len(tokens))
    if throttled:
        problems.append('%d answers 429: the shared budget let more through than the server allows' % len(throttled))
    if peak_all > limit:
        problems.append('%d calls in one window of %.0f emulated s, limit %d' % (peak_all, window, limit))
    problems.extend(check_cache_files(cache, xdg))
    record = {'processes': processes, 'limit_per_minute': limit, 'calls': len(calls), 'token_requests': len(tokens),
              'answers_429': len(throttled), 'peak_per_window': max(peak, peak_all), 'problems': problems}
    print('%s concurrency: %s' % ('ok  ' if not problems else 'FAIL', json.dumps(record)), flush=True)
    action_state = emu.action(action['id'])
    if action_state['status'] != 'Pending':
        problems.append('a look-up changed the action: %s' % action_state['status'])
    return record


def check_cache_files(paths, xdg):
    problems = []
    if len(paths) != 1:
        problems.append('%d cached token files, expected 1' % len(paths))
    for path in paths:
        with open(path, encoding='utf-8') as handle:
            try:
                entry = json.load(handle)
            except ValueError:
                problems.append('corrupt token cache %s' % path)
                continue
        if not entry.get('access_token'):
            problems.append('token cache without a token')
        if oct(os.stat(path).st_mode & 0o777) != '0o600':
            problems.append('token cache file mode %o' % (os.stat(path).st_mode & 0o777))
    folder = os.path.join(xdg, 'defender.endpoint', 'tokens')
    if os.path.isdir(folder) and os.stat(folder).st_mode & 0o777 != 0o700:
        problems.append('token cache folder mode %o' % (os.stat(folder).st_mode & 0o777))
    return problems


FRESH_PLAY = '''- name: Processes starting at once on a fresh HOME (no ~/.cache yet)
  hosts: rel_forks
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Look up the pending actions of the machine
      defender.endpoint.mde_machine_action_info: "{{ rel_args }}"
'''

RACER = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.defender.endpoint.plugins.module_utils import _files
start = float(sys.argv[2])
while time.time() < start:  # every racer leaves this loop at the same moment
    pass
try:
    for part in ('discovery', 'tokens', 'ratelimit'):  # the folders a module creates as it starts
        _files.private_dir(part)
    print('ok')
except Exception as exc:  # pylint: disable=broad-except
    print('%s: %s' % (type(exc).__name__, exc))
'''


def run_fresh_home(runner, processes=4, rounds=40):
    """Processes starting at once on one fresh HOME (no ~/.cache, no XDG_CACHE_HOME): each creates the cache folders; all
    must succeed. A real play with one fork per process, then ``rounds`` rounds (each on a fresh HOME) of one process per
    core released at one instant into the cache-folder creation every module runs first: the race window is microseconds,
    a play alone rarely hits it; two racers on two cores hit the EEXIST defect in about one round of five."""
    racers = max(2, min(processes, os.cpu_count() or 2))
    emu = runner.emu
    machine_id = emu.new_machine()
    action = emu.new_action(machine_id)
    problems = []
    home = os.path.join(runner.out, 'xdg', 'fresh-home-play')
    os.makedirs(home)
    inventory = os.path.join(runner.out, 'plays', 'inventory.fresh')
    with open(inventory, 'w', encoding='utf-8') as handle:
        handle.write('[rel_forks]\n' + ''.join('fresh%02d\n' % i for i in range(processes)))
    play = os.path.join(runner.out, 'plays', 'fresh-home.yml')
    with open(play, 'w', encoding='utf-8') as handle:
        handle.write('---\n' + FRESH_PLAY)
    name = runner.name('fresh home')
    args = dict(matrix.BOUNDS, machine_id=machine_id, status=['Pending'])
    code = runner.ansible(name, play, {'rel_args': args}, runner.env(home, XDG_CACHE_HOME=None, HOME=home), inventory=inventory,
                          forks=processes)
    if code != 0:
        problems.append('the play of %d forks on a fresh HOME failed (exit %d); see logs/%s.log' % (processes, code, name))
    errors = []
    for index in range(rounds):
        home = os.path.join(runner.out, 'xdg', 'fresh-home-%02d' % index)
        os.makedirs(home)
        env = runner.env(home, XDG_CACHE_HOME=None, HOME=home)
        start = '%.6f' % (time.time() + 0.4)  # time for the racers to start and import
        procs = [subprocess.Popen([sys.executable, '-c', RACER, collections_root(), start], env=env,  # pylint: disable=consider-using-with
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for dummy in range(racers)]
        errors.extend(out.strip() for out in (r.communicate(timeout=60)[0] for r in procs) if out.strip() != 'ok')
    if errors:
        problems.append('%d of %d processes failed creating the cache folders on a fresh HOME: %s'
                        % (len(errors), racers * rounds, sorted(set(errors))[:3]))
    if emu.action(action['id'])['status'] != 'Pending':
        problems.append('a look-up changed the action')
    record = {'processes': processes, 'rounds': rounds, 'racers': racers, 'play_exit': code, 'failed_processes': len(errors), 'problems': problems}
    print('%s fresh HOME: %s' % ('ok  ' if not problems else 'FAIL', json.dumps(record)), flush=True)
    return record


# ---------------------------------------------------------------------------------- kill -9
def collections_root():
    folder = HERE
    while folder != os.path.dirname(folder):
        if os.path.basename(folder) == 'ansible_collections':
            return os.path.dirname(folder)
        folder = os.path.dirname(folder)
    return os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep)[0]


WRITER = r'''
import sys
sys.path.insert(0, sys.argv[1])
import os, time
from ansible_collections.defender.endpoint.plugins.module_utils import _files
path = os.path.join(sys.argv[2], sys.argv[3] + '.json')
n = 0
while True:  # the cache entry's shape, padded so that each write takes a while
    now = time.time()
    _files.write_json_atomic(path, {'access_token': 'not-a-real-token-%d' % n, 'obtained_at': now, 'expires_on': now + 3599,
                                    'refresh_at': now + 3000, 'padding': 'x' * 2000000})
    n += 1
    if n == 3:
        print('writing', flush=True)
'''


def token_folder(runner, xdg):
    """Create the cache folder as the modules do, and return it with the cache key of the default app."""
    sys.path.insert(0, collections_root())
    # pylint: disable=import-outside-toplevel,import-error
    from ansible_collections.defender.endpoint.plugins.module_utils import _auth, _token_cache
    c = runner.cfg
    key = _token_cache.cache_key('%s/%s' % (c['mde_authority_host'], c['mde_tenant_id']), c['mde_tenant_id'], c['mde_client_id'],
                                 'https://api.securitycenter.microsoft.com/.default', _auth.secret_fingerprint(c['mde_client_secret']))
    folder = os.path.join(xdg, 'defender.endpoint', 'tokens')
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for path in (xdg, os.path.dirname(folder), folder):
        os.chmod(path, 0o700)
    return folder, key


def wait_for(condition, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for %s' % what)
        time.sleep(0.05)


def lock_held(path):
    if not os.path.exists(path):
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def kill_tree(pid):
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry, encoding='utf-8') as handle:
                    ppid = int(handle.read().rsplit(')', 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    todo, found = [pid], []
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    for victim in found:
        try:
            os.kill(victim, signal.SIGKILL)
        except OSError:
            pass


def run_kill(runner):
    """kill -9 while the cache is written, and while a module holds the token lock; then the next run works."""
    records = []
    emu = runner.emu
    row = matrix.ROWS['info_by_filter']
    # 1. a writer killed in the middle of writing the cache file
    xdg = os.path.join(runner.out, 'xdg', 'kill-writer')
    folder, key = token_folder(runner, xdg)
    writer = subprocess.Popen([sys.executable, '-c', WRITER, collections_root(), folder, key],  # pylint: disable=consider-using-with
                              stdout=subprocess.PIPE, text=True)
    if writer.stdout.readline().strip() != 'writing':
        raise AssertionError('the cache writer did not start')
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    problems = []
    try:
        with open(os.path.join(folder, key + '.json'), encoding='utf-8') as handle:
            json.load(handle)
    except ValueError:
        problems.append('the cache file is torn after kill -9 of its writer')
    records.append(kill_then_run(runner, 'killed while writing the token cache', row, xdg, problems, max_tokens=1))
    # 2. a torn cache file (as a crash without atomic writes would leave): refetched cleanly
    xdg = os.path.join(runner.out, 'xdg', 'torn')
    folder, key = token_folder(runner, xdg)
    with open(os.path.join(folder, key + '.json'), 'w', encoding='utf-8') as handle:
        handle.write('{"access_token": "eyJ-torn-in-the-midd')
    records.append(kill_then_run(runner, 'torn token cache file', row, xdg, [], max_tokens=1, min_tokens=1))
    # 3. a play killed while its module holds the token lock and waits for the token endpoint
    xdg = os.path.join(runner.out, 'xdg', 'kill-module')
    folder, key = token_folder(runner, xdg)
    emu.call('POST', '/control/faults', {'faults': [{'host': 'login', 'api': 'token', 'kind': 'stall', 'seconds': 20, 'times': 1}]})
    machine_id = emu.new_machine()
    emu.new_action(machine_id)
    args = dict(_fill(row['args'], {'machine_id': machine_id}), **matrix.BOUNDS)
    args['timeout'] = 30.0
    name = runner.name('killed module')
    proc, log = runner.ansible(name, runner.play('cell', row['module']),
                               {'rel_args': args, 'rel_out': os.path.join(runner.out, 'results', name + '.json')},
                               runner.env(xdg), popen=True)
    try:
        wait_for(lambda: lock_held(os.path.join(folder, key + '.lock')), 'the module to take the token lock')
    finally:
        kill_tree(proc.pid)  # ansible runs the module in a session of its own: kill every descendant
        proc.wait()
        log.close()
    records.append(kill_then_run(runner, 'play killed holding the token lock', row, xdg, [], max_tokens=1, min_tokens=1))
    return records


def kill_then_run(runner, what, row, xdg, problems, max_tokens, min_tokens=0):
    emu = runner.emu
    machine_id = emu.new_machine()
    action = emu.new_action(machine_id)
    args = dict(_fill(row['args'], {'machine_id': machine_id}), **matrix.BOUNDS)
    mark, started = emu.mark(), time.time()
    result, elapsed = runner.run_module(runner.name(what), row['module'], args, runner.env(xdg))
    emu.call('DELETE', '/control/faults')
    tokens = [e for e in emu.log(mark) if e['host'] == 'login' and e.get('api') == 'token' and e['time'] >= started]
    if result.get('failed'):
        problems.append('the next run failed: %s' % result.get('msg'))
    elif [a['id'] for a in result['machine_actions']] != [action['id']]:
        problems.append('the next run returned the wrong actions')
    if not min_tokens <= len(tokens) <= max_tokens:
        problems.append('%d token requests, expected %d to %d' % (len(tokens), min_tokens, max_tokens))
    bound = bound_for(row, args)
    if elapsed > bound * MARGIN_FACTOR + MARGIN_SECONDS:
        problems.append('the next run took %.1f s, more than its bound %.0f s (a stale lock?)' % (elapsed, bound))
    cache = [os.path.join(dp, f) for dp, dummy, fs in os.walk(os.path.join(xdg, 'defender.endpoint', 'tokens'))
             for f in fs if f.endswith('.json')]
    problems.extend(check_cache_files(cache, xdg))
    record = {'case': what, 'token_requests': len(tokens), 'elapsed': round(elapsed, 2), 'problems': problems}
    print('%s kill -9: %s' % ('ok  ' if not problems else 'FAIL', json.dumps(record)), flush=True)
    return record


# ---------------------------------------------------------------------------------- TLS
def run_tls(runner):
    records = []
    row = matrix.ROWS['info_by_filter']
    for what, extra_env, args_extra, expect in (
            ('validate_certs=false warns', {}, {'validate_certs': False}, 'warns'),
            ('TLS verified by default (no ca_path: the emulator CA is not trusted)', {'MDE_CA_PATH': None}, {}, 'fails')):
        machine_id = runner.emu.new_machine()
        runner.emu.new_action(machine_id)
        args = dict(_fill(row['args'], {'machine_id': machine_id}), **matrix.BOUNDS)
        args.update(args_extra)
        name = runner.name(what)
        result, dummy = runner.run_module(name, row['module'], args, runner.env(os.path.join(runner.out, 'xdg', name), **extra_env))
        problems = []
        with open(os.path.join(runner.out, 'logs', name + '.log'), encoding='utf-8') as handle:
            warnings = ' '.join(line for line in handle if '[WARNING]' in line or 'validate_certs is false' in line)
        if expect == 'warns' and ('validate_certs is false' not in warnings or result.get('failed')):
            problems.append('no warning in the play output (or a failure): %s %s' % (warnings, result.get('msg')))
        if expect == 'fails' and not (result.get('failed') and 'TLS verification' in result.get('msg', '')
                                      and 'ca_path' in result.get('msg', '')):
            problems.append('expected a TLS verification failure naming ca_path, got %s' % result.get('msg'))
        records.append({'case': what, 'msg': result.get('msg') or warnings, 'problems': problems})
        print('%s tls: %s %s' % ('ok  ' if not problems else 'FAIL', what, '; '.join(problems)), flush=True)
    return records


# ---------------------------------------------------------------------------------- doc
def doc_tables():
    lines = ['### Fault matrix', '',
             'Every fault below applies to the module rows named (%d rows, %d cells that apply); where several rows reach a fault '
             'through the same code, the cells of the rows that prove each path run (%d cells) and the others are covered by them '
             '(%d, listed under "Covered cells"): %s.'
             % (len(matrix.ROWS), len(matrix.all_cells()), len(matrix.cells()), len(matrix.covered_cells()),
                ', '.join('`%s` (%s)' % (n, r['module']) for n, r in matrix.ROWS.items())),
             'Bounds in every cell: %s.' % ', '.join('`%s=%s`' % kv for kv in matrix.BOUNDS.items()),
             'Launch rows (%s) run on a machine of their own with a comment of their own; after the task the emulator must hold '
             'exactly one action of the type with that comment when the task succeeded (changed), none when it failed, and no '
             'launch POST may follow one that may have reached the server.' % ', '.join('`%s`' % n for n in matrix.LAUNCH_ROWS),
             'Download rows (%s) then wait for the action, ask for the link and fetch the file(s) from the storage host into a folder of '
             'their own: on success the files must be byte for byte what the emulator serves (sha256 and size) and no request to the '
             'storage host may carry an Authorization header; a failure after the launch must keep the launched action (changed, '
             '`machine_action`) in its result and leave no file, not even a partial one.' % ', '.join('`%s`' % n for n in matrix.DOWNLOAD_ROWS),
             '',
             '| fault | hits | heals | expected outcome |', '|---|---|---|---|']
    for fault in matrix.FAULTS:
        on = {'read': "the row's first look-up", 'write': "the row's POST (cancel or launch)", 'token': 'the token endpoint', 'api': 'every API call',
              'last': "the row's last call", 'link': 'the download-link call (package URI, live response result link)',
              'storage': 'the storage host serving the file'}[fault['on']]
        if fault.get('rows'):
            on += ' (%s)' % ', '.join(fault['rows'])
        if fault.get('twin'):
            on += ', after a Succeeded action of the type with the same comment, created %d s before' % fault['twin']
        heals = 'never' if not fault['times'] else 'after %d' % fault['times']
        if fault['expect'] == 'recovers':
            outcome = 'succeeds after retry' + (', without any retry' if fault.get('no_retry') else '')
        elif fault['expect'] == 'final':
            outcome = 'ok, not changed; reported as it ended'
        else:
            outcome = 'fails within bounds; message holds ' + ', '.join('"%s"' % t for t in fault['msg'])
        if 'token_requests' in fault:
            outcome += '; exactly %d token requests' % fault['token_requests']
        lines.append('| %s | %s | %s | %s |' % (fault['name'], on, heals, outcome.replace('|', '\\|')))
    lines += ['', '### Cells per row', '', '| row | cells that apply | run | covered by another row |', '|---|---|---|---|']
    run, covered = matrix.cells(), matrix.covered_cells()
    for row_name in matrix.ROWS:
        lines.append('| %s | %d | %d | %d |' % (row_name, sum(1 for r, f in matrix.all_cells() if r == row_name),
                                                sum(1 for r, f in run if r == row_name), sum(1 for c in covered if c[0] == row_name)))
    lines += ['', '### Covered cells', '',
              'A cell that does not run because the same fault on another row goes through the same code: the row that stands for it '
              'runs that fault (same fault, the row named), for the reason given.', '',
              '| rows | stand for them | faults | why the path is the same |', '|---|---|---|---|']
    for rule in matrix.COVERED_BY:
        by_row = {}  # the covered cells of this rule, rows with the same faults on one line: each line is rows x faults exactly
        for row_name, fault, dummy, dummy in covered:
            if matrix.covered_by(row_name, fault) is rule:
                by_row.setdefault(row_name, []).append(fault['name'])
        for faults in sorted(set(tuple(f) for f in by_row.values()), key=lambda f: -len(f)):
            rows = [r for r in rule['rows'] if tuple(by_row.get(r, ())) == faults]
            lines.append('| %s | %s | %s | %s |' % (', '.join(rows), rule['by'], '; '.join(faults).replace('|', '\\|'), rule['why']))
    lines += ['', '### Bad inputs', '',
              '%d bad inputs. Each must fail naming the option and the fix, with no request to the emulator.' % len(matrix.BAD_INPUTS), '',
              '| module | input | message names | and says |', '|---|---|---|---|']
    for module, args, env, option, fix in matrix.BAD_INPUTS:
        shown = ', '.join('%s=%s' % (k, json.dumps(v)) for k, v in sorted(dict(args, **env).items())) or '(none)'
        cells = (module.replace('mde_machine_action_', '').replace('mde_machine_', ''), shown.replace('|', '\\|'), option.replace('|', '\\|'),
                 fix.replace('|', '\\|'))
        lines.append('| %s | `%s` | `%s` | %s |' % cells)
    return '\n'.join(lines) + '\n'


def doc_results(results):
    m = results.get('matrix', [])
    lines = ['### Last measured run', '', '| figure | value |', '|---|---|',
             '| faults tried (cells run) | %d (%d faults x module rows; %d more covered by another row) |'
             % (len(m), len(matrix.FAULTS), len(matrix.covered_cells())),
             '| cells passed | %d |' % sum(1 for r in m if not r['problems']),
             '| bad inputs tried | %d (requests that reached the emulator: %d) |' % (len(results.get('bad', [])), results.get('bad_requests', 0)),
             '| secrets found | %d (in %d files scanned) |' % (len(results.get('secret_hits', [])), results.get('files_scanned', 0)),
             '| duplicates | %d |' % sum(r['duplicates'] for r in m),
             '| lost actions | %d |' % sum(r['lost'] for r in m),
             '| requests to the storage host carrying Authorization | %d of %d |'
             % (results.get('storage_with_authorization', 0), results.get('storage_requests', 0))]
    conc = results.get('concurrency')
    if conc:
        lines.append('| 20 processes, one cache and one budget | %d token request(s), %d calls, peak %d per window (limit %d), %d answers 429 |'
                     % (conc['token_requests'], conc['calls'], conc['peak_per_window'], conc['limit_per_minute'], conc['answers_429']))
    fresh = results.get('fresh_home')
    if fresh:
        lines.append('| %d forks on a fresh HOME, then %d rounds of %d processes released at once | play exit %d, %d process(es) failed |'
                     % (fresh['processes'], fresh['rounds'], fresh['racers'], fresh['play_exit'], fresh['failed_processes']))
    for kill in results.get('kill', []):
        lines.append('| kill -9: %s | next run ok: %s, %d token request(s) |' % (kill['case'], not kill['problems'], kill['token_requests']))
    slowest = sorted(m, key=lambda r: r['elapsed'] / max(r['bound'], 1), reverse=True)[:1]
    for r in slowest:
        lines.append('| closest to its bound | %s / %s: %.1f s of %.0f s |' % (r['row'], r['fault'], r['elapsed'], r['bound']))
    return '\n'.join(lines) + '\n'


def write_doc(path, results):
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    head, rest = text.split(DOC_BEGIN, 1)
    dummy, tail = rest.split(DOC_END, 1)
    body = doc_tables() + ('\n' + doc_results(results) if results else '')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write(head + DOC_BEGIN + '\n' + body + DOC_END + tail)


def check_doc(path):
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    if doc_tables() not in text:
        print('FAIL: %s does not show the tables of matrix.py; run `make reliability-doc`' % path)
        return 1
    counts = (path, len(matrix.FAULTS), len(matrix.cells()), len(matrix.covered_cells()), len(matrix.BAD_INPUTS))
    print('ok: %s matches matrix.py (%d faults, %d cells run, %d covered by another row, %d bad inputs)' % counts)
    return 0


# ---------------------------------------------------------------------------------- main
def main(argv):
    config, outdir, command = argv[1:4]
    if command == 'check-doc':
        return check_doc(argv[4])
    if command == 'doc':
        with open(outdir, encoding='utf-8') as handle:
            write_doc(argv[4], json.load(handle))
        return 0
    with open(config, encoding='utf-8') as handle:
        cfg = yaml.safe_load(handle)
    runner = Runner(cfg, outdir)
    results_path = os.path.join(runner.out, 'results.json')
    parts = argv[4:] or ['matrix', 'bad', 'concurrency', 'fresh_home', 'kill', 'tls']
    only = os.environ.get('REL_ONLY')
    results = {}
    started = time.monotonic()
    runner.emu.call('POST', '/control/reset', {'seed': 'empty'})  # no faults or config left by earlier runs
    if 'matrix' in parts:
        mark = runner.emu.mark()
        results['matrix'] = run_matrix(runner, only)
        # every request the storage host got during the matrix, whichever cell sent it: none may carry the bearer token
        storage = [e for e in runner.emu.log(mark) if e['host'] == 'storage']
        results['storage_requests'] = len(storage)
        results['storage_with_authorization'] = sum(1 for e in storage if e['authorization'])
    if 'bad' in parts:
        results['bad'], results['bad_requests'] = run_bad_inputs(runner)
    if 'concurrency' in parts:
        results['concurrency'] = run_concurrency(runner)
    if 'fresh_home' in parts:
        results['fresh_home'] = run_fresh_home(runner)
    if 'kill' in parts:
        results['kill'] = run_kill(runner)
    if 'tls' in parts:
        results['tls'] = run_tls(runner)
    results['files_scanned'], results['secret_hits'] = scan([os.path.join(runner.out, d) for d in ('logs', 'results', 'xdg', 'plays')],
                                                            secrets_of(cfg, runner.emu))
    results['seconds'] = round(time.monotonic() - started, 1)
    with open(results_path, 'w', encoding='utf-8') as handle:
        json.dump(results, handle, indent=1)
    failures = [r for key in ('matrix', 'bad', 'kill', 'tls') for r in results.get(key, []) if r['problems']]
    if results.get('storage_with_authorization'):
        print('FAIL %d request(s) to the storage host carried an Authorization header' % results['storage_with_authorization'])
        failures.append(results['storage_with_authorization'])
    for part in ('concurrency', 'fresh_home'):
        if results.get(part, {}).get('problems'):
            failures.append(results[part])
    for hit in results['secret_hits']:
        print('FAIL secret: %s' % hit)
    print('reliability: %d cells, %d bad inputs, %d files scanned, %d secrets found, %d duplicates, %d problems, %.0f s'
          % (len(results.get('matrix', [])), len(results.get('bad', [])), results['files_scanned'], len(results['secret_hits']),
             sum(r['duplicates'] for r in results.get('matrix', [])), len(failures), results['seconds']))
    return 1 if failures or results['secret_hits'] else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
