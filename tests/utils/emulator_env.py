# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Glue between a running emulator (its ``emulator.json``) and what uses it.

    python tests/utils/emulator_env.py integration-config --workdir .emulator/test  # writes tests/integration/integration_config.yml
    python tests/utils/emulator_env.py shell --workdir .emulator/demo               # prints export MDE_...=... lines
    python tests/utils/emulator_env.py summary --workdir .emulator/demo             # request log summary
    python tests/utils/emulator_env.py last-seq --workdir .emulator/demo            # number of the last request logged
    python tests/utils/emulator_env.py reset --workdir .emulator/demo --seed demo   # reset the emulator (seed, config, faults)
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import shlex
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'emulator'))

from mde_emulator.client import EmulatorControl, load_settings, module_env  # noqa: E402  pylint: disable=wrong-import-position


def integration_vars(settings, workdir):
    default, cert, readonly = settings['apps']['default'], settings['apps']['cert'], settings['apps']['readonly']
    return {
        'mde_api_url': settings['api_url'],
        'mde_authority_host': settings['authority_host'],
        'mde_control_url': settings['control_url'],
        'mde_storage_url': settings['storage_url'],
        'mde_ca_path': settings['ca_path'],
        'mde_time_scale': settings['time_scale'],
        'mde_tenant_id': settings['tenant_id'],
        'mde_client_id': default['client_id'],
        'mde_client_secret': default['client_secret'],
        'mde_cert_client_id': cert['client_id'],
        'mde_cert_path': cert['certificate_path'],
        'mde_cert_encrypted_path': cert['certificate_pem_encrypted_path'],
        'mde_cert_pfx_path': cert['pfx_path'],
        'mde_cert_password': cert['certificate_password'],
        'mde_readonly_client_id': readonly['client_id'],
        'mde_readonly_client_secret': readonly['client_secret'],
        # workload identity federation and managed identity (issue 15)
        'mde_identity_url': settings['identity_url'],
        'mde_federated_issuer': settings['federation']['issuer'],
        'mde_federated_subject': settings['federation']['subject'],
        'mde_identity_header': settings['federation']['identity_header'],
        'mde_mi_system_client_id': settings['federation']['system_client_id'],
        'mde_mi_user_client_id': settings['federation']['user_client_id'],
        'mde_emulator_workdir': os.path.abspath(workdir),
        'mde_repo_root': REPO_ROOT,
        # the password of the throw-away redis-server of the mde_rate_budget target (issue 14): a secret the scan looks for
        'mde_redis_password': hashlib.sha256(('redis:' + readonly['client_secret']).encode()).hexdigest()[:32],
    }


def shell_env(settings):
    env = module_env(settings)
    env['MDE_CONTROL_URL'] = settings['control_url']
    return env


def summary(settings, since, until=None):
    log = EmulatorControl(settings['control_url'], settings['ca_path']).log(since)
    if until is not None:
        log = [r for r in log if r['seq'] <= until]
    counts = collections.Counter((r['host'], r.get('api') or '?', r['method'], r.get('status')) for r in log)
    print('%-8s %-22s %-6s %-6s %s' % ('host', 'operation', 'method', 'status', 'count'))
    for (host, api, method, status), count in sorted(counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        print('%-8s %-22s %-6s %-6s %d' % (host, api, method, status, count))
    print('total: %d requests (%d to the login host)' % (len(log), sum(1 for r in log if r['host'] == 'login')))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=['integration-config', 'shell', 'summary', 'last-seq', 'reset'])
    parser.add_argument('--workdir', required=True)
    parser.add_argument('--out', default=os.path.join(REPO_ROOT, 'tests', 'integration', 'integration_config.yml'))
    parser.add_argument('--since', type=int, default=0)
    parser.add_argument('--until', type=int, default=None, help='last request number to include (summary)')
    parser.add_argument('--seed', default='demo', help='what reset seeds the emulator with (demo, empty)')
    args = parser.parse_args(argv)
    settings = load_settings(args.workdir)
    if args.command == 'integration-config':
        data = integration_vars(settings, args.workdir)
        with open(args.out, 'w', encoding='utf-8') as handle:
            handle.write('# Written by tests/utils/emulator_env.py from the running emulator; not tracked.\n')
            for key, value in sorted(data.items()):
                handle.write('%s: %s\n' % (key, json.dumps(value)))
        os.chmod(args.out, 0o600)
        print('wrote %s' % args.out)
    elif args.command == 'shell':
        for key, value in shell_env(settings).items():
            print('export %s=%s' % (key, shlex.quote(value)))
    elif args.command == 'last-seq':
        print(EmulatorControl(settings['control_url'], settings['ca_path']).mark())
    elif args.command == 'reset':
        EmulatorControl(settings['control_url'], settings['ca_path']).reset(args.seed)
    else:
        summary(settings, args.since, args.until)
    return 0


if __name__ == '__main__':
    sys.exit(main())
