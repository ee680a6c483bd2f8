# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/performance.md and docs/performance_bulk.png from make bench's JSON (run in .venv-bench: matplotlib).

A rerun of `make bench` refreshes both; the analysis text is tests/bench/notes.md, included as is.
"""

from __future__ import annotations

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
HERE = os.path.dirname(os.path.realpath(__file__))
DOC = os.path.join(REPO, 'docs', 'performance.md')
CHART = os.path.join(REPO, 'docs', 'performance_bulk.png')


def ms(value):
    return '%.0f ms' % value


def ab_rows(res):
    rows = []
    goals = {'noop_cancel': '<= 1.0x', 'real_cancel': '<= 1.10x'}
    for key in ('noop_cancel', 'real_cancel'):
        s = res.get('ab', {}).get(key)
        if not s:
            continue
        rows.append('| %s | %s/task, %s CPU | %s: %s/task, %s CPU | %.2fx (%.2f-%.2f); CPU %.2fx | %s |' % (
            s['a'], ms(s['a_ms_per_task']), ms(s['a_cpu_ms_per_task']), s['b'], ms(s['b_ms_per_task']),
            ms(s['b_cpu_ms_per_task']), s['ratio_median'], s['ratio_min'], s['ratio_max'], s['cpu_ratio_median'],
            goals[key]))
    bulk = res.get('bulk')
    if bulk:
        naive = [r for r in bulk['runs'] if r['name'].startswith('naive')]
        for run in bulk['runs']:
            if run['name'].startswith('naive'):
                continue
            if run.get('skipped'):
                rows.append('| bulk: %s | %s | | | |' % (run['name'], run['skipped']))
                continue
            other = ''
            if naive:
                n = naive[0]
                other = 'naive uri loop: %.0f s, %d of %d failed (%d answers 429)' % (
                    n['wall_s'], n['failed_tasks'], bulk['cancels'], n['calls']['api_429'])
            rows.append('| bulk: %d cancels, forks %d, server limit %d calls / %.0f s per API (floor %.0f s): %s | '
                        '%.1f s, %d answers 429, %d failed | %s | %.2fx floor | <= 1.05x floor, 0 answers 429 |' % (
                            bulk['cancels'], bulk['forks'], bulk['limit_calls'], bulk['window_s'], bulk['floor_s'], run['name'],
                            run['wall_s'], run['calls']['api_429'], run['failed_tasks'], other, run['wall_s'] / bulk['floor_s']))
    calls = {r['scenario']: r['figures'] for r in res.get('calls', [])}
    cold = next((f for s, f in calls.items() if 'nothing cached' in s), None)
    expired = next((f for s, f in calls.items() if 'expired' in s), None)
    warm = next((f for s, f in calls.items() if 'again within' in s), None)
    if cold and warm:
        rows.append('| logins per play, forks 5 | cold: %d token + %d discovery; token expired: %d token + %d discovery; warm: %d | '
                    '| | cold 1 token request; discovery at most once a day; warm 0 |' % (
                        cold['token'], cold['discovery'], expired['token'], expired['discovery'], warm['login']))
    return rows


def rhythm(run, limit):
    """(seconds to the first API call, median seconds between call k and call k + limit of one API)."""
    series = run['series']
    first = min([s['t'] for s in series] or [0.0])
    gaps = []
    for api in {s['api'] for s in series}:
        times = sorted(s['t'] for s in series if s['api'] == api and s['status'] != 429)
        gaps += [times[k + limit] - times[k] for k in range(len(times) - limit)]
    gaps.sort()
    return first, (gaps[len(gaps) // 2] if gaps else None)


def render(res):
    m = res['machine']
    out = ['# Performance', '',
           '<!-- Written by `make bench` (tests/bench/render.py) from docs/performance.json: edit '
           'tests/bench/notes.md, not this file. -->', '',
           'Figures of the last `make bench` run: started %s on %d CPUs, load average %s before and %s after, '
           'the whole bench took %.0f s. Every figure is a whole `ansible-playbook` run (or a whole module '
           'process) against the project\'s emulator on loopback; the "barest task" is `ansible.builtin.uri` '
           'with a ready bearer token, run alternately with the module (A B A B ...), %d pairs; a ratio is the '
           'median of the pair-by-pair ratios (min-max in brackets), so drift of the machine\'s speed during '
           'the run cancels out.' % (m['started'], m['cpus'], '/'.join('%.2f' % x for x in m['load_before']),
                                     '/'.join('%.2f' % x for x in m['load_after']), m['bench_wall_s'],
                                     res.get('ab', {}).get('noop_cancel', {}).get('runs', 0)),
           '', 'Reproduce (from a fresh clone, under 15 minutes; not part of `make test`):', '',
           '<!-- snippet: not runnable: takes about 10 minutes and starts its own emulator -->',
           '```sh', 'make bench                      # BENCH_RUNS=9 for more pairs, BENCH_BACKENDS="file redis"', '```', '',
           '## The goals', '', '%d tasks a play; wall and CPU per task are the medians over the runs, CPU is every process '
           'of the run (ansible-playbook, its workers and the module processes).' % res['settings']['tasks_per_play'], '',
           '| scenario | this collection | barest task | ratio | goal |', '|---|---|---|---|---|']
    out += ab_rows(res)
    proc = res.get('process')
    if proc:
        out += ['', '## The module process alone', '',
                'The AnsiballZ payload of each task, kept (ANSIBLE_KEEP_REMOTE_FILES=1) and run directly %d times, '
                'alternating: what one task costs on the managed node, without the controller\'s part.' % proc['runs'], '',
                '| | module (no-op cancel) | uri GET | ratio |', '|---|---|---|---|',
                '| wall | %s | %s | %.2fx |' % (ms(proc['a_ms_per_task']), ms(proc['b_ms_per_task']), proc['ratio_median']),
                '| CPU | %s | %s | %.2fx |' % (ms(proc['a_cpu_ms_per_task']), ms(proc['b_cpu_ms_per_task']), proc['cpu_ratio_median']),
                '| peak RSS | %.1f MiB | %.1f MiB | %.2fx |' % (
                    proc['a_peak_rss_mib'], proc['b_peak_rss_mib'], proc['a_peak_rss_mib'] / proc['b_peak_rss_mib']),
                '', 'Imports of the module process (`python -X importtime` on the payload, cumulative, inflated by the '
                'measurement itself): all imports %.0f ms; %s.' % (proc['imports']['total_ms'], ', '.join(
                    '%s %.0f ms' % (k, v) for k, v in sorted(proc['imports']['cumulative_ms'].items(), key=lambda kv: -kv[1]))),
                'Not imported on this path: %s.' % (
                    ', '.join(n for n in ('requests', 'urllib3', 'cryptography', 'msal', 'redis') if n not in proc['imports']['cumulative_ms']) or 'none')]
    out += ['', '## API and login calls', '', 'Counted in the emulator\'s request log.', '',
            '| scenario | goal | API calls (POST) | login-host requests (token POSTs, discovery GETs) | wall time (s) | s per task |',
            '|---|---|---|---|---|---|']
    for r in res.get('calls', []):
        f = r['figures']
        out.append('| %s | %s | %d (%d) | %d (%d, %d) | %.1f | %.2f |' % (
            r['scenario'], r['goal'], f['api'], f['api_post'], f['login'], f['token'], f['discovery'], r['seconds'],
            r['seconds'] / r['tasks']))
    bulk = res.get('bulk')
    if bulk:
        out += ['', '## The bulk run', '',
                '%d cancels (each a GET of the action and a POST of the cancel: two APIs, each with its own server '
                'budget of %d calls / %.0f s), %d hosts over forks %d. The floor is %.0f s: %d calls of each API at '
                '%.1f calls a second. %s.' % (
                    bulk['cancels'], bulk['limit_calls'], bulk['window_s'], bulk['cancels'], bulk['forks'], bulk['floor_s'],
                    bulk['cancels'], bulk['limit_calls'] / bulk['window_s'], bulk['note']), '',
                '"first call" is when the first API call reached the emulator (what came before is ansible-playbook '
                'starting and its first forks: the machine\'s load, not the budget); "pace" is the median time between '
                'call k and call k + %d of one API, the rhythm the budget keeps against the service\'s %.0f s window.'
                % (bulk['limit_calls'], bulk['window_s']), '',
                '| run | wall | x floor | first call | pace | API calls | answers 429 | failed tasks | most calls of one API in '
                'any %.0f s (limit %d) |' % (bulk['window_s'], bulk['limit_calls']), '|---|---|---|---|---|---|---|---|---|']
        for run in bulk['runs']:
            if run.get('skipped'):
                out.append('| %s | %s | | | | | | | |' % (run['name'], run['skipped']))
                continue
            first, pace = rhythm(run, bulk['limit_calls'])
            pace_text = '-' if pace is None else '{0:.2f} s'.format(pace)
            out.append('| %s | %.1f s | %.2fx | %.1f s | %s | %d | %d | %d | %d |' % (
                run['name'], run['wall_s'], run['wall_s'] / bulk['floor_s'], first, pace_text,
                run['calls']['api'], run['calls']['api_429'], run['failed_tasks'], run['max_in_window']))
        out += ['', 'The chart: bars are the calls of each second, lines the calls per second over the service\'s window, '
                'the dashed line the service\'s budget; a red x is an answer 429.', '',
                '![API calls per second of the bulk runs against the budget, 429s marked](performance_bulk.png)']
    notes = os.path.join(HERE, 'notes.md')
    if os.path.exists(notes):
        with open(notes, encoding='utf-8') as handle:
            out += ['', handle.read().rstrip()]
    return '\n'.join(out) + '\n'


def chart(res):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    bulk = res['bulk']
    runs = [r for r in bulk['runs'] if not r.get('skipped')]
    window = bulk['window_s']
    budget = bulk['limit_calls'] / window
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 2.8 * len(runs)), sharex=True, squeeze=False)
    for ax, run in zip(axes[:, 0], runs):
        apis = sorted({s['api'] for s in run['series']})
        end = max([s['t'] for s in run['series']] + [1.0])
        for api in apis:
            ok = sorted(s['t'] for s in run['series'] if s['api'] == api and s['status'] != 429)
            # calls per second over the server's window (the count in the last window_s / window_s), each second
            xs = [x * 0.25 for x in range(int(end * 4) + 2)]
            ys = [sum(1 for t in ok if x - window < t <= x) / window for x in xs]
            ax.plot(xs, ys, label='%s: calls/s over the last %.0f s' % (api, window))
            per_sec = [sum(1 for t in ok if int(t) == sec) for sec in range(int(end) + 1)]
            ax.bar(range(int(end) + 1), per_sec, width=0.9, alpha=0.15, align='edge')
        refused = [s['t'] for s in run['series'] if s['status'] == 429]
        if refused:
            ax.plot(refused, [budget] * len(refused), 'rx', label='answered 429 (%d)' % len(refused))
        ax.axhline(budget, color='k', linestyle='--', label='server budget %d calls / %.0f s' % (bulk['limit_calls'], window))
        ax.set_title('%s: %.1f s (floor %.0f s)' % (run['name'], run['wall_s'], bulk['floor_s']), fontsize=10)
        ax.set_ylabel('calls / s')
        ax.legend(fontsize=7, loc='upper right')
    axes[-1, 0].set_xlabel('seconds since the run started (emulator request log)')
    fig.tight_layout()
    fig.savefig(CHART, dpi=90)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, 'tests', 'output', 'bench', 'bench.json')
    with open(path, encoding='utf-8') as handle:
        res = json.load(handle)
    if res.get('bulk'):
        chart(res)
    with open(DOC, 'w', encoding='utf-8') as handle:
        handle.write(render(res))
    print('wrote %s' % DOC)
    return 0


if __name__ == '__main__':
    sys.exit(main())
