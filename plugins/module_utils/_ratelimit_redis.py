# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""The rate budget kept in a Redis server (``rate_limit_backend: redis``), shared by every job and node.

The same semantics as the file budget of ``_ratelimit``: the same keys (``budget_key``: API host,
tenant, client, API, hashed), the same limits (``limits_for``), both windows, the same waits and
bounds (``RateBudget.acquire`` runs the wait loop; only the check-and-record step differs) and the
shared 429 pause. Each check of both windows and the recording of the call is one Lua script,
atomic on the server, timed by the server's clock (``TIME``), so callers with skewed clocks share
one window. Keys expire an hour (the window) after the last call or at the end of the pause.
Nothing secret is stored: call times and a pause time, under hashed keys. Tokens stay local.

When the server cannot be reached, is slow or answers errors, the call spends from the file budget
of this host instead (``RateBudget``, the fallback) and the task gets a warning naming the problem,
never the URL's password. The ``redis`` package is imported only when this backend is chosen.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import time
import traceback
import uuid

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.defender.endpoint.plugins.module_utils._errors import config_error
from ansible_collections.defender.endpoint.plugins.module_utils._ratelimit import TRANSIT_GUARD, RateBudget

try:
    from urllib.parse import parse_qs, unquote, urlsplit
except ImportError:  # pragma: no cover
    from urllib import unquote  # type: ignore
    from urlparse import parse_qs, urlsplit  # type: ignore

SCHEMES = ('redis', 'rediss', 'unix')
# Query parameters of redis_url passed on to redis-py; anything else (timeouts, ssl_cert_reqs=none...) is refused.
QUERY = {'redis': ('db',), 'rediss': ('db', 'ssl_ca_certs'), 'unix': ('db',)}
CONNECT_TIMEOUT = 2.0   # seconds: connecting to the server, of its own (not the API's timeout)
COMMAND_TIMEOUT = 2.0   # seconds: one script's answer
RETRY_SERVER = 10.0     # seconds: after a failure, this process spends from the files before asking the server again
KEY_PREFIX = 'defender.endpoint:ratelimit:'
MASK = '********'

# KEYS[1]: the calls (sorted set, score = server time in microseconds), KEYS[2]: paused until (microseconds).
# ARGV: per minute, per hour (0: none), the minute and hour windows (microseconds), a member unique to this call.
# Returns {1, 0, '', n} when the call was recorded, else {0, microseconds to wait, 'pause'|'minute'|'hour', calls counted}.
ACQUIRE_LUA = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per_minute, per_hour = tonumber(ARGV[1]), tonumber(ARGV[2])
local minute, hour = tonumber(ARGV[3]), tonumber(ARGV[4])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if paused > now then
  return {0, string.format('%.0f', paused - now), 'pause', 0}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - hour))
local n = redis.call('ZCARD', KEYS[1])
local in_minute = redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.0f', now - minute), '+inf')
if in_minute >= per_minute then
  local oldest = redis.call('ZRANGE', KEYS[1], n - per_minute, n - per_minute, 'WITHSCORES')
  return {0, string.format('%.0f', tonumber(oldest[2]) + minute - now), 'minute', in_minute}
end
if per_hour > 0 and n >= per_hour then
  local oldest = redis.call('ZRANGE', KEYS[1], n - per_hour, n - per_hour, 'WITHSCORES')
  return {0, string.format('%.0f', tonumber(oldest[2]) + hour - now), 'hour', n}
end
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[5])
redis.call('PEXPIRE', KEYS[1], math.ceil(hour / 1000) + 1000)
return {1, '0', '', n + 1}
"""

# KEYS[1]: the calls; ARGV[1]: a call's member, ARGV[2]: the transit guard (microseconds). RateBudget.settle's move, on the
# server's clock: a call answered later than the guard after its record is recorded at its answer (the service counted it then).
SETTLE_LUA = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and now - tonumber(score) > tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', now), ARGV[1])
end
return 1
"""

# KEYS[1]: paused until (microseconds of the server clock); ARGV[1]: the pause (microseconds). Only ever lengthens it.
PAUSE_LUA = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pause = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if now + pause > current then
  redis.call('SET', KEYS[1], string.format('%.0f', now + pause), 'PX', math.ceil(pause / 1000) + 1000)
