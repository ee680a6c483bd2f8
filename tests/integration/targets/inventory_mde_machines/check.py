# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test oracle for runme.sh: the emulator's request log and state, and ansible-inventory's output.

    check.py CONFIG env                       export lines of the MDE_* variables (the default app of the emulator)
    check.py CONFIG reset SEED                reset the emulator with a seed (fleet, fleet:N, or "none": no machines)
    check.py CONFIG mark                      position of the request log
    check.py CONFIG calls SINCE               the requests since the mark, one "host operation count" a line
    check.py CONFIG page-size N               the machines list serves pages of N with @odata.nextLink
    check.py CONFIG fail-page SKIP            every list_machines page at $skip=SKIP answers 503
    check.py CONFIG clear-faults
    check.py CONFIG posts SINCE               the API POSTs since the mark, one "operation machine" a line
    check.py CONFIG compare ACTUAL GOLDEN     ACTUAL (JSON or text) equals GOLDEN, without 2.19's unsafe markers;
                                              UPDATE_GOLDEN=1 writes GOLDEN instead
    check.py CONFIG hosts LIST [GROUP]        the hosts of an ansible-inventory --list output (of GROUP), sorted, one a line
    check.py CONFIG hostvar LIST HOST VAR     one host variable of a --list output
"""

from __future__ import annotations

import collections
import json
import os
import sys

import yaml

ROOT = os.path.dirname(os.path.realpath(__file__))
while not os.path.isdir(os.path.join(ROOT, 'tests', 'emulator', 'mde_emulator')) and os.path.dirname(ROOT) != ROOT:
    ROOT = os.path.dirname(ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'emulator'))

from mde_emulator.client import EmulatorControl  # noqa: E402  pylint: disable=wrong-import-position


def _load(path):
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _plain(value):
    """A --list value without ansible-core 2.19's markers of values that are not templates ({"__ansible_unsafe": ...})."""
    if isinstance(value, dict):
        if list(value) == ['__ansible_unsafe']:
            return value['__ansible_unsafe']
        return dict((k, _plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _groups(data, group):
    """Hosts of a group of --list output, its children's included."""
    found = set(data.get(group, {}).get('hosts', []))
    for child in data.get(group, {}).get('children', []):
        found |= _groups(data, child)
    return found


def main(argv):  # pylint: disable=too-many-branches
    with open(argv[1], encoding='utf-8') as handle:
        cfg = yaml.safe_load(handle)
    command, args = argv[2], argv[3:]
    control = EmulatorControl.from_config(cfg)
    if command == 'env':
        for name, key in (('MDE_TENANT_ID', 'mde_tenant_id'), ('MDE_CLIENT_ID', 'mde_client_id'),
                          ('MDE_CLIENT_SECRET', 'mde_client_secret'), ('MDE_API_URL', 'mde_api_url'),
                          ('MDE_AUTHORITY_HOST', 'mde_authority_host'), ('MDE_CA_PATH', 'mde_ca_path'),
                          ('MDE_TIME_SCALE', 'mde_time_scale')):
            print('export %s=%s' % (name, cfg[key]))
    elif command == 'reset':
        control.reset({'machines': [], 'actions': []} if args[0] == 'none' else args[0])
    elif command == 'mark':
        print(control.mark())
    elif command == 'calls':
        counts = collections.Counter('%s %s' % (r['host'], r['api']) for r in control.log(int(args[0])))
        for key in sorted(counts):
            print('%s %d' % (key, counts[key]))
    elif command == 'page-size':
        control.set_config(max_page_size=int(args[0]), emit_next_link=True)
    elif command == 'fail-page':
        control.add_faults({'host': 'api', 'api': 'list_machines', 'path_regex': r'\$skip=%s(&|$)' % args[0], 'times': 0,
                            'kind': 'error', 'status': 503})
    elif command == 'clear-faults':
        control.clear_faults()
    elif command == 'posts':
        for req in control.log(int(args[0])):
            if req['host'] == 'api' and req['method'] == 'POST':
                target = req['path'].split('/')[3]
                if req['api'] == 'cancel_action':  # action IDs are new at every run: name the machine
                    target = 'the %s on %s' % (control.action(target)['type'], control.action(target)['machineId'])
                print('%s %s' % (req['api'], target))
    elif command == 'compare':
        actual, golden = args
        if os.environ.get('UPDATE_GOLDEN'):
            data = _plain(_load(actual))
            with open(golden, 'w', encoding='utf-8') as handle:
                handle.write(json.dumps(data, indent=4, sort_keys=True) + '\n' if not isinstance(data, str) else data)
            print('wrote %s' % golden)
            return 0
        if _plain(_load(actual)) != _plain(_load(golden)):
            os.system('diff -u %s %s | head -60' % (golden, actual))
            print('FAIL: %s differs from %s' % (actual, golden))
            return 1
    elif command == 'hosts':
        data = _load(args[0])
        hosts = _groups(data, args[1]) if len(args) > 1 else set(data['_meta']['hostvars'])
        for host in sorted(hosts):
            print(host)
    elif command == 'hostvar':
        print(_plain(_load(args[0])['_meta']['hostvars'][args[1]]).get(args[2]))
    else:
        raise SystemExit('unknown command %s' % command)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
