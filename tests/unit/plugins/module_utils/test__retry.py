# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from email.utils import formatdate

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _retry
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError

NOW = 1700000000.0


@pytest.mark.parametrize('value, expected', [
    ('7', 7.0),
    (' 30 ', 30.0),
    (0, 0.0),
    ('0', 0.0),
    ('2.5', 2.5),
    (12, 12.0),
])
def test_parse_retry_after_delta_seconds(value, expected):
    assert _retry.parse_retry_after(value, NOW) == expected


def test_parse_retry_after_future_http_date():
    value = formatdate(NOW + 120, usegmt=True)
    assert _retry.parse_retry_after(value, NOW) == pytest.approx(120.0)


def test_parse_retry_after_http_date_with_offset():
    # Same instant written with a +0100 zone: still 45 s from now.
    value = formatdate(NOW + 45 + 3600, localtime=False).replace('-0000', '+0100')
    assert _retry.parse_retry_after(value, NOW) == pytest.approx(45.0)


def test_parse_retry_after_past_http_date_is_zero():
    value = formatdate(NOW - 600, usegmt=True)
    assert _retry.parse_retry_after(value, NOW) == 0.0


@pytest.mark.parametrize('value', [None, '', '   ', 'soon', '-5', '-0.5', 'nan', 'Mon, 99 Foo 2025 99:99:99 GMT', 'inf', '1e400'])
def test_parse_retry_after_unreadable_is_none(value):
    assert _retry.parse_retry_after(value, NOW) is None


@pytest.mark.parametrize('attempt', range(0, 10))
@pytest.mark.parametrize('rand_value', [0.0, 0.25, 0.5, 0.999999])
def test_backoff_delay_between_half_and_full_capped_step(attempt, rand_value):
    base, cap = 1.0, 20.0
    step = min(cap, base * 2 ** attempt)
    delay = _retry.backoff_delay(attempt, base=base, cap=cap, rand=lambda: rand_value)
    assert step / 2.0 <= delay <= step
    assert delay == pytest.approx(step / 2.0 + rand_value * step / 2.0)


def test_backoff_delay_is_never_zero_and_never_above_cap():
    delays = [_retry.backoff_delay(n, base=0.5, cap=3.0, rand=lambda: 0.0) for n in range(12)]
    assert min(delays) > 0
    assert max(_retry.backoff_delay(n, base=0.5, cap=3.0, rand=lambda: 1.0) for n in range(12)) <= 3.0
    # exponential until the cap, then flat
    assert delays[:4] == [0.25, 0.5, 1.0, 1.5]
    assert set(delays[4:]) == {1.5}


class Recorder:

    def __init__(self):
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)


def failing_then(n_failures, result='done', delay=None):
    attempts = []

    def attempt(retry):
        attempts.append(retry)
        if len(attempts) <= n_failures:
            raise _retry.RetryableError(MdeError('try %d failed.' % len(attempts), status=503), delay)
        return result
    return attempt, attempts


def test_retry_loop_retries_then_succeeds():
    rec = Recorder()
    attempt, attempts = failing_then(2)
    assert _retry.retry_loop(attempt, max_retries=5, max_wait=10.0, sleep=rec.sleep) == 'done'
    assert attempts == [0, 1, 2]
    assert len(rec.sleeps) == 2


def test_retry_loop_success_needs_no_sleep():
    rec = Recorder()
    attempt, attempts = failing_then(0)
    assert _retry.retry_loop(attempt, 3, 10.0, rec.sleep) == 'done'
    assert attempts == [0]
    assert rec.sleeps == []


def test_retry_loop_gives_up_after_max_retries():
    rec = Recorder()
    attempt, attempts = failing_then(100)
    with pytest.raises(MdeError) as info:
        _retry.retry_loop(attempt, max_retries=3, max_wait=10.0, sleep=rec.sleep)
    assert attempts == [0, 1, 2, 3]
    assert len(rec.sleeps) == 3
    err = info.value
    assert err.msg.startswith('try 4 failed.')
    assert '4 attempt(s)' in err.msg and 'max_retries=3' in err.msg
    assert str(err) == err.msg
    assert err.status == 503