end
return 1
"""


def mask_url(url):
    """The URL with any user info replaced by a mask: what messages may show of redis_url."""
    url = url or ''
    scheme, sep, rest = url.partition('://')
    if not sep:
        return MASK if '@' in url else url
    if '@' in rest:
        rest = MASK + '@' + rest.rpartition('@')[2]
    return scheme + sep + rest


def require_redis():
    """The redis package, or a config MdeError with Ansible's missing_required_lib text."""
    try:
        import redis  # pylint: disable=import-outside-toplevel
        import redis.backoff  # noqa: F401  pylint: disable=import-outside-toplevel
        import redis.retry  # noqa: F401  pylint: disable=import-outside-toplevel
    except ImportError:
        err = config_error(missing_required_lib('redis', reason='rate_limit_backend=redis') +
                           ' Or set rate_limit_backend (MDE_RATE_LIMIT_BACKEND) to file.')
        err.details['exception'] = traceback.format_exc()
        raise err
    return redis


class RedisSettings:
    """redis_url, checked before any request: the scheme, host or socket path, the query parameters we pass on."""

    def __init__(self, url):
        url = (url or '').strip()
        if not url:
            raise config_error('rate_limit_backend=redis needs redis_url (MDE_REDIS_URL): the Redis server every job shares, '
                               'for example rediss://:PASSWORD@redis.example.com:6380/0. Or set rate_limit_backend to file.')
        self.url = url
        self.shown = mask_url(url)
        parts = urlsplit(url)
        self.scheme = parts.scheme.lower()
        if self.scheme not in SCHEMES:
            raise config_error('redis_url (MDE_REDIS_URL) must start with redis://, rediss:// (TLS) or unix://, not "%s".' % self.shown)
        self.password = unquote(parts.password) if parts.password else None
        try:
            port = parts.port
        except ValueError:
            raise config_error('redis_url (MDE_REDIS_URL) has an invalid port: "%s".' % self.shown)
        if self.scheme == 'unix':
            if not parts.path:
                raise config_error('redis_url (MDE_REDIS_URL) must name the socket, as unix:///run/redis/redis.sock; got "%s".' % self.shown)
            self.where = 'unix://' + parts.path
        else:
            if not parts.hostname:
                raise config_error('redis_url (MDE_REDIS_URL) must name the server, as %s://redis.example.com:6379/0; got "%s".'
                                   % (self.scheme, self.shown))
            self.where = '%s://%s:%s' % (self.scheme, parts.hostname, port or 6379)
        query = parse_qs(parts.query, keep_blank_values=True)
        allowed = QUERY[self.scheme]
        unknown = sorted(name for name in query if name not in allowed)
        if unknown:
            raise config_error('redis_url (MDE_REDIS_URL) has the query parameter(s) %s; a %s:// URL takes only %s.'
                               % (', '.join(unknown), self.scheme, ', '.join(allowed)))
        if 'db' in query and not (len(query['db']) == 1 and query['db'][0].isdigit()):
            raise config_error('redis_url (MDE_REDIS_URL): db must be a database number such as db=0.')
        self.ca_certs = (query.get('ssl_ca_certs') or [None])[0]
        if self.ca_certs is not None and not os.path.isfile(self.ca_certs):
            raise config_error('redis_url (MDE_REDIS_URL): ssl_ca_certs=%s is not a file: point it at a PEM bundle of the CA '
                               'certificates that sign the Redis server\'s certificate.' % self.ca_certs)
        require_redis()


