# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test oracle for runme.sh: the emulator's request log and state, and the roles' report files.

    check.py CONFIG reset                      seed empty, actions Pending 30 and InProgress 60 emulated seconds
    check.py CONFIG mark                       position of the request log
    check.py CONFIG posts SINCE                the API POSTs since the mark, one "operation machine-or-action" a line
    check.py CONFIG fail-scan MACHINE          every scan launch on MACHINE answers 400 (a fault rule)
    check.py CONFIG hold MACHINE ACTIONS POLLS the next ACTIONS actions polled (all MACHINE's, if the play polls only them
                                               meanwhile) stay Pending until their POLLS-th poll, which finds them Succeeded
    check.py CONFIG unhold MACHINE             MACHINE's actions take the default life cycle again
    check.py CONFIG progress SINCE LOG REPORT [PENDING]
                                               each action the run launched and waited for (REPORT): as many progress lines in
                                               the play output LOG as the emulator saw polls of it since SINCE, each naming
                                               step, machine, action, status and time waited, and at least PENDING lines of a
                                               running action; prints "ACTION polls=N lines=N"
    check.py CONFIG clear-faults
    check.py CONFIG add-action MACHINE TYPE    a Pending action of TYPE on MACHINE (prints its id)
    check.py CONFIG state MACHINE              the machine's _state and tags, e.g. "isolated=True tags=INC-1"
    check.py CONFIG statuses ID...             the status of each action, space-separated
    check.py CONFIG report FILE                the summary, one "name failed step=status/changed ..." a line
