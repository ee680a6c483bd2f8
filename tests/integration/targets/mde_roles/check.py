# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test oracle for runme.sh: the emulator's request log and state, and the roles' report files.

    check.py CONFIG reset                      seed empty, actions Pending 30 and InProgress 60 emulated seconds
    check.py CONFIG mark                       position of the request log
    check.py CONFIG posts SINCE                the API POSTs since the mark, one "operation machine-or-action" a line
    check.py CONFIG fail-scan MACHINE          every scan launch on MACHINE answers 400 (a fault rule)
    check.py CONFIG slow MACHINE               actions on MACHINE take 4 s (240 emulated s): the roles print progress lines
    check.py CONFIG clear-faults
    check.py CONFIG add-action MACHINE TYPE    a Pending action of TYPE on MACHINE (prints its id)
    check.py CONFIG state MACHINE              the machine's _state and tags, e.g. "isolated=True tags=INC-1"
    check.py CONFIG statuses ID...             the status of each action, space-separated
    check.py CONFIG report FILE                the summary, one "name failed step=status/changed ..." a line
"""

from __future__ import annotations

import json
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.realpath(__file__))
while not os.path.isdir(os.path.join(ROOT, 'tests', 'emulator', 'mde_emulator')) and os.path.dirname(ROOT) != ROOT:
    ROOT = os.path.dirname(ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'emulator'))

from mde_emulator.client import EmulatorControl  # noqa: E402  pylint: disable=wrong-import-position


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
    elif command == 'slow':
        control.set_config(machine_lifecycles={args[0]: {'pending': 180, 'in_progress': 60, 'final': 'Succeeded'}})
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
