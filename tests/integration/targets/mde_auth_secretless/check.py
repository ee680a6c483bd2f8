# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test oracle for runme.sh: the emulator's request log, its issuer and its issued tokens (never the
module's word), and the secret scan (federated tokens included).

    check.py CONFIG env                 export lines: API and login hosts, CA, tenant, default app's client id (no secret)
    check.py CONFIG reset               reset the emulator (seed empty, default config, no faults)
    check.py CONFIG mark                position of the request log
    check.py CONFIG count SINCE HOST [API]   requests since the mark on a host (api, login, identity), optionally one operation
    check.py CONFIG clients SINCE HOST  the distinct client ids of those requests
    check.py CONFIG mint FILE [KEY=VALUE...]  write a federated token of the emulator's issuer to FILE (mode 0600); prints its jti
    check.py CONFIG accepted            the jti of the last federated token the token endpoint accepted
    check.py CONFIG expire              revoke every issued access token (the API answers 401 to them)
    check.py CONFIG closed-port         a local port nothing listens on
    check.py CONFIG scan FILE...        fail if a secret, an issued token or a federated token appears in the files
"""

from __future__ import annotations

import os
import shlex
import socket
import sys

import yaml

ROOT = os.path.dirname(os.path.realpath(__file__))
while not os.path.isdir(os.path.join(ROOT, 'tests', 'emulator', 'mde_emulator')) and os.path.dirname(ROOT) != ROOT:
    ROOT = os.path.dirname(ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'emulator'))

from mde_emulator.client import EmulatorControl, scan as scan_files, secrets_of  # noqa: E402  pylint: disable=wrong-import-position


def main(argv):
    with open(argv[1], encoding='utf-8') as handle:
        cfg = yaml.safe_load(handle)
    command, args = argv[2], argv[3:]
    control = EmulatorControl.from_config(cfg)
    if command == 'env':
        env = {'MDE_API_URL': cfg['mde_api_url'], 'MDE_AUTHORITY_HOST': cfg['mde_authority_host'], 'MDE_CA_PATH': cfg['mde_ca_path'],
               'MDE_TENANT_ID': cfg['mde_tenant_id'], 'MDE_CLIENT_ID': cfg['mde_client_id'], 'MDE_TIME_SCALE': str(cfg['mde_time_scale'])}
        for key, value in env.items():
            print('export %s=%s' % (key, shlex.quote(value)))
    elif command == 'reset':
        control.reset('empty')
    elif command == 'mark':
        print(control.mark())
    elif command in ('count', 'clients'):
        log = [r for r in control.log(int(args[0])) if r['host'] == args[1] and (len(args) < 3 or r.get('api') == args[2])]
        print(len(log) if command == 'count' else ','.join(sorted(set(str(r.get('client_id')) for r in log))))
    elif command == 'mint':
        claims = {}
        for pair in args[1:]:
            key, value = pair.split('=', 1)
            claims[key] = int(value) if key in ('lifetime', 'not_before_in') else value
        answer = control.call('POST', '/control/federation/token', claims)
        fd = os.open(args[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as handle:
            handle.write(answer['token'] + '\n')
        print(answer['claims']['jti'])
    elif command == 'accepted':
        accepted = control.accepted_federated_tokens()
        print(accepted[-1] if accepted else 'none')
    elif command == 'expire':
        control.expire_tokens()
    elif command == 'closed-port':
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        print(sock.getsockname()[1])
        sock.close()
    elif command == 'scan':
        secrets = secrets_of(cfg, control)
        scanned, found = scan_files(args, secrets)
        federated = sum(1 for what in secrets if what.startswith('federated token'))
        print('scanned %d file(s) for %d secret(s) and token(s), %d of them federated tokens: %d found'
              % (scanned, len(secrets), federated, len(found)))
        for what, path in found:
            print('  %s appears in %s' % (what, path))
        if not federated:
            print('FAIL: no federated token to look for')
            return 1
        return 1 if found else 0
    else:
        raise SystemExit('unknown command %s' % command)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
