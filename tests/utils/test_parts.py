# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the parts of `make test` / `make check` and prints what each took.

    test_parts.py [--log-dir DIR] [--title NAME] LANE [LANE ...]

A LANE is a space-separated list of make targets (parts) run one after another; lanes run side
by side. Each part is `make --no-print-directory PART`, its output kept in DIR/PART.log. A part
that fails does not stop the others (in its lane or any other); the exit status is 1 when any
part failed. At the end: a table of each part, its lane, wall time and result, the total wall
time, and the closing line `NAME: N passed, N failed`. DIR/summary.json holds the same figures.

Lanes are independent by construction (the Makefile gives each lane's parts their own emulator,
ansible-test scratch tree and results folder), so they can run beside each other. Standard
library only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

TAIL_LINES = 150
_print_lock = threading.Lock()


def say(started, text):
    with _print_lock:
        print('[%5.0fs] %s' % (time.monotonic() - started, text), flush=True)


def tail(path, lines=TAIL_LINES):
    with open(path, 'rb') as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 256 * 1024))
        text = handle.read().decode('utf-8', 'replace')
    return '\n'.join(text.splitlines()[-lines:])


def run_part(part, lane, log_dir, started):
    log = os.path.join(log_dir, '%s.log' % part)
    say(started, 'start  %-16s (lane %d, output in %s)' % (part, lane, log))
    begin = time.monotonic()
    env = dict(os.environ)
    env.pop('MAKEFLAGS', None)  # each part is a make of its own
    env.pop('MAKELEVEL', None)
    with open(log, 'wb') as out:
        code = subprocess.call(['make', '--no-print-directory', part], stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, env=env)
    seconds = time.monotonic() - begin
    passed = code == 0
    say(started, '%s %-16s in %4.0f s' % ('passed' if passed else 'FAILED', part, seconds))
    if not passed:
        with _print_lock:
            print('----- last %d lines of %s (exit %d) -----' % (TAIL_LINES, log, code))
            print(tail(log))
            print('----- end of %s -----' % part, flush=True)
    return {'part': part, 'lane': lane, 'seconds': round(seconds, 1), 'passed': passed, 'exit': code, 'log': log}


def run_lane(parts, lane, log_dir, started, results):
    for part in parts:
        results.append(run_part(part, lane, log_dir, started))


def table(results, total, title):
    rows = ['| part | lane | wall time | result |', '|---|---|---|---|']
    for r in results:
        result = 'passed' if r['passed'] else 'FAILED (exit %d)' % r['exit']
        rows.append('| %s | %d | %d min %02d s | %s |' % (r['part'], r['lane'], r['seconds'] // 60, r['seconds'] % 60, result))
    rows.append('| **%s total (wall)** | | %d min %02d s | |' % (title, total // 60, total % 60))
    return '\n'.join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--log-dir', default='tests/output/parts')
    parser.add_argument('--title', default='make test')
    parser.add_argument('lanes', nargs='+', help='space-separated parts run one after another')
    args = parser.parse_args(argv)
    lanes = [lane.split() for lane in args.lanes if lane.split()]
    os.makedirs(args.log_dir, exist_ok=True)
    started = time.monotonic()
    say(started, '%s: %s' % (args.title, ' | '.join(' '.join(lane) for lane in lanes)))
    results = []
    threads = [threading.Thread(target=run_lane, args=(parts, index + 1, args.log_dir, started, results))
               for index, parts in enumerate(lanes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = time.monotonic() - started
    order = [part for lane in lanes for part in lane]
    results.sort(key=lambda r: order.index(r['part']))
    with open(os.path.join(args.log_dir, 'summary.json'), 'w', encoding='utf-8') as handle:
        json.dump({'title': args.title, 'seconds': round(total, 1), 'parts': results}, handle, indent=1)
    failed = [r['part'] for r in results if not r['passed']]
    print()
    print(table(results, total, args.title))
    print()
    if failed:
        print('failed parts: %s (their output: %s/<part>.log)' % (' '.join(failed), args.log_dir))
    print('%s: %d passed, %d failed' % (args.title.replace(' ', '-'), len(results) - len(failed), len(failed)), flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
