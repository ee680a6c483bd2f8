# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""make bench: the collection side by side with the barest ansible.builtin.uri task, against the emulator.

Starts its own emulator (time scale 6: the service's minute is 10 real seconds), runs real
ansible-playbook plays and counts what the emulator received. Parts (all in one run):

* ab: per-task cost, module vs uri with a ready bearer token, 20 tasks a play, A B A B ... runs;
  medians of wall and CPU per task and the median of the paired ratios.
* process: the module process alone (its AnsiballZ payload run directly, as Ansible runs it):
  wall, CPU and peak RSS, module vs uri's payload, alternating.
* calls: API and login calls per task and play from the emulator's request log.
* bulk: 120 cancels over forks 10 against a server limit of 20 calls / 10 s for each API, for each
  rate-budget backend (BENCH_BACKENDS, default "file redis"; redis is skipped with a note while
  rate_limit_backend is not an option), as two concurrent jobs, and a naive uri loop.

Writes tests/output/bench/bench.json, docs/performance.md (from that JSON: render_doc.py) and the
bulk chart docs/performance_bulk.png. Nothing here asserts speed: figures only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
HERE = os.path.dirname(os.path.realpath(__file__))
MACHINE = '1e5bc9d7e413ddd7902c2932e418702b84d0cc07'
TIME_SCALE = 6.0          # emulated minute = 10 real seconds
BULK_LIMIT = 20           # calls per emulated minute (per API) for the bulk run: 20 calls / 10 s
BULK_CANCELS = 120
BULK_FORKS = 10
TASKS = 20                # tasks per A/B play
SLOW_TRANSIT = 1.5         # seconds the emulator holds a few calls before counting them (bulk, slow transit)
sys.path.insert(0, os.path.join(REPO, 'tests', 'emulator'))

from mde_emulator.client import EmulatorControl, load_settings, module_env  # noqa: E402  pylint: disable=wrong-import-position


class Emulator(EmulatorControl):
    """An emulator of the bench's own (started here, stopped by stop()) and its control API."""

    def __init__(self, python, workdir):
        self.python = python
        self.workdir = workdir
        subprocess.run([python, os.path.join(REPO, 'tests/emulator/run_emulator.py'), 'start', '--workdir', workdir,
                        '--time-scale', str(TIME_SCALE), '--seed', 'empty'], check=True, stdout=subprocess.DEVNULL)
        self.settings = load_settings(workdir)
        super(Emulator, self).__init__(self.settings['control_url'], self.settings['ca_path'])

    def stop(self):
        subprocess.run([self.python, os.path.join(REPO, 'tests/emulator/run_emulator.py'), 'stop', '--workdir', self.workdir], check=False)

    def pending(self, machine=MACHINE, kind='RunAntiVirusScan'):
        return self.add_action({'machineId': machine, 'type': kind, 'status': 'Pending',
                                'lifecycle': {'pending': 10 ** 7, 'in_progress': 0, 'final': None}})

    def final(self, machine=MACHINE):
        return self.add_action({'machineId': machine, 'type': 'RunAntiVirusScan', 'status': 'Succeeded'})

    def env(self):
        return module_env(self.settings)


def counts(log):
    api = [r for r in log if r['host'] == 'api']
    login = [r for r in log if r['host'] == 'login']
    return {'api': len(api), 'api_post': sum(1 for r in api if r['method'] == 'POST'),
            'api_429': sum(1 for r in api if r.get('status') == 429),
            'login': len(login), 'token': sum(1 for r in login if r.get('api') == 'token'),
            'discovery': sum(1 for r in login if r['method'] == 'GET')}


def median(values):
    return statistics.median(values) if values else None


def timed(argv, env, stdout=subprocess.DEVNULL):
    """Run argv to its end; wall seconds, CPU seconds (user + system of it and every process it reaped)
    and the largest single process's peak RSS (KiB), from the kernel's accounting of the child."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.STDOUT)
    dummy, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    return {'wall': wall, 'cpu': usage.ru_utime + usage.ru_stime, 'rss_kib': usage.ru_maxrss, 'rc': proc.returncode}


class Bench:

    def __init__(self, venv, collections):
        self.venv = os.path.abspath(venv)
        self.python = os.path.join(self.venv, 'bin', 'python')
        self.scratch = tempfile.mkdtemp(prefix='mde-bench-')
        self.emu = Emulator(self.python, os.path.join(REPO, '.emulator', 'bench'))
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, XDG_CACHE_HOME=os.path.join(self.scratch, 'xdg'),
                        ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false',
                        ANSIBLE_PYTHON_INTERPRETER=self.python, **self.emu.env())
        self.result = {'machine': {'load_before': os.getloadavg(), 'cpus': os.cpu_count(),
                                   'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())},
                       'settings': {'time_scale': TIME_SCALE, 'tasks_per_play': TASKS}}
        self.token = None

    # ------------------------------------------------------------------ helpers
    def play(self, book, *extra, env=None):
        argv = [os.path.join(self.venv, 'bin', 'ansible-playbook'), os.path.join(HERE, book)] + list(extra)
        return timed(argv, env or self.env)

    def ids_var(self, ids):
        path = os.path.join(self.scratch, 'ids-%d.json' % time.monotonic_ns())
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump({'action_ids': ids, 'token': self.token}, handle)
        return '@' + path

    def ready_token(self):
        """The bearer token the module cached (what uri gets handed: a ready token)."""
        folder = os.path.join(self.env['XDG_CACHE_HOME'], 'defender.endpoint', 'tokens')
        for name in os.listdir(folder):
            if name.endswith('.json'):
                with open(os.path.join(folder, name), encoding='utf-8') as handle:
                    return json.load(handle)['access_token']
        raise RuntimeError('no cached token under %s' % folder)

    # ------------------------------------------------------------------ parts
    def calls(self):
        rows = []
        emu = self.emu

        def measure(label, goal, book, *extra, tasks=1):
            mark = emu.mark()
            fig = self.play(book, *extra)
            rows.append({'scenario': label, 'goal': goal, 'figures': counts(emu.log(mark)), 'seconds': fig['wall'], 'tasks': tasks})

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
        shutil.rmtree(self.env['XDG_CACHE_HOME'], ignore_errors=True)
        measure('play of 20 tasks over 5 forks, first run on this controller (nothing cached)',
                'login calls: 1 token request (+ 1 discovery at most once a day)', *forks, tasks=20)
        shutil.rmtree(os.path.join(self.env['XDG_CACHE_HOME'], 'defender.endpoint', 'tokens'), ignore_errors=True)
        measure('play of 20 tasks over 5 forks, no cached token (expired), discovery cached', 'login calls: 1', *forks, tasks=20)
        measure('same play again within the token lifetime', 'login calls: 0', *forks, tasks=20)
        self.result['calls'] = rows

    def ab(self, runs):
        """Per-task cost: module (A) and uri (B) plays of TASKS tasks, alternating, medians and paired ratios."""
        emu = self.emu
        self.token = self.ready_token()
        done = emu.final()['id']
        scenarios = [
            ('noop_cancel', 'no-op cancel (action already final): 1 API call', 'uri GET of the action',
             lambda: [done] * TASKS, lambda: [done] * TASKS, 'ab_cancel.yml', 'ab_uri.yml', ['-e', 'uri_method=GET']),
            ('real_cancel', 'real cancel: GET + POST', 'blind uri POST of the cancel',
             lambda: [emu.pending()['id'] for dummy in range(TASKS)], lambda: [emu.pending()['id'] for dummy in range(TASKS)],
             'ab_cancel.yml', 'ab_uri.yml', ['-e', 'uri_method=POST']),
        ]
        out = {}
        for key, label, b_label, a_ids, b_ids, a_book, b_book, b_extra in scenarios:
            pairs = []
            for dummy in range(runs):
                ids = a_ids()
                mark = emu.mark()
                a = self.play(a_book, '-e', self.ids_var(ids))
                a['calls'] = counts(emu.log(mark))
                ids = b_ids()
                mark = emu.mark()
                b = self.play(b_book, '-e', self.ids_var(ids), *b_extra)
                b['calls'] = counts(emu.log(mark))
                pairs.append((a, b))
            out[key] = summarize(label, b_label, pairs, TASKS)
        self.result['ab'] = out

    def process(self, runs):
        """The module process alone: the kept AnsiballZ payloads of the cancel module and of uri, run directly."""
        keep = os.path.join(self.scratch, 'remote-tmp')
        env = dict(self.env, ANSIBLE_KEEP_REMOTE_FILES='1', ANSIBLE_REMOTE_TMP=keep)
        self.token = self.token or self.ready_token()  # uri's ready token, when the ab part did not run
        done = self.emu.final()['id']
        payloads = {}
        for book, extra, name in (('ab_cancel.yml', [], 'AnsiballZ_mde_machine_action_cancel.py'),
                                  ('ab_uri.yml', ['-e', 'uri_method=GET'], 'AnsiballZ_uri.py')):
            shutil.rmtree(keep, ignore_errors=True)
            fig = self.play(book, '-e', self.ids_var([done]), *extra, env=env)
            if fig['rc'] != 0:
                raise RuntimeError('%s failed while keeping its payload' % book)
            for root, dummy, files in os.walk(keep):
                if name in files:
                    dest = os.path.join(self.scratch, name)
                    shutil.copy(os.path.join(root, name), dest)
                    payloads[name] = dest
        pairs = []
        for dummy in range(runs):
            a = timed([self.python, payloads['AnsiballZ_mde_machine_action_cancel.py']], self.env)
            b = timed([self.python, payloads['AnsiballZ_uri.py']], self.env)
            pairs.append((a, b))
        summary = summarize('no-op cancel module process', 'uri GET module process', pairs, 1)
        # what the module imports, from python -X importtime on the payload (the self-cost of top modules)
        imports = subprocess.run([self.python, '-X', 'importtime', payloads['AnsiballZ_mde_machine_action_cancel.py']],
                                 env=self.env, capture_output=True, text=True, check=False).stderr
        summary['imports'] = import_summary(imports)
        self.result['process'] = summary

    def bulk(self, backends, runs_note):
        """120 cancels over forks 10 at 20 calls / 10 s per API: each backend, two concurrent jobs, naive uri."""
        emu = self.emu
        self.token = self.ready_token()
        out = {'limit_calls': BULK_LIMIT, 'window_s': 60.0 / TIME_SCALE, 'cancels': BULK_CANCELS, 'forks': BULK_FORKS,
               # each cancel is one GET and one POST, two APIs with a budget each: 120 calls of each at 2 a second
               'floor_s': BULK_CANCELS / (BULK_LIMIT / (60.0 / TIME_SCALE)), 'runs': [], 'note': runs_note}
        emu.set_config(rate_limits={'default': {'per_minute': BULK_LIMIT, 'per_hour': None}})
        env = dict(self.env, MDE_RATE_LIMIT_PER_MINUTE=str(BULK_LIMIT), MDE_RATE_LIMIT_PER_HOUR='100000',
                   MDE_MAX_WAIT='60')
        try:
            for backend in backends:
                benv = dict(env)
                if backend == 'redis':
                    skip = redis_skip_reason()
                    if skip:
                        out['runs'].append({'name': 'module, redis backend', 'skipped': skip})
                        continue
                    server = RedisServer(self.scratch)
                    benv.update(MDE_RATE_LIMIT_BACKEND='redis', MDE_REDIS_URL=server.url)
                else:
                    server = None
                    if option_exists('rate_limit_backend'):
                        benv['MDE_RATE_LIMIT_BACKEND'] = backend
                try:
                    self.wait_window()
                    out['runs'].append(self.bulk_run('module, %s backend' % backend, [BULK_CANCELS], benv, 'bulk_cancel.yml'))
                    if backend == 'file':
                        # slow transit: three GETs reach the service's count 1.5 s after the budget let them go (the
                        # emulator holds them before counting), as a process starved of CPU between its budget slot
                        # and its request does under load
                        self.wait_window()
                        emu.add_faults(*[{'kind': 'delay', 'seconds': SLOW_TRANSIT, 'host': 'api', 'api': 'get_action',
                                          'skip': skip, 'times': 1} for skip in (0, 40, 80)])
                        try:
                            out['runs'].append(self.bulk_run('module, %s backend, 3 GETs counted %.1f s late (slow transit)'
                                                             % (backend, SLOW_TRANSIT), [BULK_CANCELS], benv, 'bulk_cancel.yml'))
                        finally:
                            emu.clear_faults()
                        self.wait_window()
                        out['runs'].append(self.bulk_run('module, %s backend, two concurrent jobs' % backend,
                                                         [BULK_CANCELS // 2, BULK_CANCELS // 2], benv, 'bulk_cancel.yml'))
                finally:
                    if server:
                        server.stop()
            self.wait_window()
            out['runs'].append(self.bulk_run('naive uri loop (blind POST, ready token)', [BULK_CANCELS], env, 'bulk_uri.yml'))
        finally:
            emu.set_config(rate_limits={'default': None})
        self.result['bulk'] = out

    def wait_window(self):
        """Let the server's window (and the client's) empty before a bulk run: their calls would count."""
        folder = os.path.join(self.env['XDG_CACHE_HOME'], 'defender.endpoint', 'ratelimit')
        time.sleep(60.0 / TIME_SCALE + 1)
        shutil.rmtree(folder, ignore_errors=True)

    def bulk_run(self, name, jobs, env, book):
        emu = self.emu
        procs = []
        mark = emu.mark()
        start_wall = time.time()
        start = time.monotonic()
        for size in jobs:
            ids = [emu.pending()['id'] for dummy in range(size)]
            inv = os.path.join(self.scratch, 'bulk-%d.json' % time.monotonic_ns())
            hosts = {'b%03d' % i: {'action_id': ident} for i, ident in enumerate(ids)}
            with open(inv, 'w', encoding='utf-8') as handle:
                json.dump({'all': {'children': {'bulk': {'hosts': hosts}},
                                   'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': self.python,
                                            'token': self.token}}}, handle)
            log = open(os.path.join(self.scratch, 'bulk-%d.log' % time.monotonic_ns()), 'w', encoding='utf-8')
            argv = [os.path.join(self.venv, 'bin', 'ansible-playbook'), os.path.join(HERE, book), '-i', inv, '-f', str(BULK_FORKS)]
            procs.append((subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT), log))
        if len(jobs) > 1:
            start = time.monotonic()  # both jobs are launched; actions were created before the first
        rcs = []
        for proc, log in procs:
            rcs.append(proc.wait())
            log.close()
        wall = time.monotonic() - start
        records = [r for r in emu.log(mark) if r['host'] == 'api']
        ops = sorted({r['api'] for r in records if r['api']})
        series = [{'t': r['time'] - start_wall, 'api': r['api'], 'status': r['status']} for r in records]
        transit = self.transit(records)
        return {'transit': transit, 'name': name, 'jobs': jobs, 'wall_s': wall, 'rc': rcs, 'calls': counts(emu.log(mark)),
                'apis': ops, 'failed_tasks': failed_tasks(procs), 'first_failure': first_failure(procs),
                'max_in_window': max_in_window(series, 60.0 / TIME_SCALE), 'series': series}

    def transit(self, records):
        """The client's budget records beside the server's arrivals, API by API (file backend only): how late
        each call reached the server after the budget recorded it, and the worst drift of the client's window
        from the server's: the largest d[k] - d[k + limit] (a call k + limit goes at t[k] + window + guard, and
        the server counts it inside its window when that drift passes the guard)."""
        folder = os.path.join(self.env['XDG_CACHE_HOME'], 'defender.endpoint', 'ratelimit')
        client = []
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if name.endswith('.json'):
                with open(os.path.join(folder, name), encoding='utf-8') as handle:
                    client.append(sorted(json.load(handle).get('calls', [])))
        out = {}
        for api in sorted({r['api'] for r in records if r['api']}):
            server = sorted(r['time'] for r in records if r['api'] == api)
            match = [c[-len(server):] for c in client if len(c) >= len(server)]
            if not match:
                continue
            stamps = min(match, key=lambda c: sum(abs(a - b) for a, b in zip(c, server)))
            delay = [b - a for a, b in zip(stamps, server)]
            drift = [delay[k] - delay[k + BULK_LIMIT] for k in range(len(delay) - BULK_LIMIT)]
            out[api] = {'calls': len(delay), 'transit_median_s': median(delay), 'transit_max_s': max(delay),
                        'transit_min_s': min(delay), 'drift_max_s': max(drift) if drift else None}
        return out

    def close(self):
        self.emu.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)


def first_failure(procs):
    for dummy, log in procs:
        with open(log.name, encoding='utf-8') as handle:
            for line in handle:
                if line.startswith('fatal:'):
                    return line.strip()[:600]
    return None


def failed_tasks(procs):
    total = 0
    for dummy, log in procs:
        with open(log.name, encoding='utf-8') as handle:
            for line in handle:
                if line.startswith('localhost') or ' failed=' not in line:
                    continue
                total += int(line.split(' failed=')[1].split()[0])
    return total


def max_in_window(series, window):
    """The largest number of accepted calls of one API the server counted in any window (the limit is 20)."""
    best = 0
    for api in {s['api'] for s in series}:
        times = sorted(s['t'] for s in series if s['api'] == api and s['status'] != 429)
        lo = 0
        for hi, stamp in enumerate(times):
            while times[lo] <= stamp - window:
                lo += 1
            best = max(best, hi - lo + 1)
    return best


def summarize(a_label, b_label, pairs, tasks):
    ratio = [a['wall'] / b['wall'] for a, b in pairs]
    cpu_ratio = [a['cpu'] / b['cpu'] for a, b in pairs if b['cpu']]
    return {
        'a': a_label, 'b': b_label, 'runs': len(pairs), 'tasks': tasks,
        'a_ms_per_task': 1000 * median([a['wall'] for a, b in pairs]) / tasks,
        'b_ms_per_task': 1000 * median([b['wall'] for a, b in pairs]) / tasks,
        'a_cpu_ms_per_task': 1000 * median([a['cpu'] for a, b in pairs]) / tasks,
        'b_cpu_ms_per_task': 1000 * median([b['cpu'] for a, b in pairs]) / tasks,
        'a_peak_rss_mib': median([a['rss_kib'] for a, b in pairs]) / 1024.0,
        'b_peak_rss_mib': median([b['rss_kib'] for a, b in pairs]) / 1024.0,
        'ratio_median': median(ratio), 'ratio_min': min(ratio), 'ratio_max': max(ratio),
        'cpu_ratio_median': median(cpu_ratio),
        'a_calls': pairs[-1][0].get('calls'), 'b_calls': pairs[-1][1].get('calls'),
        'a_rc': [a['rc'] for a, b in pairs], 'b_rc': [b['rc'] for a, b in pairs],
    }


def import_summary(text):
    """Cumulative import time (ms) of the packages that matter, from -X importtime's stderr."""
    watch = ('requests', 'urllib3', 'cryptography', 'msal', 'redis', 'ansible.module_utils.basic', 'json', 'ssl', 'http.client',
             'ansible_collections.defender.endpoint.plugins.module_utils._runner',
             'ansible_collections.defender.endpoint.plugins.module_utils._transport')
    found = {}
    total = 0
    for line in text.splitlines():
        if not line.startswith('import time:') or 'cumulative' in line:
            continue
        try:
            self_us, cumulative, name = line[len('import time:'):].split('|', 2)
            self_us = int(self_us)
            cumulative = int(cumulative)
        except (AttributeError, ValueError):
            continue
        total += self_us
        bare = name.strip()
        if bare in watch and bare not in found:
            found[bare] = cumulative / 1000.0
    return {'total_ms': total / 1000.0, 'cumulative_ms': found}


