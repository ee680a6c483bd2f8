# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""A rate budget shared by every process of the user on the controller.

The API allows 100 calls a minute and 1500 an hour per API (Microsoft's documented throttling of
the Defender for Endpoint API; a few APIs allow fewer, ``DOCUMENTED_LIMITS``). Each (API host, tenant, client, API) key has a state file holding the
times of the calls made in the last hour and a "paused until" time set by any 429. A call
waits for a free slot instead of collecting 429s; a 429 seen by one process pauses the
others until its Retry-After. Every wait is capped by ``max_wait``: a wait longer than
that fails at once, naming the bound, rather than sleeping and failing later. When other
processes keep taking the freed slots, the waits add up under the bound of the whole call
(``_retry.CallWaits``: (max_retries + 1) * max_wait), never beyond it.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import json
import os
import time

from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.plugins.module_utils import _files
from ansible_collections.defender.endpoint.plugins.module_utils._retry import CallWaits

MINUTE = 60.0
HOUR = 3600.0

# Documented limits that are lower than the general 100/min and 1500/h.
DOCUMENTED_LIMITS = {
    'get_package_uri': (2, 120),
    'run_live_response': (10, None),
}
DEFAULT_LIMITS = (100, 1500)
TRANSIT_GUARD = 0.5  # seconds: the spread between recording a call and the service receiving it


def limits_for(api, per_minute=None, per_hour=None):
    """(per_minute, per_hour) for an API: the configured general limits, lowered by the documented ones."""
    per_minute = DEFAULT_LIMITS[0] if per_minute is None else per_minute
    per_hour = DEFAULT_LIMITS[1] if per_hour is None else per_hour
    doc_minute, doc_hour = DOCUMENTED_LIMITS.get(api, (None, None))
    if doc_minute is not None:
        per_minute = min(per_minute, doc_minute)
    if doc_hour is not None:
        per_hour = min(per_hour, doc_hour)
    return per_minute, per_hour


def budget_key(api_host, tenant, client, api):
    raw = json.dumps([api_host, tenant, client, api])
    return hashlib.sha256(raw.encode('utf-8')).hexdigest()


