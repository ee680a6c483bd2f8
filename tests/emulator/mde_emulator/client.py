# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one client of the emulator's control API, and the one scanner for its secrets in test output.

Standard library only (urllib, ssl with the emulator's CA file, json), so that every user can import
it: the emulator's own tests, tests/utils, the integration targets (from ansible-test's copy of the
collection), the bench and the demo. Users outside tests/emulator put that folder on sys.path
(``emulator_dir(__file__)`` finds it from a file anywhere in the collection, or in a copy of it).

    load_settings(workdir)                the emulator.json of a running emulator
    EmulatorControl(url, ca) / .from_workdir(workdir) / .from_config(integration_config vars)
    module_env(settings, app)             MDE_* variables for the modules, from emulator.json
    secrets_of(cfg, control, extra)       what must never appear in output: secrets, password, issued tokens
    scan(paths, secrets, skip)            (files scanned, [(what, path)]) for the files and folders given
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request

# a folder path that holds the module's token cache: the one place tokens may be written
TOKEN_CACHE_PART = '%sdefender.endpoint%stokens%s' % (os.sep, os.sep, os.sep)


def emulator_dir(start):
    """tests/emulator of the collection (or of the copy of it) that holds the file or folder ``start``."""
    folder = os.path.dirname(os.path.realpath(start)) if os.path.isfile(start) else os.path.realpath(start)
    while not os.path.isfile(os.path.join(folder, 'tests', 'emulator', 'mde_emulator', 'client.py')):
        if os.path.dirname(folder) == folder:
            raise RuntimeError('no tests/emulator/mde_emulator above %s' % start)
        folder = os.path.dirname(folder)
    return os.path.join(folder, 'tests', 'emulator')


def load_settings(workdir):
    """The emulator.json of a running emulator (api_url, authority_host, ca_path, apps, ...)."""
    with open(os.path.join(workdir, 'emulator.json'), encoding='utf-8') as handle:
        return json.load(handle)


def module_env(settings, app='default'):
    """The MDE_* environment for the modules, from emulator.json: an app's client id and secret."""
    info = settings['apps'][app]
    env = {'MDE_API_URL': settings['api_url'], 'MDE_AUTHORITY_HOST': settings['authority_host'],
           'MDE_CA_PATH': settings['ca_path'], 'MDE_TENANT_ID': settings['tenant_id'],
           'MDE_CLIENT_ID': info['client_id'], 'MDE_TIME_SCALE': str(settings['time_scale'])}
    if info.get('client_secret'):
        env['MDE_CLIENT_SECRET'] = info['client_secret']
    return env


class ControlError(RuntimeError):
    """The control API answered with an HTTP error; ``status`` is its code."""

    def __init__(self, method, path, status, body):
        super(ControlError, self).__init__('control API %s %s failed: %s %s' % (method, path, status, body))
        self.status = status
        self.body = body


