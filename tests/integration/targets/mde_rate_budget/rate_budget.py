# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rate budget across AWX jobs (issue 14): two "jobs" at the same time, against the emulator.

    rate_budget.py CONFIG OUTDIR run [shared file_baseline skew redis_outage pause]   (default: all)
    rate_budget.py - OUTDIR figures                                   the two measured runs only (make bench)

A job is an ``ansible-playbook`` process with its own HOME, TMPDIR and cache folder (token cache,
file budget), as two AWX containers, each with forks. Both use one app (one budget key). This
target starts its own emulator (time scale 6: the API's minute is 10 real seconds, so the
budget's transit guard of 0.5 s is small beside it) with low limits, and its own redis-server on
a free loopback port with a password and no persistence, and stops both. Every fact is read from
the emulator's request log and state, or the Redis server, never from the module's word:

- shared: with Redis, 0 answers 429 (asserted) and the span of the calls against the floor the
  limits allow (measured and reported, not asserted);
- file_baseline: the same run with the file backend: its 429s and time (reported);
- skew: one job's clock set back 5 minutes (a sitecustomize hook of this test shifts time.time in
  its processes; its token cache shows the shift): still 0 answers 429;
- redis_outage: Redis stopped mid-run then started again: every task ok, a warning during the
  outage, each launch made exactly once, and calls recorded in Redis again once it is back;
- pause: a 429 (Retry-After 8 s) seen by one job keeps the other job's calls away.

OUTDIR/results.json holds the figures; each job's -vvv output is kept and scanned for secrets
(the Redis password, the client secret, every token the emulator issued).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.realpath(__file__))
while not os.path.isdir(os.path.join(ROOT, 'tests', 'emulator', 'mde_emulator')) and os.path.dirname(ROOT) != ROOT:
    ROOT = os.path.dirname(ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'emulator'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'utils'))

from mde_emulator.client import EmulatorControl, load_settings, module_env, scan  # noqa: E402  pylint: disable=wrong-import-position
from redis_server import RedisServer  # noqa: E402  pylint: disable=wrong-import-position

TIME_SCALE = 6.0           # the emulator's and the modules' (MDE_TIME_SCALE): an API minute is 10 real seconds
WINDOW = 60.0 / TIME_SCALE
FORKS = 5
WARNING = 'The Redis rate budget at'
SKEW = 300.0  # seconds job2's clock is behind in the skew part
SKEW_HOOK = '''# the clock skew of the rate budget test (mde_rate_budget): time.time of this process runs MDE_TEST_CLOCK_SKEW s off
import os
import time

_REAL_TIME = time.time
_SKEW = float(os.environ.get('MDE_TEST_CLOCK_SKEW') or 0)
time.time = lambda: _REAL_TIME() + _SKEW
'''
PLAY = '''- name: A job of the rate budget test
  hosts: job
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Look up the action
      defender.endpoint.mde_machine_action_info:
        id: "{{ action_id }}"
        redis_url: "{{ lookup('env', 'JOB_REDIS_URL') or omit }}"
      loop: "{{ range(tasks) | list }}"
      when: mode == 'info'
    - name: Start a scan on each machine of the host
      defender.endpoint.mde_machine_av_scan:
        machine_id: "{{ item }}"
        scan_type: quick
        comment: "{{ comment }}"
        redis_url: "{{ lookup('env', 'JOB_REDIS_URL') or omit }}"
      loop: "{{ machines }}"
      when: mode == 'launch'
'''


