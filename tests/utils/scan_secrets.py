# Copyright (c) defender.endpoint maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fail when a secret of the running emulator appears in test output.

    python tests/utils/scan_secrets.py --config tests/integration/integration_config.yml PATH...

Looks for both client secrets, the certificate password and every access token the emulator issued
(GET /control/tokens) in the files given (folders are walked). Token cache files
(``.../defender.endpoint/tokens/*.json``) are the one place tokens may be, and the integration config
itself holds the secrets by design: both are skipped. `make integration` runs it on its -vvv log.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.request

import yaml


def secrets_of(cfg):
    found = {'client secret': cfg['mde_client_secret'], 'read-only client secret': cfg['mde_readonly_client_secret'],
             'certificate password': cfg['mde_cert_password']}
    context = ssl.create_default_context(cafile=cfg['mde_ca_path'])
    with urllib.request.urlopen(cfg['mde_control_url'] + '/control/tokens', context=context, timeout=60) as answer:  # nosec - loopback
        tokens = json.loads(answer.read().decode('utf-8'))['tokens']
    for index, token in enumerate(tokens):
        found['issued token #%d' % index] = token if isinstance(token, str) else token.get('access_token')
    return dict((k, v) for k, v in found.items() if v)


def files_under(paths, skip):
    for top in paths:
        if os.path.isfile(top):
            yield top
            continue
        for folder, dummy, names in os.walk(top):
            for name in names:
                path = os.path.join(folder, name)
                if os.path.realpath(path) in skip or ('%sdefender.endpoint%stokens%s' % (os.sep, os.sep, os.sep) in path and name.endswith('.json')):
                    continue
                yield path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', required=True, help='integration_config.yml of the running emulator')
    parser.add_argument('paths', nargs='+')
    args = parser.parse_args(argv)
    with open(args.config, encoding='utf-8') as handle:
        cfg = yaml.safe_load(handle)
    secrets = secrets_of(cfg)
    skip = {os.path.realpath(args.config)}
    hits, scanned = [], 0
    for path in files_under(args.paths, skip):
        scanned += 1
        try:
            with open(path, 'rb') as handle:
                data = handle.read()
        except OSError:
            continue
        hits.extend('%s in %s' % (what, path) for what, value in secrets.items() if value.encode('utf-8') in data)
    print('scan_secrets: %d file(s) scanned for %d secret(s) and token(s): %d found' % (scanned, len(secrets), len(hits)))
    for hit in hits:
        print('  FOUND ' + hit)
    return 1 if hits else 0


if __name__ == '__main__':
    sys.exit(main())
