# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""The one transport/retry policy of the collection and its one retry loop.

``CALL_POLICIES`` says, for each kind of call (read, idempotent write, launch, login, link,
storage), what a failed attempt may be tried again for; ``retry_loop`` (here) runs the attempts,
at most ``max_retries`` more, each wait at most ``max_wait`` and all the waits of one call at
most ``(max_retries + 1) * max_wait`` (``CallWaits``), sleeping only through the injected
``sleep``. The callers are ``_http.MdeClient.request`` (API calls), ``_http.MdeClient.download``
(storage) and the token fetch of ``_auth`` (login).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import math
import random
from email.utils import parsedate_tz, mktime_tz

from ansible_collections.defender.endpoint.plugins.module_utils._errors import join_sentences

# The server errors that may pass when tried again, for API and login calls alike; a 429 is
# retried by every kind of call (the server refused it unprocessed).
RETRY_STATUSES = (500, 502, 503, 504)
THROTTLED = 429


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


class CallPolicy:
    """What one kind of call retries. How often and how long is the same for every kind: at most
    ``max_retries`` retries, each wait at most ``max_wait``, all of them at most
    ``(max_retries + 1) * max_wait`` (options of every module).

    ``statuses``: the answers tried again (a 429 always is). ``after_sending``: whether a request
    that may have reached the server (read timeout, connection broken after sending, a body cut
    short) is sent again; a request that never left (connection refused, connect timeout) always
    is. ``not_found_polls``: how many times a link call is asked while it answers 404 (the link
    is not ready yet), ``poll_interval`` apart. ``relink_statuses``: storage answers that make
    the caller ask for a fresh link, ``relinks`` times at most.
    """

    def __init__(self, name, statuses=RETRY_STATUSES, after_sending=True, not_found_polls=1, relink_statuses=(), relinks=0):
        self.name = name
        self.statuses = tuple(statuses)
        self.after_sending = after_sending
        self.not_found_polls = not_found_polls
        self.relink_statuses = tuple(relink_statuses)
        self.relinks = relinks

    def retries(self, status=None, sent=True):
        """Whether a failed attempt is tried again: ``status`` of the answer (None: none came), ``sent``
        False when the request never left."""
        if status == THROTTLED or not sent:
            return True
        if status is None:
            return self.after_sending
        return status in self.statuses

    def failure(self, err, status=None, sent=True, delay=None):
        """The exception a failed attempt raises: ``err`` itself when it is final for this kind of call,
        else a RetryableError for ``retry_loop`` (``delay``: what the server asked for)."""
        if self.retries(status, sent):
            return RetryableError(err, delay)
        return err


# The table: every request the collection sends is one of these kinds.
CALL_POLICIES = {
    # GET of the API: everything that may pass is tried again
    'read': CallPolicy('read'),
    # a POST whose repetition changes nothing (cancel): as a read
    'idempotent_write': CallPolicy('idempotent_write'),
    # a launching POST: never sent twice once it may have arrived (the action it may have created is
    # looked for instead, _launch); only 429 and a request that never left are retried
    'launch': CallPolicy('launch', statuses=(), after_sending=False),
    # the token request to Entra ID (discovery GET and token POST): as the API's reads
    'login': CallPolicy('login'),
    # a download-link call (package URI, live response result): a read, asked up to 3 times while it
    # answers 404 right after the action succeeded
    'link': CallPolicy('link', not_found_polls=3),
    # the download from the storage host the link points to: as a read (a body cut short included);
    # a 403 (the short-lived link expired) asks for a fresh link once
    'storage': CallPolicy('storage', relink_statuses=(403,), relinks=1),
}


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


def retry_loop(attempt, max_retries, max_wait, sleep, waits=None):
    """Run ``attempt(n)`` until it returns, retrying on RetryableError (which attempts raise through
    their kind's ``CallPolicy.failure``).

    The only retry loop of the collection. Every wait is bounded by ``max_wait``: a server
    asking for longer fails at once with a message naming the bound; retries are bounded by
    ``max_retries``; so a call takes at most (max_retries + 1) requests and max_retries waits.
    All the waits of the call (these, and the rate budget's, which ``attempt`` spends through
    the same ``waits``) add up to at most (max_retries + 1) * max_wait (``CallWaits``), slept
    through ``sleep`` (the caller's injected one).
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
                err.msg = join_sentences(err.msg, 'Gave up after %d attempt(s) (max_retries=%d).' % (retry + 1, max_retries))
                err.args = (err.msg,)
                raise err
            delay = exc.delay if exc.delay is not None else backoff_delay(retry, cap=max_wait)
            if delay > max_wait:
                err.msg = join_sentences(err.msg, 'The server asked to wait %.0f s before retrying, more than max_wait=%s s; '
                                                  'run again later or raise max_wait.' % (delay, max_wait))
                err.args = (err.msg,)
                raise err
            if not waits.fits(delay):
                err.msg = join_sentences(err.msg, 'Gave up after %d attempt(s): this call has waited %.0f s, and waiting %.0f s more '
                                                  'before retrying would pass %s; run again later or raise max_wait or max_retries.' % (
                                                      retry + 1, waits.waited, delay, waits.bound()))
                err.args = (err.msg,)
                raise err
            waits.sleep(delay)
            retry += 1