class Emulator(EmulatorControl):
    """This target's own emulator (started here, stopped by stop())."""

    def __init__(self, workdir):
        self.workdir = workdir
        subprocess.run([sys.executable, os.path.join(ROOT, 'tests/emulator/run_emulator.py'), 'start', '--workdir', workdir,
                        '--time-scale', str(TIME_SCALE), '--seed', 'empty'], check=True, stdout=subprocess.DEVNULL)
        self.settings = load_settings(workdir)
        super(Emulator, self).__init__(self.settings['control_url'], self.settings['ca_path'], timeout=60)

    def stop(self):
        subprocess.run([sys.executable, os.path.join(ROOT, 'tests/emulator/run_emulator.py'), 'stop', '--workdir', self.workdir], check=False)

    def limits(self, per_minute):
        """A fresh start for a part: no calls of the previous part left in the emulator's windows (nor in Redis, see
        Run.redis_flush), so each part meets only its own calls; then the part's limit."""
        self.reset('empty')
        self.set_config(rate_limits={'default': {'per_minute': per_minute, 'per_hour': None}})

    def new_machine(self):
        machine_id = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        self.add_machine({'id': machine_id, 'computerDnsName': 'rb-%s.contoso.com' % machine_id[:8]})
        return machine_id

    def new_action(self):
        return self.add_action({'machineId': self.new_machine(), 'type': 'RunAntiVirusScan', 'lifecycle': {'pending': None},
                                'requestorComment': 'rate budget'})['id']


class Job:
    """One ansible-playbook process with a home, temp and cache folder of its own (an AWX container)."""

    def __init__(self, name, folder, env, hostvars):
        self.name = name
        self.folder = os.path.join(folder, name)
        for sub in ('home', 'tmp', 'cache'):
            os.makedirs(os.path.join(self.folder, sub), exist_ok=True)
        self.env = dict(env, HOME=os.path.join(self.folder, 'home'), TMPDIR=os.path.join(self.folder, 'tmp'),
                        XDG_CACHE_HOME=os.path.join(self.folder, 'cache'), ANSIBLE_LOCAL_TEMP=os.path.join(self.folder, 'tmp'),
                        ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_FORCE_COLOR='false', ANSIBLE_NOCOLOR='true')
        hosts = dict(('%s-host%d' % (name, index), dict(hostvars, ansible_connection='local'))
                     for index in range(1, FORKS + 1))
        self.inventory = os.path.join(self.folder, 'inventory.yml')
        with open(self.inventory, 'w', encoding='utf-8') as handle:
            yaml.safe_dump({'job': {'hosts': hosts}}, handle)
        self.log = os.path.join(self.folder, 'ansible-vvv.log')
        self.process = None

    def host_vars(self, name, values):
        with open(self.inventory, encoding='utf-8') as handle:
            data = yaml.safe_load(handle)
        data['job']['hosts'][name].update(values)
        with open(self.inventory, 'w', encoding='utf-8') as handle:
            yaml.safe_dump(data, handle)

    def start(self, play):
        self.handle = open(self.log, 'w', encoding='utf-8')  # pylint: disable=consider-using-with
        self.process = subprocess.Popen(['ansible-playbook', '-vvv', '-f', str(FORKS), '-i', self.inventory, play],
                                        env=self.env, stdout=self.handle, stderr=subprocess.STDOUT)

    def wait(self):
        rc = self.process.wait()
        self.handle.close()
        with open(self.log, encoding='utf-8', errors='replace') as handle:
            self.output = handle.read()
        return rc


def token_obtained_at(job):
    """When the job's token cache says it got its token, by the job's own clock."""
    folder = os.path.join(job.folder, 'cache', 'defender.endpoint', 'tokens')
    for name in os.listdir(folder):
        if name.endswith('.json'):
            with open(os.path.join(folder, name), encoding='utf-8') as handle:
                return json.load(handle)['obtained_at']
    raise AssertionError('no token cache in %s' % folder)


def floor_seconds(calls, per_window):
    """The least time the limits allow between the first and the last of ``calls`` calls."""
    return max(0, math.ceil(calls / float(per_window)) - 1) * WINDOW


