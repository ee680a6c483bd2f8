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
import os
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), 'emulator'))

from mde_emulator.client import EmulatorControl, scan, secrets_of  # noqa: E402  pylint: disable=wrong-import-position


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', required=True, help='integration_config.yml of the running emulator')
    parser.add_argument('paths', nargs='+')
    args = parser.parse_args(argv)
    with open(args.config, encoding='utf-8') as handle:
        cfg = yaml.safe_load(handle)
    secrets = secrets_of(cfg, EmulatorControl.from_config(cfg, timeout=60))
    scanned, found = scan(args.paths, secrets, skip={os.path.realpath(args.config)})
    hits = ['%s in %s' % hit for hit in found]
    print('scan_secrets: %d file(s) scanned for %d secret(s) and token(s): %d found' % (scanned, len(secrets), len(hits)))
    for hit in hits:
        print('  FOUND ' + hit)
    return 1 if hits else 0


if __name__ == '__main__':
    sys.exit(main())
