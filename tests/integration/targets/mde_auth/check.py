# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test oracle for runme.sh: reads the emulator's own request log and issued tokens (never the
module's word) and scans output files for secrets.

    check.py CONFIG env APP            export lines for an app of the emulator (default, cert, readonly)
    check.py CONFIG reset              reset the emulator (seed empty, default config, no faults)
    check.py CONFIG mark               position of the request log
    check.py CONFIG count SINCE HOST [API]   requests since the mark, on a host (api, login), optionally one operation
    check.py CONFIG token              an access token fetched from the emulator's token endpoint
    check.py CONFIG add-machine        add a machine, print its ID
    check.py CONFIG grant APP ROLE...  grant an app roles (admin consent): tokens issued from now on carry them
    check.py CONFIG actions MACHINE [TYPE]   the IDs of the machine's actions in the emulator
    check.py CONFIG scan FILE...       fail if a secret, the certificate password or any issued token appears in the files
"""

from __future__ import annotations

import json
import os
import shlex
import ssl
import sys
import urllib.parse
import urllib.request

import yaml

# the collection, or ansible-test's copy of it around the copy of this target, holds tests/emulator
ROOT = os.path.dirname(os.path.realpath(__file__))
while not os.path.isdir(os.path.join(ROOT, 'tests', 'emulator', 'mde_emulator')) and os.path.dirname(ROOT) != ROOT:
    ROOT = os.path.dirname(ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'emulator'))

from mde_emulator.client import EmulatorControl, scan as scan_files, secrets_of  # noqa: E402  pylint: disable=wrong-import-position


def env_for(cfg, app):
    env = {'MDE_API_URL': cfg['mde_api_url'], 'MDE_AUTHORITY_HOST': cfg['mde_authority_host'], 'MDE_CA_PATH': cfg['mde_ca_path'],
           'MDE_TENANT_ID': cfg['mde_tenant_id'], 'MDE_TIME_SCALE': str(cfg['mde_time_scale'])}
    if app == 'default':
        env.update(MDE_CLIENT_ID=cfg['mde_client_id'], MDE_CLIENT_SECRET=cfg['mde_client_secret'])
    elif app == 'readonly':
        env.update(MDE_CLIENT_ID=cfg['mde_readonly_client_id'], MDE_CLIENT_SECRET=cfg['mde_readonly_client_secret'])
    elif app == 'cert':
        env.update(MDE_CLIENT_ID=cfg['mde_cert_client_id'])
    return env


def fetch_token(cfg):
    ctx = ssl.create_default_context(cafile=cfg['mde_ca_path'])
    data = urllib.parse.urlencode({'grant_type': 'client_credentials', 'client_id': cfg['mde_client_id'],
                                   'client_secret': cfg['mde_client_secret'],
                                   'scope': 'https://api.securitycenter.microsoft.com/.default'}).encode('ascii')
    url = '%s/%s/oauth2/v2.0/token' % (cfg['mde_authority_host'], cfg['mde_tenant_id'])
    with urllib.request.urlopen(url, data=data, context=ctx, timeout=30) as answer:  # nosec - loopback emulator
        return json.loads(answer.read().decode('utf-8'))['access_token']


def scan(cfg, paths):
    secrets = secrets_of(cfg, EmulatorControl.from_config(cfg), {'wrong secret used by the test': WRONG_SECRET})
    scanned, found = scan_files(paths, secrets)
    print('scanned %d file(s) for %d secret(s) and token(s): %d found' % (scanned, len(secrets), len(found)))
    for what, path in found:
        print('  %s appears in %s' % (what, path))
    return 1 if found else 0


WRONG_SECRET = 'wrong-secret-Zq8vX3k1-not-the-real-one'


def main(argv):
    with open(argv[1], encoding='utf-8') as handle:
        cfg = yaml.safe_load(handle)
    command = argv[2]
    control = EmulatorControl.from_config(cfg)
    if command == 'env':
        for key, value in env_for(cfg, argv[3]).items():
            print('export %s=%s' % (key, shlex.quote(value)))
    elif command == 'reset':
        control.reset('empty')
    elif command == 'mark':
        print(control.mark())
    elif command == 'count':
        log = [r for r in control.log(int(argv[3])) if r['host'] == argv[4] and (len(argv) < 6 or r.get('api') == argv[5])]
        print(len(log))
    elif command == 'add-machine':
        print(control.add_machine({'computerDnsName': 'roles-test.contoso.com'})['id'])
    elif command == 'grant':
        control.change_roles(argv[3], grant=argv[4:])
    elif command == 'actions':  # the actions of a machine (and a type) in the emulator: ID per line
        print('\n'.join(a['id'] for a in control.state()['actions'] if a['machineId'] == argv[3] and (len(argv) < 5 or a['type'] == argv[4])))
    elif command == 'token':
        print(fetch_token(cfg))
    elif command == 'wrong-secret':
        print(WRONG_SECRET)
    elif command == 'scan':
        return scan(cfg, argv[3:])
    else:
        raise SystemExit('unknown command %s' % command)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
