# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Redis rate budget (issue 14): redis_url checks, and the Lua scripts against a real redis-server.

The server is started by the ``server`` fixture on a free loopback port with no persistence
(tests/utils/redis_server.py) and stopped after the test. The clock of the callers is a FakeClock
that never moves with the server's: the windows come from the server's ``TIME``.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import sys

import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.defender.endpoint.plugins.module_utils import _ratelimit
from ansible_collections.defender.endpoint.plugins.module_utils import _ratelimit_redis
from ansible_collections.defender.endpoint.plugins.module_utils._connection import CONNECTION_ARGSPEC, Settings
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_fakes import make_settings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'utils'))
from redis_server import RedisServer, free_port  # noqa: E402  pylint: disable=wrong-import-position

PASSWORD = 'redis-pass-4711'
KEY = _ratelimit.budget_key('https://api.mde.test', 'tenant', 'client', 'list_actions')


def settings(**given):
    result = ArgumentSpecValidator(CONNECTION_ARGSPEC).validate(given)
    assert not result.error_messages, result.error_messages
    return Settings(result.validated_parameters)


def config_failure(**given):
    with pytest.raises(MdeError) as info:
        settings(**given)
    assert info.value.kind == 'config'
    assert PASSWORD not in info.value.msg
    return info.value.msg


# redis_url ------------------------------------------------------------------------------------

def test_file_is_the_default_and_ignores_redis_url():
    s = settings(redis_url='ftp://nonsense')
    assert s.rate_limit_backend == 'file' and s.redis is None


def test_redis_backend_without_url_names_the_option():
    msg = config_failure(rate_limit_backend='redis')
    assert 'redis_url (MDE_REDIS_URL)' in msg and 'rate_limit_backend' in msg


@pytest.mark.parametrize('url, expect', [
    ('http://:%s@redis.example.com' % PASSWORD, 'must start with redis://, rediss:// (TLS) or unix://'),
    ('redis://:%s@' % PASSWORD, 'must name the server'),
    ('redis://:%s@redis.example.com:99999' % PASSWORD, 'invalid port'),
    ('unix://:%s@' % PASSWORD, 'must name the socket'),
    ('rediss://:%s@redis.example.com/0?ssl_cert_reqs=none' % PASSWORD, 'takes only db, ssl_ca_certs'),
    ('redis://:%s@redis.example.com/0?ssl_ca_certs=/etc/hosts' % PASSWORD, 'takes only db'),
    ('redis://:%s@redis.example.com/0?db=x' % PASSWORD, 'database number'),
    ('rediss://:%s@redis.example.com/0?ssl_ca_certs=/nonexistent/ca.pem' % PASSWORD, 'is not a file'),
])
def test_bad_redis_url_is_refused_without_the_password(url, expect):
    msg = config_failure(rate_limit_backend='redis', redis_url=url)
    assert expect in msg and 'redis_url (MDE_REDIS_URL)' in msg


def test_good_urls_are_kept_and_masked():
    s = settings(rate_limit_backend='redis', redis_url='rediss://user:%s@redis.example.com:6380/2?ssl_ca_certs=%s' % (PASSWORD, __file__))
    assert s.redis.password == PASSWORD and s.redis.ca_certs == __file__
    assert s.redis.where == 'rediss://redis.example.com:6380'
    assert PASSWORD not in s.redis.shown and s.redis.shown.startswith('rediss://********@redis.example.com')
    assert settings(rate_limit_backend='redis', redis_url='unix:///run/redis.sock?db=1').redis.where == 'unix:///run/redis.sock'


def test_missing_redis_package_is_missing_required_lib(monkeypatch):
    monkeypatch.setitem(sys.modules, 'redis', None)  # import redis raises ImportError
    msg = config_failure(rate_limit_backend='redis', redis_url='redis://127.0.0.1:6379/0')
    assert 'redis' in msg and 'rate_limit_backend' in msg and 'Failed to import the required Python library' in msg


