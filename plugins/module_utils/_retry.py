# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""Pieces of the one retry loop: Retry-After parsing and capped, jittered backoff.

The loop itself lives in ``_http.MdeClient.request``; the token fetch in ``_auth`` goes through
the same client so that one policy governs every request the collection sends.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import random
from email.utils import parsedate_tz, mktime_tz


def parse_retry_after(value, now):
    """Seconds to wait from a ``Retry-After`` header value: delta-seconds or an HTTP date.

    ``now`` is the current epoch time (HTTP dates are absolute). Returns None when the
    value is missing or unreadable, so callers fall back to their own backoff. A date in
    the past gives 0.
    """
    if value is None:
        return None
    value = str(value).strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
            return None
        return seconds
    parsed = parsedate_tz(value)
    if parsed is None:
        return None
    try:
        when = mktime_tz(parsed)
    except (OverflowError, ValueError):
        return None
    return max(0.0, float(when) - now)


def backoff_delay(attempt, base=1.0, cap=60.0, rand=random.random):
    """Delay before retry number ``attempt`` (0-based): exponential, capped, "equal jitter".

    Half of the exponential step is fixed and half is random, so concurrent forks spread out
    without ever retrying immediately (full jitter can pick about 0 s).
    """
    step = min(cap, base * (2 ** attempt))
    return step / 2.0 + rand() * step / 2.0


class RetryableError(Exception):
    """Raised by one attempt of ``retry_loop`` when trying again may succeed.

    ``error`` is the MdeError to raise when no retry is left; ``delay`` is the wait the
    server asked for (Retry-After) or None for the loop's own backoff.
    """

    def __init__(self, error, delay=None):
        super(RetryableError, self).__init__(error.msg)
        self.error = error
        self.delay = delay


def call_wait_limit(max_wait, max_retries):
    """The most one API call may wait in total, in seconds: (max_retries + 1) * max_wait."""
    return (max_retries + 1) * max_wait


class CallWaits:
    """The one bound on the waits of one API call.

    Each wait (a retry's backoff or ``Retry-After``, a wait for the shared rate budget, those of a
    token request the call makes) is at most ``max_wait`` on its own, and all of them together at
    most ``(max_retries + 1) * max_wait``: a wait that would go past either bound is not slept
    through, the call fails at once naming it. Waits go through the injected ``sleep``.
    """

    def __init__(self, max_wait, max_retries, sleep):
        self.max_wait = max_wait
        self.max_retries = max_retries
        self.limit = call_wait_limit(max_wait, max_retries)
        self._sleep = sleep
        self.waited = 0.0

    def fits(self, seconds):
        return self.waited + seconds <= self.limit

    def bound(self):
        return ('the bound of (max_retries + 1) x max_wait = %.0f s of waiting per API call (max_retries=%d, max_wait=%s)'
                % (self.limit, self.max_retries, self.max_wait))

    def sleep(self, seconds):
        if seconds > 0:
            self._sleep(seconds)
            self.waited += seconds


def retry_loop(attempt, max_retries, max_wait, sleep, on_wait=None, waits=None):
    """Run ``attempt(n)`` until it returns, retrying on RetryableError.

    The only retry loop of the collection. Every wait is bounded by ``max_wait``: a server
    asking for longer fails at once with a message naming the bound; retries are bounded by
    ``max_retries``; so a call takes at most (max_retries + 1) requests and max_retries waits.
    All the waits of the call (these, and the rate budget's, which ``attempt`` spends through
    the same ``waits``) add up to at most (max_retries + 1) * max_wait (``CallWaits``).
    ``on_wait(delay, error)`` is told about each wait (for logs and the shared rate budget).
    """
    if waits is None:
        waits = CallWaits(max_wait, max_retries, sleep)
    retry = 0
    while True:
        try:
            return attempt(retry)
        except RetryableError as exc:
            err = exc.error
            if retry >= max_retries:
                err.msg = '%s Gave up after %d attempt(s) (max_retries=%d).' % (err.msg, retry + 1, max_retries)
                err.args = (err.msg,)
                raise err
            delay = exc.delay if exc.delay is not None else backoff_delay(retry, cap=max_wait)
            if delay > max_wait:
                err.msg = '%s The server asked to wait %.0f s before retrying, more than max_wait=%s s; ' \
                          'run again later or raise max_wait.' % (err.msg, delay, max_wait)
                err.args = (err.msg,)
                raise err
            if not waits.fits(delay):
                err.msg = '%s Gave up after %d attempt(s): this call has waited %.0f s, and waiting %.0f s more before retrying ' \
                          'would pass %s; run again later or raise max_wait or max_retries.' % (
                              err.msg, retry + 1, waits.waited, delay, waits.bound())
                err.args = (err.msg,)
                raise err
            if on_wait is not None:
                on_wait(delay, err)
            waits.sleep(delay)
            retry += 1