class Run:
    def __init__(self, outdir, emu, redis, password):
        self.outdir = outdir
        self.emu = emu
        self.redis = redis
        self.password = password
        self.play = os.path.join(outdir, 'job.yml')
        with open(self.play, 'w', encoding='utf-8') as handle:
            handle.write(PLAY)
        self.results = {}
        self.problems = []

    def env(self, backend, per_minute, redis_in_env=True):
        env = dict(os.environ, **module_env(self.emu.settings))
        env.update(MDE_TIME_SCALE=str(TIME_SCALE), MDE_RATE_LIMIT_BACKEND=backend, MDE_RATE_LIMIT_PER_MINUTE=str(per_minute))
        env.pop('MDE_REDIS_URL', None)
        env.pop('JOB_REDIS_URL', None)
        if backend == 'redis':
            # one job reads redis_url from the environment (as AWX injects it), the other as a module option (no_log)
            env['MDE_REDIS_URL' if redis_in_env else 'JOB_REDIS_URL'] = self.redis.url
        return env

    def jobs(self, scenario, backend, per_minute, hostvars, skew=False):
        folder = os.path.join(self.outdir, scenario)
        shutil.rmtree(folder, ignore_errors=True)
        first = Job('job1', folder, self.env(backend, per_minute, True), hostvars(1))
        env = self.env(backend, per_minute, False)
        if skew:  # every Python process of job2 (ansible-playbook, each module) reads a clock 5 minutes behind
            hook = os.path.join(folder, 'clock_skew')
            os.makedirs(hook)
            with open(os.path.join(hook, 'sitecustomize.py'), 'w', encoding='utf-8') as handle:
                handle.write(SKEW_HOOK)
            env.update(PYTHONPATH=os.pathsep.join(p for p in (hook, env.get('PYTHONPATH')) if p), MDE_TEST_CLOCK_SKEW=str(-SKEW))
        second = Job('job2', folder, env, hostvars(2))
        return [first, second]

    def check(self, scenario, condition, text):
        if not condition:
            self.problems.append('%s: %s' % (scenario, text))
        return condition

    def concurrent(self, scenario, jobs, during=None):
        """Start the jobs together, run ``during`` while they run, wait for them; the API requests they made."""
        mark = self.emu.mark()
        start = time.monotonic()
        for job in jobs:
            job.start(self.play)
        if during is not None:
            during(mark)
        codes = [job.wait() for job in jobs]
        wall = time.monotonic() - start
        for job, rc in zip(jobs, codes):
            self.check(scenario, rc == 0, '%s exited %d (see %s)' % (job.name, rc, job.log))
        api = [r for r in self.emu.log(mark) if r['host'] == 'api']
        return api, wall

    def figures(self, scenario, api, wall, per_minute, extra=None):
        """The figures of a run; the floor only where every call is of one API (one budget key, one emulator window)."""
        times = sorted(r['time'] for r in api if r['status'] != 429)
        span = times[-1] - times[0] if times else 0.0
        floor = floor_seconds(len(times), per_minute) if len(set(r['api'] for r in api)) == 1 else 0.0
        out = {'api_calls': len(api), 'answers_429': sum(1 for r in api if r['status'] == 429), 'calls_served': len(times),
               'limit': '%d per %.0f s' % (per_minute, WINDOW), 'floor_s': round(floor, 2), 'span_s': round(span, 2),
               'span_vs_floor': round(span / floor, 3) if floor else None, 'wall_s': round(wall, 1)}
        out.update(extra or {})
        start = times[0] if times else 0.0
        # each answer 429: when (s after the first call), to which action, and the served calls around it (for the record)
        out['log_429'] = [{'at_s': round(r['time'] - start, 2), 'path': r['path'][-36:],
                           'served_within_10s_before': sum(1 for t in times if r['time'] - WINDOW < t <= r['time'])}
                          for r in api if r['status'] == 429]
        self.results[scenario] = out
        print('%-14s %s' % (scenario, json.dumps(out)), flush=True)
        return out

    # ------------------------------------------------------------------------------- scenarios
    def info_scenario(self, scenario, backend, per_minute=10, tasks=3, skew=False):
        self.emu.limits(per_minute)
        self.redis_flush()
        actions = [self.emu.new_action(), self.emu.new_action()]
        jobs = self.jobs(scenario, backend, per_minute, lambda n: {'mode': 'info', 'tasks': tasks, 'action_id': actions[n - 1]}, skew)
        api, wall = self.concurrent(scenario, jobs)
        fig = self.figures(scenario, api, wall, per_minute)
        self.check(scenario, fig['calls_served'] == 2 * FORKS * tasks, 'expected %d served calls, the emulator saw %d'
                   % (2 * FORKS * tasks, fig['calls_served']))
        return fig, jobs

    def shared(self):
        fig, jobs = self.info_scenario('shared', 'redis')
        self.check('shared', fig['answers_429'] == 0, 'with Redis the emulator answered 429 %d times' % fig['answers_429'])
        self.check('shared', not any(WARNING in job.output for job in jobs), 'a job warned about Redis')

    def file_baseline(self):
        self.info_scenario('file_baseline', 'file')  # measured and reported: its 429s are the point

    def skew(self):
        fig, jobs = self.info_scenario('skew', 'redis', skew=True)
        self.check('skew', fig['answers_429'] == 0, 'with one clock 5 minutes behind the emulator answered 429 %d times'
                   % fig['answers_429'])
        obtained = [token_obtained_at(job) for job in jobs]
        fig['token_obtained_at_job2_minus_job1_s'] = round(obtained[1] - obtained[0], 1)
        self.check('skew', obtained[1] - obtained[0] < -SKEW / 2, 'job2\'s clock was not skewed (token obtained at %s vs %s)' % (
            obtained[1], obtained[0]))

    def redis_outage(self):
        scenario, per_minute = 'redis_outage', 20
        self.emu.limits(per_minute)
        self.redis_flush()
        comment = 'rate budget outage %s' % uuid.uuid4().hex[:8]
        machines = {}

        def hostvars(n):
            return {'mode': 'launch', 'comment': comment, 'machines': []}

        jobs = self.jobs(scenario, 'redis', per_minute, hostvars)
        for job in jobs:
            for index in range(1, FORKS + 1):
                name = '%s-host%d' % (job.name, index)
                machines[name] = [self.emu.new_machine() for dummy in range(3)]
                job.host_vars(name, {'machines': machines[name]})
        total = sum(len(m) for m in machines.values())
        phases = {}

        def during(mark):
            self.wait_for_calls(mark, total // 3)  # a third of the launches' calls through Redis, then stop it
            self.redis.stop()
            phases['stopped_at'] = time.time()
            self.wait_for_calls(mark, total)        # the next third with no Redis (the file budgets)
            self.redis.start()
            phases['started_at'] = time.time()

        api, wall = self.concurrent(scenario, jobs, during)
        keys = self.redis_keys()
        posts = [r for r in api if r['method'] == 'POST' and r['status'] == 201]
        state = self.emu.state()
        actions = [a for a in state.get('actions', []) if a.get('requestorComment') == comment]
        per_machine = {}
        for action in actions:
            per_machine[action['machineId']] = per_machine.get(action['machineId'], 0) + 1
        warned = [job.name for job in jobs if WARNING in job.output]
        fig = self.figures(scenario, api, wall, per_minute, {
            'launches': total, 'actions_created': len(actions), 'posts_201': len(posts), 'jobs_warned': warned,
            'calls_after_restart': sum(1 for r in api if r['time'] > phases.get('started_at', 1e20)),
            'budget_keys_in_redis_after_restart': keys})
        self.check(scenario, sorted(per_machine.values()) == [1] * total and len(actions) == total,
                   'each of the %d machines should hold exactly one scan: %s' % (total, sorted(per_machine.values())))
        self.check(scenario, len(posts) == total, '%d launch POSTs answered 201 for %d launches' % (len(posts), total))
        self.check(scenario, bool(warned), 'no job warned that Redis failed')
        self.check(scenario, fig['calls_after_restart'] == 0 or keys > 0,
                   'calls were made after Redis came back but none was recorded in it')
        self.check(scenario, fig['calls_after_restart'] > 0, 'no call was left after Redis came back: the check of sharing again '
                   'proves nothing (make the run longer)')

    def pause(self):
        scenario, retry_after = 'pause', 8
        self.emu.limits(1000)
        self.redis_flush()
        actions = [self.emu.new_action(), self.emu.new_action()]
        jobs = self.jobs(scenario, 'redis', 1000, lambda n: {'mode': 'info', 'tasks': 4, 'action_id': actions[n - 1]})

        def during(mark):
            # once job2 is calling, job1's next call is answered 429 with Retry-After
            self.wait_for_calls(mark, 2, match=actions[1])
            self.emu.add_faults({'kind': 'throttle', 'retry_after': retry_after, 'api': 'get_action', 'path_regex': actions[0],
                                 'times': 1})

        api, wall = self.concurrent(scenario, jobs, during)
        throttled = [r for r in api if r['status'] == 429]
        other = [r['time'] for r in api if actions[1] in r['path']]
        fig = self.figures(scenario, api, wall, 1000)
        if not self.check(scenario, len(throttled) == 1 and actions[0] in throttled[0]['path'], 'expected one 429, to job1: %s'
                          % [(r['path'], r['status']) for r in throttled]):
            return
        at = throttled[0]['time']
        # calls of job2 that had their slot before the 429 was recorded may still arrive in its first moments (in flight)
        inside = [t - at for t in other if at + 2.0 < t < at + retry_after - 0.5]
        fig.update({'job2_calls_before_429': sum(1 for t in other if t <= at), 'job2_calls_during_pause': len(inside),
                    'job2_calls_after_pause': sum(1 for t in other if t >= at + retry_after - 0.5)})
        self.check(scenario, fig['job2_calls_before_429'] > 0 and fig['job2_calls_after_pause'] > 0,
                   'job2 was not running on both sides of the pause: the check proves nothing')
        self.check(scenario, not inside, 'job2 called the API during job1\'s 429 pause, %s s after it' % [round(t, 2) for t in inside])

    # ------------------------------------------------------------------------------- helpers
    def wait_for_calls(self, mark, count, deadline=300.0, match=''):
        until = time.monotonic() + deadline
        while sum(1 for r in self.emu.log(mark) if r['host'] == 'api' and match in r['path']) < count:
            if time.monotonic() > until:
                raise RuntimeError('the jobs made fewer than %d API calls in %.0f s' % (count, deadline))
            time.sleep(0.2)  # polling the request log for an event under a deadline

    def redis_client(self):
        import redis  # pylint: disable=import-outside-toplevel
        return redis.Redis.from_url(self.redis.url, socket_connect_timeout=5)

    def redis_flush(self):
        client = self.redis_client()
        client.flushall()
        client.close()

    def redis_keys(self):
        client = self.redis_client()
        keys = len(client.keys('defender.endpoint:ratelimit:*'))
        client.close()
        return keys

    def scan(self):
        secrets = {'Redis password': self.password, 'Redis URL': self.redis.url,
                   'client secret': self.emu.settings['apps']['default']['client_secret']}
        for index, token in enumerate(self.emu.tokens()):
            secrets['issued token #%d' % index] = token if isinstance(token, str) else token.get('access_token')
        scanned, found = scan([self.outdir], dict((k, v) for k, v in secrets.items() if v))
        self.results['secret_scan'] = {'files': scanned, 'found': ['%s in %s' % hit for hit in found]}
        self.check('secret scan', not found, 'secrets in the output: %s' % found)


PARTS = ('shared', 'file_baseline', 'skew', 'redis_outage', 'pause')


def main(argv):
    config, outdir, command = argv[1], argv[2], argv[3]
    parts = argv[4:] or (PARTS if command == 'run' else ('shared', 'file_baseline'))
    if shutil.which('redis-server') is None:
        print('redis-server is not installed: apt-get install redis-server (.ci/run installs it)')
        return 1
    password = uuid.uuid4().hex
    if config != '-':
        with open(config, encoding='utf-8') as handle:
            password = yaml.safe_load(handle).get('mde_redis_password') or password
    outdir = os.path.abspath(outdir)
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    started = time.monotonic()
    emu_dir = tempfile.mkdtemp(prefix='mde-rate-budget-emulator-')  # outside OUTDIR: its files hold the app's secret
    emu = Emulator(emu_dir)
    try:
        with RedisServer(password=password) as redis:
            run = Run(outdir, emu, redis, password)
            for part in parts:
                getattr(run, part)()
            run.scan()
    finally:
        emu.stop()
        shutil.rmtree(emu_dir, ignore_errors=True)
    run.results['wall_s'] = round(time.monotonic() - started, 1)
    run.results['problems'] = run.problems
    with open(os.path.join(outdir, 'results.json'), 'w', encoding='utf-8') as handle:
        json.dump(run.results, handle, indent=2)
    for problem in run.problems:
        print('PROBLEM ' + problem)
    print('rate budget: %d part(s) in %.0f s, %d problem(s)' % (len(parts), run.results['wall_s'], len(run.problems)))
    return 1 if run.problems and command == 'run' else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