def option_exists(name):
    with open(os.path.join(REPO, 'plugins/module_utils/_connection.py'), encoding='utf-8') as handle:
        return ('%s=dict(' % name) in handle.read()


def redis_skip_reason():
    if not option_exists('rate_limit_backend'):
        return 'skipped: rate_limit_backend is not an option of this tree yet (the Redis backend, issue 14, has not landed)'
    if not shutil.which('redis-server'):
        return 'skipped: redis-server is not installed'
    return None


class RedisServer:
    def __init__(self, scratch):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
        sock.close()
        self.proc = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                                      '--appendonly', 'no', '--dir', scratch], stdout=subprocess.DEVNULL)
        self.url = 'redis://127.0.0.1:%d/0' % port
        for dummy in range(100):
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def main():
    venv = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, '.venv')
    collections = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, '.cache', 'collections')
    runs = int(os.environ.get('BENCH_RUNS', '5'))
    backends = os.environ.get('BENCH_BACKENDS', 'file redis').split()
    parts = os.environ.get('BENCH_PARTS', 'calls ab process bulk').split()
    out = os.path.join(REPO, 'tests', 'output', 'bench')
    os.makedirs(out, exist_ok=True)
    bench = Bench(venv, collections)
    started = time.monotonic()
    try:
        bench.emu.reset('empty')
        # launched actions stay Pending for an emulated hour: re-runs meet them still running
        bench.emu.set_config(default_lifecycle={'pending': 3600, 'in_progress': 3600, 'final': 'Succeeded'})
        bench.calls()  # first: its first play warms the token cache the other parts use
        if 'ab' in parts:
            bench.ab(runs)
        if 'process' in parts:
            bench.process(max(runs * 5, 15))  # a process run is cheap: more pairs steady its ratio
        if 'bulk' in parts:
            bench.bulk(backends, 'backends asked for: %s' % ' '.join(backends))
    finally:
        bench.close()
        bench.result['machine']['load_after'] = os.getloadavg()
        bench.result['machine']['bench_wall_s'] = time.monotonic() - started
        path = os.path.join(out, 'bench.json')
        with open(path, 'w', encoding='utf-8') as handle:
            json.dump(bench.result, handle, indent=1)
        print('wrote %s' % path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