def test_mask_url():
    assert _ratelimit_redis.mask_url('redis://:p@ss@h:1/0') == 'redis://********@h:1/0'
    assert _ratelimit_redis.mask_url('redis://h:1/0') == 'redis://h:1/0'
    assert _ratelimit_redis.mask_url('no-scheme:%s@x' % PASSWORD) == '********'


# against a real server --------------------------------------------------------------------------

@pytest.fixture
def server():
    # One server per test, not per module: ansible-test runs every test in a fork of its own, where a
    # module-scoped server is started again and only the module's last test stops it (os._exit skips the
    # teardown), so a module scope left a redis-server running after every other test.
    with RedisServer(password=PASSWORD) as srv:
        yield srv


@pytest.fixture
def redis_client(server):
    redis = _ratelimit_redis.require_redis()
    client = redis.Redis.from_url(server.url)
    client.flushall()
    yield client
    client.close()


def store_of(server, warnings, clock, url=None):
    return _ratelimit_redis.RedisStore(_ratelimit_redis.RedisSettings(url or server.url), warn=warnings.append, clock=clock)


def redis_budget(store, tmp_path, clock, per_minute=3, per_hour=1000, max_wait=100.0, time_scale=60.0):
    tmp_path.mkdir(exist_ok=True)
    s = make_settings(max_wait=max_wait, time_scale=time_scale, rate_limit_backend='redis')
    return _ratelimit.new_budget(s, KEY, 'list_actions', per_minute, per_hour, store=store, folder=str(tmp_path), clock=clock,
                                 sleep=clock.sleep)


def test_records_calls_with_the_server_clock_and_expires_keys(server, redis_client, tmp_path, clock):
    warnings = []
    budget = redis_budget(store_of(server, warnings, clock), tmp_path, clock, per_minute=3)
    server_now = float(redis_client.time()[0])
    clock.advance(-10 ** 6)  # the caller's clock is far off: it plays no part in the windows
    for dummy in range(3):
        assert budget.acquire() == 0.0
    calls = redis_client.zrange(_ratelimit_redis.KEY_PREFIX + '{%s}:calls' % KEY, 0, -1, withscores=True)
    assert len(calls) == 3 and all(abs(score / 1e6 - server_now) < 60 for dummy, score in calls)
    ttl = redis_client.pttl(_ratelimit_redis.KEY_PREFIX + '{%s}:calls' % KEY)
    assert 0 < ttl <= (3600.0 / 60 + 0.5) * 1000 + 1000
    assert warnings == [] and not os.listdir(str(tmp_path))  # nothing went to the file fallback


def test_minute_window_makes_the_fourth_call_wait(server, redis_client, tmp_path, clock):
    budget = redis_budget(store_of(server, [], clock), tmp_path, clock, per_minute=3, time_scale=60.0)
    for dummy in range(3):
        budget.acquire()
    wait, why = budget._try_acquire()
    assert why == '3 calls were made in the last minute (limit 3)'
    assert 0 < wait <= 60.0 / 60 + 0.5  # the scaled minute plus the transit guard


def test_hour_window_counts_every_call_of_the_hour(server, redis_client, tmp_path, clock):
    budget = redis_budget(store_of(server, [], clock), tmp_path, clock, per_minute=100, per_hour=4, time_scale=60.0)
    for dummy in range(4):
        budget.acquire()
    wait, why = budget._try_acquire()
    assert why == '4 calls were made in the last hour (limit 4)' and 0 < wait <= 3600.0 / 60 + 0.5


def test_wait_longer_than_max_wait_fails_at_once(server, redis_client, tmp_path, clock):
    budget = redis_budget(store_of(server, [], clock), tmp_path, clock, per_minute=1, per_hour=1, max_wait=5.0, time_scale=1.0)
    budget.acquire()
    with pytest.raises(MdeError) as info:
        budget.acquire()
    assert 'max_wait=5.0' in info.value.msg and info.value.kind == 'timeout' and clock.sleeps == []