class RateBudget:
    """Spend from and pause one key's budget. ``clock``/``sleep`` are injectable for tests."""

    def __init__(self, key, api, per_minute, per_hour, max_wait, time_scale=1.0, folder=None,
                 clock=time.time, sleep=time.sleep, lock_timeout=30.0):
        self.key = key
        self.api = api
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.max_wait = max_wait
        # A call is recorded before it is sent and counted by the service when it arrives; arrivals spread by
        # connection set-up and load, so keep each call in the window a little longer (real seconds, not scaled).
        self.minute = MINUTE / time_scale + TRANSIT_GUARD
        self.hour = HOUR / time_scale + TRANSIT_GUARD
        self.folder = folder or _files.private_dir('ratelimit')
        self.path = os.path.join(self.folder, key + '.json')
        self.lock_path = os.path.join(self.folder, key + '.lock')
        self.clock = clock
        self.sleep = sleep
        self.lock_timeout = lock_timeout
        self._in_flight = None  # the record of the call acquire() let go and settle() has not moved yet

    def _load(self, now):
        state = _files.read_json(self.path)
        if not isinstance(state, dict):
            state = {}
        calls = [t for t in state.get('calls', []) if isinstance(t, (int, float)) and now - t < self.hour]
        paused = state.get('paused_until', 0)
        if not isinstance(paused, (int, float)):
            paused = 0
        return {'calls': sorted(calls), 'paused_until': paused}

    def _wait_needed(self, state, now):
        """Seconds until a call may be made now, and why (None when it may go at once)."""
        if state['paused_until'] > now:
            return state['paused_until'] - now, 'the API answered 429 (Too Many Requests) and asked to wait'
        calls = state['calls']
        in_minute = [t for t in calls if now - t < self.minute]
        if len(in_minute) >= self.per_minute:
            oldest = in_minute[len(in_minute) - self.per_minute]
            return oldest + self.minute - now, '%d calls were made in the last minute (limit %d)' % (len(in_minute), self.per_minute)
        if self.per_hour is not None and len(calls) >= self.per_hour:
            oldest = calls[len(calls) - self.per_hour]
            return oldest + self.hour - now, '%d calls were made in the last hour (limit %d)' % (len(calls), self.per_hour)
        return None, None

    def acquire(self, waits=None):
        """Wait for a slot and record the call. Returns the seconds waited.

        ``waits``: the ``_retry.CallWaits`` of the API call this slot is for; without it, a bound
        of its own with max_retries=0 (at most ``max_wait`` in total).
        """
        if waits is None:
            waits = CallWaits(self.max_wait, 0, self.sleep)
        waited = 0.0
        while True:
            wait, why = self._try_acquire()
            if wait is None:
                return waited
            wait = max(wait, 0.0)
            if wait > self.max_wait:
                raise MdeError(
                    'The rate budget for the %s API is used up: %s. The next call may be made in %.0f s, more than '
                    'max_wait=%s s. Run again later, use fewer forks, or raise max_wait.' % (self.api, why, wait, self.max_wait),
                    kind='timeout')
            wait += 0.005  # land just past the window edge
            if not waits.fits(wait):
                raise MdeError(
                    'The rate budget for the %s API is used up: %s, and other processes keep taking the freed slots. This call '
                    'has waited %.0f s and the next slot is %.0f s away, past %s. Run again later, use fewer forks, or raise '
                    'max_wait or max_retries.' % (self.api, why, waits.waited, wait, waits.bound()), kind='timeout')
            waits.sleep(wait)
            waited += wait

    def _try_acquire(self):
        """Record a call when the windows allow it now: (None, None); else (seconds to wait, why). The backend seam:
        ``_ratelimit_redis.RedisBudget`` checks and records in Redis instead, with this as its fallback."""
        with _files.file_lock(self.lock_path, self.lock_timeout, what='rate budget lock'):
            now = self.clock()
            state = self._load(now)
            wait, why = self._wait_needed(state, now)
            if wait is None:
                state['calls'].append(now)
                _files.write_json_atomic(self.path, state, durable=False)
                self._in_flight = now
            return wait, why

    def settle(self):
        """The call of the last ``acquire()`` is answered (or failed): move its record to now.

        The service counts a call when it arrives, not when the budget recorded it: in between lie the
        connection set-up (TCP and TLS, per process) and the load on both ends, which vary by more than
        TRANSIT_GUARD under forks (the bench measures it). A call recorded early leaves this window early,
        and the call that takes its slot reaches the service while the service still counts the first one
        in its window: a 429. The time of the answer is after the arrival, so the record moved there never
        leaves the window before the service's does; the window is then spent up to the service's edge.
        An answer within TRANSIT_GUARD of the record needs no move (the arrival lay between the two, and
        the guard covers it): the common call stays at one lock, one read and one write.
        """
        stamp, self._in_flight = self._in_flight, None
        if stamp is None or self.clock() - stamp <= TRANSIT_GUARD:
            return
        with _files.file_lock(self.lock_path, self.lock_timeout, what='rate budget lock'):
            now = self.clock()
            state = self._load(now)
            if stamp in state['calls']:
                state['calls'].remove(stamp)
            state['calls'].append(max(now, stamp))
            _files.write_json_atomic(self.path, state, durable=False)

    def pause(self, seconds):
        """Make every process using this key wait ``seconds`` from now (a 429's Retry-After)."""
        with _files.file_lock(self.lock_path, self.lock_timeout, what='rate budget lock'):
            now = self.clock()
            state = self._load(now)
            state['paused_until'] = max(state['paused_until'], now + seconds)
            _files.write_json_atomic(self.path, state)


def new_store(settings, warn=None):
    """What the budgets of one process share beyond files: None for the file backend; for ``redis``, one connection
    to the server (``_ratelimit_redis.RedisStore``) and the warnings ``warn`` (a callable taking a text) gets."""
    if getattr(settings, 'rate_limit_backend', 'file') != 'redis':
        return None
    from ansible_collections.defender.endpoint.plugins.module_utils import _ratelimit_redis
    return _ratelimit_redis.RedisStore(settings.redis, warn=warn)


def new_budget(settings, key, api, per_minute, per_hour, store=None, folder=None, clock=time.time, sleep=time.sleep):
    """The budget of one key in the store the settings name: files of this host (``RateBudget``), or with the
    ``store`` of ``new_store`` a Redis server shared by every job and node (``_ratelimit_redis.RedisBudget``,
    which falls back to the files of this host when the server fails)."""
    kwargs = dict(time_scale=settings.time_scale, folder=folder, clock=clock, sleep=sleep)
    if store is None:
        return RateBudget(key, api, per_minute, per_hour, settings.max_wait, **kwargs)
    from ansible_collections.defender.endpoint.plugins.module_utils import _ratelimit_redis
    return _ratelimit_redis.RedisBudget(store, key, api, per_minute, per_hour, settings.max_wait, **kwargs)