def test_retry_loop_zero_retries_fails_at_once():
    rec = Recorder()
    attempt, attempts = failing_then(1)
    with pytest.raises(MdeError) as info:
        _retry.retry_loop(attempt, max_retries=0, max_wait=10.0, sleep=rec.sleep)
    assert attempts == [0]
    assert rec.sleeps == []
    assert 'max_retries=0' in info.value.msg


def test_retry_loop_refuses_server_wait_longer_than_max_wait():
    rec = Recorder()
    attempt, attempts = failing_then(1, delay=120.0)
    with pytest.raises(MdeError) as info:
        _retry.retry_loop(attempt, max_retries=5, max_wait=30.0, sleep=rec.sleep)
    assert attempts == [0]
    assert rec.sleeps == []
    assert 'max_wait=30' in info.value.msg
    assert '120' in info.value.msg
    assert str(info.value) == info.value.msg


def test_retry_loop_uses_server_delay_when_within_bound():
    rec = Recorder()
    attempt, dummy = failing_then(2, delay=4.5)
    _retry.retry_loop(attempt, 5, 30.0, rec.sleep)
    assert rec.sleeps == [4.5, 4.5]


def test_retry_loop_zero_delay_retries_without_sleeping():
    rec = Recorder()
    attempt, attempts = failing_then(1, delay=0.0)
    _retry.retry_loop(attempt, 5, 30.0, rec.sleep)
    assert attempts == [0, 1]
    assert rec.sleeps == []


def test_retry_loop_backoff_never_sleeps_more_than_max_wait():
    rec = Recorder()
    attempt, attempts = failing_then(1000)
    with pytest.raises(MdeError):
        _retry.retry_loop(attempt, max_retries=40, max_wait=2.5, sleep=rec.sleep)
    assert len(rec.sleeps) == 40
    assert all(0 < s <= 2.5 for s in rec.sleeps)
    # the backoff really grows up to the bound (not a constant tiny wait)
    assert max(rec.sleeps) > 1.25


def test_retry_loop_passes_other_exceptions_through():
    rec = Recorder()

    def attempt(retry):
        raise MdeError('final', status=404)

    with pytest.raises(MdeError) as info:
        _retry.retry_loop(attempt, 5, 10.0, rec.sleep)
    assert info.value.msg == 'final'
    assert rec.sleeps == []


# The policy table: what each kind of call tries again ---------------------------------------

@pytest.mark.parametrize('kind', sorted(_retry.CALL_POLICIES))
def test_every_kind_retries_429_and_requests_that_never_left(kind):
    policy = _retry.CALL_POLICIES[kind]
    assert policy.retries(status=429)
    assert policy.retries(status=None, sent=False)
    assert not policy.retries(status=400) and not policy.retries(status=404) and not policy.retries(status=401)


@pytest.mark.parametrize('kind', ['read', 'idempotent_write', 'login', 'link', 'storage'])
def test_safe_kinds_retry_the_same_server_errors_and_lost_answers(kind):
    policy = _retry.CALL_POLICIES[kind]
    assert [s for s in (500, 501, 502, 503, 504, 505) if policy.retries(status=s)] == [500, 502, 503, 504]
    assert policy.retries(status=None, sent=True)


def test_login_and_api_reads_agree_on_retried_statuses():
    assert _retry.CALL_POLICIES['login'].statuses == _retry.CALL_POLICIES['read'].statuses == _retry.RETRY_STATUSES


def test_a_launch_is_never_sent_again_once_it_may_have_arrived():
    policy = _retry.CALL_POLICIES['launch']
    assert not any(policy.retries(status=s) for s in (500, 502, 503, 504))
    assert not policy.retries(status=None, sent=True)


def test_failure_wraps_only_what_the_kind_retries():
    err = MdeError('busy', status=503)
    wrapped = _retry.CALL_POLICIES['read'].failure(err, status=503, delay=2.0)
    assert isinstance(wrapped, _retry.RetryableError) and wrapped.error is err and wrapped.delay == 2.0
    assert _retry.CALL_POLICIES['launch'].failure(err, status=503) is err


def test_link_and_storage_windows():
    assert _retry.CALL_POLICIES['link'].not_found_polls == 3
    assert _retry.CALL_POLICIES['storage'].relink_statuses == (403,) and _retry.CALL_POLICIES['storage'].relinks == 1