def test_pause_is_seen_by_another_store_and_by_this_hosts_files(server, redis_client, tmp_path, clock):
    first = redis_budget(store_of(server, [], clock), tmp_path / 'a', clock)
    other = redis_budget(store_of(server, [], clock), tmp_path / 'b', clock)
    first.pause(30.0)
    wait, why = other._try_acquire()
    assert 'answered 429' in why and 29.0 < wait <= 30.0
    assert _ratelimit.RateBudget._try_acquire(first)[0] > 29.0  # the file budget of the first host holds the pause too
    first.pause(1.0)  # a shorter pause never shortens a longer one
    assert other._try_acquire()[0] > 28.0


def test_two_stores_share_one_window(server, redis_client, tmp_path, clock):
    one = redis_budget(store_of(server, [], clock), tmp_path / 'a', clock, per_minute=4)
    two = redis_budget(store_of(server, [], clock), tmp_path / 'b', clock, per_minute=4)
    for budget in (one, two, one, two):
        assert budget._try_acquire() == (None, None)
    assert one._try_acquire()[1] == two._try_acquire()[1] == '4 calls were made in the last minute (limit 4)'


def test_unreachable_server_falls_back_to_files_with_one_warning(tmp_path, clock):
    warnings = []
    url = 'redis://:%s@127.0.0.1:%d/0' % (PASSWORD, free_port())  # nothing listens there
    budget = redis_budget(store_of(None, warnings, clock, url=url), tmp_path, clock, per_minute=2)
    assert budget.acquire() == 0.0 and budget.acquire() == 0.0
    assert _ratelimit.RateBudget._try_acquire(budget)[1] == '2 calls were made in the last minute (limit 2)'
    assert len(warnings) == 1
    assert 'failed to check and record a call' in warnings[0] and "file budget was used instead" in warnings[0]
    assert 'redis://127.0.0.1:' in warnings[0] and PASSWORD not in warnings[0]


def test_wrong_password_falls_back_and_never_shows_it(server, tmp_path, clock):
    warnings = []
    url = 'redis://:wrong-%s@127.0.0.1:%d/0' % (PASSWORD, server.port)
    budget = redis_budget(store_of(server, warnings, clock, url=url), tmp_path, clock)
    assert budget.acquire() == 0.0
    assert len(warnings) == 1 and PASSWORD not in warnings[0] and 'Error' in warnings[0]


def test_server_back_is_used_again_after_the_retry_pause(tmp_path, clock):
    with RedisServer(password=PASSWORD) as srv:
        warnings = []
        store = store_of(srv, warnings, clock)
        budget = redis_budget(store, tmp_path, clock, per_minute=100)
        budget.acquire()
        srv.stop()
        budget.acquire()  # the files
        assert len(warnings) == 1
        srv.start()
        budget.acquire()  # still the files: the server is asked again only after RETRY_SERVER
        clock.advance(_ratelimit_redis.RETRY_SERVER)
        budget.acquire()
        redis = _ratelimit_redis.require_redis()
        calls = redis.Redis.from_url(srv.url).zcard(_ratelimit_redis.KEY_PREFIX + '{%s}:calls' % KEY)
        assert calls == 1  # the one call after the server came back (a restarted server keeps nothing)


def test_settle_moves_a_late_answer_to_the_server_now(server, redis_client, tmp_path, clock):
    budget = redis_budget(store_of(server, [], clock), tmp_path, clock, per_minute=10)
    budget.acquire()
    name = _ratelimit_redis.KEY_PREFIX + '{%s}:calls' % KEY
    (member, recorded), = redis_client.zrange(name, 0, -1, withscores=True)
    budget.settle()  # answered at once: within the guard, the record stays
    assert redis_client.zscore(name, member) == recorded
    budget.acquire()
    (dummy, first), (late, second) = redis_client.zrange(name, 0, -1, withscores=True)
    redis_client.zadd(name, {late: second - 2e6}, xx=True)  # as if its answer came 2 s after the record
    budget.settle()
    assert redis_client.zscore(name, late) > second - 1e6 and redis_client.zcard(name) == 2