class RedisStore:
    """One process's connection to the Redis server, shared by the budgets of every API it calls.

    ``warn`` receives each warning once (a callable taking a text); ``clock`` only times the
    pause after a failure, never a window (those use the server's clock).
    """

    def __init__(self, redis_settings, warn=None, clock=time.time):
        self.settings = redis_settings
        self.warn = warn
        self.clock = clock
        self._client = None
        self._scripts = None
        self._errors = ()
        self.down_until = 0.0
        self.warned = set()

    def _connect(self):
        if self._client is None:
            redis = require_redis()
            kwargs = dict(socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=COMMAND_TIMEOUT, health_check_interval=0,
                          retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0), retry_on_error=[])
            if self.settings.scheme == 'rediss':
                kwargs.update(ssl_cert_reqs='required', ssl_check_hostname=True)
            self._errors = (redis.exceptions.RedisError, OSError, ValueError)
            self._client = redis.Redis.from_url(self.settings.url, **kwargs)
            self._scripts = tuple(self._client.register_script(lua) for lua in (ACQUIRE_LUA, PAUSE_LUA, SETTLE_LUA))
        return self._client

    def _run(self, index, keys, args, doing):
        """A script's answer, or None when the server failed (then the caller uses the file budget)."""
        if self.clock() < self.down_until:
            return None
        try:
            self._connect()
            return self._scripts[index](keys=keys, args=args)
        except Exception as exc:  # pylint: disable=broad-except
            if self._errors and not isinstance(exc, self._errors):
                raise
            self.failed(exc, doing)
            return None

    def failed(self, exc, doing):
        self.down_until = self.clock() + RETRY_SERVER
        text = str(exc) or type(exc).__name__
        if self.settings.password:
            text = text.replace(self.settings.password, MASK)
        msg = ('The Redis rate budget at %s failed to %s (%s: %s). This host\'s file budget was used instead, which other jobs and '
               'nodes do not share; check redis_url (MDE_REDIS_URL) and that the server answers.'
               % (self.settings.where, doing, type(exc).__name__, text.rstrip('.')))
        if self.warn is not None and msg not in self.warned:
            self.warned.add(msg)
            self.warn(msg)

    def acquire(self, key, per_minute, per_hour, minute, hour, member):
        """(None, None) when the call was recorded (as ``member``), (seconds, why) to wait, or False when the server failed."""
        answer = self._run(0, [KEY_PREFIX + '{%s}:calls' % key, KEY_PREFIX + '{%s}:paused' % key],
                           [per_minute, per_hour or 0, int(minute * 1e6), int(hour * 1e6), member],
                           'check and record a call')
        if answer is None:
            return False
        ok, wait, why, count = int(answer[0]), float(answer[1]) / 1e6, answer[2], int(answer[3])
        if ok:
            return None, None
        why = why.decode('ascii') if isinstance(why, bytes) else why
        if why == 'pause':
            return wait, 'the API answered 429 (Too Many Requests) and asked to wait'
        if why == 'minute':
            return wait, '%d calls were made in the last minute (limit %d)' % (count, per_minute)
        return wait, '%d calls were made in the last hour (limit %d)' % (count, per_hour)

    def settle(self, key, member, guard):
        """Move the record ``member`` to the server's now when the answer came later than ``guard`` seconds after it."""
        return self._run(2, [KEY_PREFIX + '{%s}:calls' % key], [member, int(guard * 1e6)], 'record when a call was answered') is not None

    def pause(self, key, seconds):
        """Pause every job's calls of this key for ``seconds``; False when the server failed."""
        return self._run(1, [KEY_PREFIX + '{%s}:paused' % key], [int(max(seconds, 0.0) * 1e6)], 'record a 429 pause') is not None


class RedisBudget(RateBudget):
    """``RateBudget`` whose check-and-record step and pause go to the Redis server; its own files are the fallback."""

    def __init__(self, store, key, api, per_minute, per_hour, max_wait, **kwargs):
        super(RedisBudget, self).__init__(key, api, per_minute, per_hour, max_wait, **kwargs)
        self.store = store
        self._member = None

    def _try_acquire(self):
        member = uuid.uuid4().hex
        answer = self.store.acquire(self.key, self.per_minute, self.per_hour, self.minute, self.hour, member)
        if answer is False:
            return super(RedisBudget, self)._try_acquire()
        if answer[0] is None:
            self._member = member
        return answer

    def settle(self):
        member, self._member = self._member, None
        if member is not None:
            self.store.settle(self.key, member, TRANSIT_GUARD)
        super(RedisBudget, self).settle()  # the file budget's record, when the call spent from it

    def pause(self, seconds):
        # the files too: this host's processes see the pause even when the server fails for their next call
        super(RedisBudget, self).pause(seconds)
        self.store.pause(self.key, seconds)