"""

from __future__ import annotations

import json
import os
import re
import sys

import yaml

ROOT = os.path.dirname(os.path.realpath(__file__))
while not os.path.isdir(os.path.join(ROOT, 'tests', 'emulator', 'mde_emulator')) and os.path.dirname(ROOT) != ROOT:
    ROOT = os.path.dirname(ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'emulator'))

from mde_emulator.client import EmulatorControl  # noqa: E402  pylint: disable=wrong-import-position


# A progress line of the roles' poll.yml, as the default callback prints the debug message
PROGRESS = re.compile(r'"msg": "(?P<step>[a-z_]+) on (?P<machine>\S+) \(action (?P<id>[0-9a-f-]{36})\): (?P<status>[A-Za-z ]+), '
                      r'waited (?P<waited>\d+) s \(wait_timeout \d+ s\)"')
FINAL = ('Succeeded', 'Failed', 'TimeOut', 'Cancelled', 'Canceled')


def progress(control, since, log_path, report_path, pending_lines=0):
    """What the person watching saw against what the emulator saw: a line per poll of each action, the last one final,
    the time waited never going back. The polls are the GETs of the action, less the one the download step makes (the
    module reads the action, then asks for its link) when there was a download."""
    polls = {}
    linked = set()
    for req in control.log(since):
        if req['host'] != 'api' or req['method'] != 'GET' or not req['path'].startswith('/api/machineactions/'):
            continue
        action_id = req['path'].split('/')[3].lower()
        if req['api'] == 'get_action' and action_id not in linked:
            polls[action_id] = polls.get(action_id, 0) + 1
        elif req['api'] != 'get_action':
            linked.add(action_id)
    lines = {}
    with open(log_path, encoding='utf-8') as handle:
        for match in PROGRESS.finditer(handle.read()):
            lines.setdefault(match.group('id'), []).append(match.groupdict())
    with open(report_path, encoding='utf-8') as handle:
        report = json.load(handle)
    launched = dict((step['action_id'], (name, entry['computer_dns_name'])) for entry in report for name, step in entry['steps'].items()
                    if step.get('action_id') and step['changed'])
    problems = []
    if not launched:
        problems.append('the run launched no action to wait for')
    for action_id in linked:
        polls[action_id] = polls.get(action_id, 0) - 1
    for action_id in sorted(set(launched) | set(polls) | set(lines)):
        seen = lines.get(action_id, [])
        print('%s polls=%d lines=%d' % (action_id, polls.get(action_id, 0), len(seen)))
        if action_id not in launched:
            problems.append('%s: polled or reported, but not an action the run launched' % action_id)
            continue
        if not seen or len(seen) != polls.get(action_id, 0):
            problems.append('%s: %d progress line(s) for %d poll(s)' % (action_id, len(seen), polls.get(action_id, 0)))
            continue
        step, machine = launched[action_id]
        if any((line['step'], line['machine']) != (step, machine) for line in seen):
            problems.append('%s: a line names another step or machine than %s on %s' % (action_id, step, machine))
        if [line['status'] in FINAL for line in seen] != [False] * (len(seen) - 1) + [True]:
            problems.append('%s: statuses %s (only the last poll may find it final, and it must)' % (action_id, [line['status'] for line in seen]))
        if [int(line['waited']) for line in seen] != sorted(int(line['waited']) for line in seen):
            problems.append('%s: the time waited goes back: %s' % (action_id, [line['waited'] for line in seen]))
    pending = sum(1 for seen in lines.values() for line in seen if line['status'] not in FINAL)
    if pending < pending_lines:
        problems.append('%d line(s) of an action still running, expected at least %d' % (pending, pending_lines))
    for problem in problems:
        print('FAIL: %s' % problem)
    return 1 if problems else 0


def main(argv):
    with open(argv[1], encoding='utf-8') as handle:
        cfg = yaml.safe_load(handle)
    command, args = argv[2], argv[3:]
    control = EmulatorControl.from_config(cfg)
    if command == 'reset':
        control.reset('empty')
        control.set_config(default_lifecycle={'pending': 30, 'in_progress': 60, 'final': 'Succeeded'})
    elif command == 'mark':
        print(control.mark())
    elif command == 'posts':
        for req in control.log(int(args[0])):
            if req['host'] == 'api' and req['method'] == 'POST':
                print('%s %s' % (req['api'], req['path'].split('/')[3]))
    elif command == 'fail-scan':
        control.add_faults({'host': 'api', 'api': 'run_antivirus_scan', 'path_regex': args[0], 'times': 0, 'kind': 'status',
                            'status': 400, 'body': {'error': {'code': 'InvalidRequest', 'message': 'Scan refused by the test',
                                                              'target': '00000000-0000-0000-0000-000000000000'}}})
    elif command == 'hold':
        actions, polls = int(args[1]), int(args[2])
        control.set_config(machine_lifecycles={args[0]: {'pending': None, 'in_progress': None, 'final': 'Succeeded'}})
        # rule k fires at the (k x POLLS)-th GET of an action; a rule still skipping lets a request on to the next rules,
        # so each counts the GETs not taken by the rules before it: k x (POLLS - 1) skipped
        control.add_faults(*[{'host': 'api', 'api': 'get_action', 'kind': 'finalize', 'skip': k * (polls - 1), 'times': 1}
                             for k in range(1, actions + 1)])
    elif command == 'unhold':
        control.set_config(machine_lifecycles={args[0]: None})
    elif command == 'progress':
        return progress(control, int(args[0]), args[1], args[2], int(args[3]) if len(args) > 3 else 0)
    elif command == 'clear-faults':
        control.clear_faults()
    elif command == 'add-action':
        print(control.add_action({'machineId': args[0], 'type': args[1], 'status': 'Pending',
                                  'lifecycle': {'pending': None, 'in_progress': None, 'final': None}})['id'])
    elif command == 'state':
        machine = [m for m in control.state()['machines'] if m['id'] == args[0]][0]
        print('isolated=%s tags=%s' % (machine['_state'].get('isolated', False), ','.join(machine.get('machineTags') or [])))
    elif command == 'statuses':
        print(' '.join(control.action(a)['status'] for a in args))
    elif command == 'report':
        with open(args[0], encoding='utf-8') as handle:
            for entry in json.load(handle):
                steps = ' '.join('%s=%s/%s' % (k, v['status'], 'changed' if v['changed'] else 'ok') for k, v in sorted(entry['steps'].items()))
                print('%s %s %s %s' % (entry['computer_dns_name'], 'FAILED' if entry['failed'] else 'ok', steps, entry['msg']))
    else:
        raise SystemExit('unknown command %s' % command)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