class EmulatorControl(object):
    """Thin wrapper over /control/*: one method per control operation, ``call`` for anything else.
    HTTP errors raise ControlError; connection errors raise OSError (urllib.error.URLError). No proxy
    is used: the emulator listens on loopback."""

    def __init__(self, control_url, ca_path, timeout=30):
        self.base = control_url.rstrip('/')
        self.ca_path = ca_path
        self.timeout = timeout
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                  urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca_path)))

    @classmethod
    def from_workdir(cls, workdir, timeout=30):
        settings = load_settings(workdir)
        return cls(settings['control_url'], settings['ca_path'], timeout=timeout)

    @classmethod
    def from_config(cls, cfg, timeout=30):
        """From the variables of tests/integration/integration_config.yml (mde_control_url, mde_ca_path)."""
        return cls(cfg['mde_control_url'], cfg['mde_ca_path'], timeout=timeout)

    def call(self, method, path, payload=None, params=None):
        url = self.base + path + ('?' + urllib.parse.urlencode(params) if params else '')
        data = json.dumps(payload).encode('utf-8') if payload is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={'Content-Type': 'application/json'})
        try:
            with self.opener.open(req, timeout=self.timeout) as answer:  # nosec - loopback emulator
                body = answer.read()
        except urllib.error.HTTPError as err:
            raise ControlError(method, path, err.code, err.read().decode('utf-8', 'replace'))
        return json.loads(body.decode('utf-8')) if body else None

    def health(self):
        return self.call('GET', '/control/health')

    def reset(self, seed='demo', realign_clock=False):
        """``realign_clock``: emulated time starts again at real time (time moved on by the clock or advances is undone)."""
        payload = {'seed': seed}
        if realign_clock:
            payload['realign_clock'] = True
        return self.call('POST', '/control/reset', payload)

    def requests(self, since=0, host=None):
        params = {'since': since}
        if host:
            params['host'] = host
        return self.call('GET', '/control/requests', params=params)

    def mark(self):
        """The number of the last request logged: log(mark) then holds what came after it."""
        return self.requests(since=999999999)['last_seq']

    def log(self, since=0):
        """The requests logged after number ``since``."""
        return self.requests(since=since)['requests']

    def state(self):
        return self.call('GET', '/control/state')

    def action(self, action_id):
        return self.call('GET', '/control/actions/%s' % action_id)

    def results(self, action_id):
        """What the storage host serves for an action: [{index, sha256, size}]."""
        return self.call('GET', '/control/actions/%s/results' % action_id)['results']

    def add_machine(self, machine):
        return self.call('POST', '/control/machines', machine)

    def add_action(self, action):
        return self.call('POST', '/control/actions', action)

    def add_faults(self, *faults):
        return self.call('POST', '/control/faults', {'faults': list(faults)})['ids']

    def remove_fault(self, fault_id):
        return self.call('DELETE', '/control/faults/%d' % fault_id)

    def remove_faults(self, ids):
        """Remove fault rules; one used up and gone already (404) is not an error."""
        for fault_id in ids:
            try:
                self.remove_fault(fault_id)
            except ControlError as err:
                if err.status != 404:
                    raise

    def faults(self):
        return self.call('GET', '/control/faults')['faults']

    def clear_faults(self):
        return self.call('DELETE', '/control/faults')

    def config(self):
        return self.call('GET', '/control/config')

    def set_config(self, **changes):
        return self.call('POST', '/control/config', changes)

    def app_roles(self, app):
        """The application roles an app (default, cert, readonly) holds now: what a token issued now carries."""
        return self.call('GET', '/control/apps/%s/roles' % app)['roles']

    def change_roles(self, app, grant=(), revoke=()):
        """Grant and revoke an app's roles (admin consent); tokens issued before keep their roles. Reset undoes it."""
        return self.call('POST', '/control/apps/%s/roles' % app, {'grant': list(grant), 'revoke': list(revoke)})['roles']

    def expire_tokens(self):
        return self.call('POST', '/control/tokens/expire')

    def tokens(self):
        return self.call('GET', '/control/tokens')['tokens']

    def advance_clock(self, seconds):
        return self.call('POST', '/control/clock', {'advance': seconds})

    def clock(self):
        return self.call('GET', '/control/clock')

    def mint_federated_token(self, **claims):
        """A token of the emulator's test OIDC issuer: subject, audience, issuer, lifetime and
        not_before_in (seconds from now, negative for the past) as given, else the defaults."""
        return self.call('POST', '/control/federation/token', claims)['token']

    def federated_tokens(self):
        return self.call('GET', '/control/federation/tokens')['tokens']

    def accepted_federated_tokens(self):
        """The jti claim of each federated token the token endpoint accepted, in order."""
        return self.call('GET', '/control/federation/tokens')['accepted']

    def federated_credentials(self):
        return self.call('GET', '/control/federation/credentials')['credentials']

    def add_federated_credential(self, **credential):
        return self.call('POST', '/control/federation/credentials', credential)

    def restore_federated_credentials(self):
        return self.call('DELETE', '/control/federation/credentials')['credentials']


# ------------------------------------------------------------------------------- secret scanner
def secrets_of(cfg, control, extra=None):
    """What must never appear in output, by name: both client secrets and the certificate password
    (from the integration_config.yml variables ``cfg``), the managed identity header, every access
    token the emulator issued (GET /control/tokens, managed identity tokens included), every
    federated token its test issuer minted (GET /control/federation/tokens) and the ``extra`` ones a
    test adds. Empty values are left out."""
    found = {'client secret': cfg['mde_client_secret'], 'read-only client secret': cfg['mde_readonly_client_secret'],
             'certificate password': cfg['mde_cert_password'], 'managed identity header': cfg.get('mde_identity_header'),
             'Redis password': cfg.get('mde_redis_password')}
    found.update(extra or {})
    for index, token in enumerate(control.tokens()):
        found['issued token #%d' % index] = token if isinstance(token, str) else token.get('access_token')
    for index, token in enumerate(control.federated_tokens()):
        found['federated token #%d' % index] = token
    return dict((what, value) for what, value in found.items() if value)


def files_under(paths, skip=()):
    """The files named and those below the folders named, but for token cache files found in a folder
    (the one place tokens may be) and the files ``skip`` (real paths). A path named that does not
    exist is an error: a scan of nothing must not pass for a clean one."""
    for top in paths:
        if os.path.isfile(top):
            yield top
            continue
        if not os.path.isdir(top):
            raise FileNotFoundError('nothing to scan at %s' % top)
        for folder, dummy, names in os.walk(top):
            for name in names:
                path = os.path.join(folder, name)
                if os.path.realpath(path) in skip or (TOKEN_CACHE_PART in path and name.endswith('.json')):
                    continue
                yield path


def scan(paths, secrets, skip=()):
    """(number of files scanned, [(what, path)] for each secret found in a file). Files that cannot be
    read (gone while the folder was walked) are counted and passed over."""
    hits, scanned = [], 0
    encoded = [(what, value.encode('utf-8')) for what, value in secrets.items() if value]
    for path in files_under(paths, skip):
        scanned += 1
        try:
            with open(path, 'rb') as handle:
                data = handle.read()
        except OSError:
            continue
        hits.extend((what, path) for what, value in encoded if value in data)
    return scanned, hits
