# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""The owner-only on-disk token cache.

One small JSON file per key, key = sha256 of (authority, tenant, client id, scope, a
fingerprint of the credential), so a changed or wrong secret never finds a token fetched
with another one. A file lock per key makes concurrent processes wait for the one fetching
a token instead of fetching it again. msal is never consulted for cached tokens.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import contextlib
import hashlib
import json
import os
import time

from ansible_collections.defender.endpoint.plugins.module_utils import _files

# Refresh this long before expiry, but never more than a tenth of the token's lifetime.
REFRESH_MARGIN = 300.0


def cache_key(authority, tenant, client_id, scope, fingerprint):
    raw = json.dumps([authority, tenant, client_id, scope, fingerprint])
    return hashlib.sha256(raw.encode('utf-8')).hexdigest()


class TokenCache:

    def __init__(self, folder=None, clock=time.time, lock_timeout=120.0):
        self.folder = folder or _files.private_dir('tokens')
        self.clock = clock
        self.lock_timeout = lock_timeout
        # key -> (access_token, refresh_at) of the entries this process read or wrote: a task's later calls
        # (a cancel's POST after its GET, retries) use the token without reading the file again.
        self._known = {}

    def _path(self, key):
        return os.path.join(self.folder, key + '.json')

    @contextlib.contextmanager
    def locked(self, key):
        with _files.file_lock(os.path.join(self.folder, key + '.lock'), self.lock_timeout, what='token cache lock'):
            yield

    def get(self, key):
        """The cached access token when it is still fresh, else None.

        Lock-free: the file is only ever replaced whole (write_json_atomic), so a read sees one entry."""
        known = self._known.get(key)
        if known is not None and self.clock() < known[1]:
            return known[0]
        entry = _files.read_json(self._path(key))
        if not isinstance(entry, dict):
            return None
        token = entry.get('access_token')
        refresh_at = entry.get('refresh_at')
        if not token or not isinstance(refresh_at, (int, float)):
            return None
        if self.clock() >= refresh_at:
            return None
        self._known[key] = (token, refresh_at)
        return token

    def put(self, key, access_token, expires_in):
        now = self.clock()
        lifetime = max(float(expires_in), 0.0)
        margin = min(REFRESH_MARGIN, lifetime / 10.0)
        _files.write_json_atomic(self._path(key), {
            'access_token': access_token,
            'obtained_at': now,
            'expires_on': now + lifetime,
            'refresh_at': now + lifetime - margin,
        })
        self._known[key] = (access_token, now + lifetime - margin)

    def invalidate(self, key, access_token):
        """Forget ``access_token`` (the API refused it), unless another process already replaced it."""
        if self._known.get(key, (None,))[0] == access_token:
            del self._known[key]
        entry = _files.read_json(self._path(key))
        if isinstance(entry, dict) and entry.get('access_token') == access_token:
            try:
                os.unlink(self._path(key))
            except OSError:
                pass
