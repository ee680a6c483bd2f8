# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import multiprocessing
import os
import stat
import time

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _ratelimit
from ansible_collections.defender.endpoint.plugins.module_utils._errors import MdeError

KEY = _ratelimit.budget_key('https://api.mde.test', 'tenant', 'client', 'list_actions')


def budget(folder, clock, per_minute=3, per_hour=1000, max_wait=4000.0, time_scale=1.0, key=KEY, api='list_actions'):
    return _ratelimit.RateBudget(key, api, per_minute, per_hour, max_wait, time_scale=time_scale, folder=str(folder),
                                 clock=clock, sleep=clock.sleep)


def state(folder, key=KEY):
    with open(os.path.join(str(folder), key + '.json')) as handle:
        return json.load(handle)


def test_calls_within_limit_do_not_wait(tmp_path, clock):
    b = budget(tmp_path, clock, per_minute=3)
    start = clock()
    for dummy in range(3):
        assert b.acquire() == 0.0
        clock.advance(1)
    assert clock.sleeps == []
    assert state(tmp_path)['calls'] == [start, start + 1, start + 2]


def test_call_over_minute_limit_waits_for_oldest_to_leave_window(tmp_path, clock):
    b = budget(tmp_path, clock, per_minute=3)
    start = clock()
    for dummy in range(3):
        b.acquire()
        clock.advance(10)
    # now = start + 30; the oldest call (at start) leaves the window at start + 60
    waited = b.acquire()
    assert clock() >= start + 60
    assert sum(clock.sleeps) == pytest.approx(waited)
    assert waited == pytest.approx(30 + _ratelimit.TRANSIT_GUARD, abs=0.1)
    calls = state(tmp_path)['calls']
    assert len(calls) == 4
    assert calls[-1] == clock()
    # never more than 3 calls in any 60 s window
    assert calls[3] - calls[0] >= 60


def test_calls_older_than_the_minute_are_not_counted(tmp_path, clock):
    b = budget(tmp_path, clock, per_minute=2)
    b.acquire()
    b.acquire()
    clock.advance(60 + _ratelimit.TRANSIT_GUARD + 0.01)
    assert b.acquire() == 0.0
    assert clock.sleeps == []


def test_hourly_limit(tmp_path, clock):
    b = budget(tmp_path, clock, per_minute=1000, per_hour=5)
    start = clock()
    for dummy in range(5):
        b.acquire()
        clock.advance(100)
    assert clock.sleeps == []
    b.acquire()
    # the first call (at start) leaves the hour at start + 3600
    assert clock() >= start + 3600
    assert sum(clock.sleeps) == pytest.approx(3600 - 500 + _ratelimit.TRANSIT_GUARD, abs=0.1)
    calls = state(tmp_path)['calls']
    assert calls[0] == start + 100  # the call an hour old is forgotten
    assert len(calls) == 5


def test_pause_makes_next_acquire_wait_also_in_another_budget_object(tmp_path, clock):
    first = budget(tmp_path, clock)
    other = budget(tmp_path, clock)  # another process with the same key
    start = clock()
    first.pause(25)
    assert state(tmp_path)['paused_until'] == start + 25
    waited = other.acquire()
    assert waited == pytest.approx(25, abs=0.1)
    assert clock() >= start + 25
    assert state(tmp_path)['calls'] == [clock()]


def test_pause_never_shortens_an_existing_pause(tmp_path, clock):
    b = budget(tmp_path, clock)
    start = clock()
    b.pause(40)
    b.pause(5)
    assert state(tmp_path)['paused_until'] == start + 40


def test_wait_longer_than_max_wait_fails_and_records_nothing(tmp_path, clock):
    b = budget(tmp_path, clock, per_minute=1, max_wait=10.0)
    b.acquire()
    clock.advance(1)
    with pytest.raises(MdeError) as info:
        b.acquire()
    err = info.value
    assert err.kind == 'timeout'
    assert 'max_wait=10' in err.msg
    assert 'list_actions' in err.msg
    assert clock.sleeps == []
    assert len(state(tmp_path)['calls']) == 1


def test_pause_longer_than_max_wait_fails_naming_429(tmp_path, clock):
    b = budget(tmp_path, clock, max_wait=10.0)
    b.pause(300)
    with pytest.raises(MdeError) as info:
        b.acquire()
    assert info.value.kind == 'timeout'
    assert '429' in info.value.msg and 'max_wait=10' in info.value.msg
    assert clock.sleeps == []
    assert state(tmp_path)['calls'] == []


def test_time_scale_shrinks_windows(tmp_path, clock):
    b = budget(tmp_path, clock, per_minute=2, time_scale=60.0)  # a "minute" of 1 s
    start = clock()
    b.acquire()
    b.acquire()
    waited = b.acquire()
    assert 0 < waited < 2
    assert clock() >= start + 1
    calls = state(tmp_path)['calls']
    assert calls[2] - calls[0] >= 1.0


def test_corrupt_state_file_reads_as_empty(tmp_path, clock):
    path = os.path.join(str(tmp_path), KEY + '.json')
    with open(path, 'w') as handle:
        handle.write('{"calls": [1, 2, ')
    b = budget(tmp_path, clock, per_minute=1)
    assert b.acquire() == 0.0
    assert state(tmp_path)['calls'] == [clock()]


def test_state_files_are_private(tmp_path, clock):
    budget(tmp_path, clock).acquire()
    mode = stat.S_IMODE(os.stat(os.path.join(str(tmp_path), KEY + '.json')).st_mode)
    assert mode == 0o600


def test_default_folder_is_private_under_cache_home(cache_home, clock):
    b = _ratelimit.RateBudget(KEY, 'list_actions', 5, 50, 10.0, clock=clock, sleep=clock.sleep)
    b.acquire()
    folder = os.path.join(str(cache_home), 'defender.endpoint', 'ratelimit')
    assert b.folder == folder
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert os.path.exists(os.path.join(folder, KEY + '.json'))


@pytest.mark.parametrize('api, configured, expected', [
    ('get_action', (None, None), (100, 1500)),
    ('list_actions', (50, 700), (50, 700)),
    ('get_package_uri', (None, None), (2, 120)),
    ('get_package_uri', (300, 5000), (2, 120)),
    ('get_package_uri', (1, 60), (1, 60)),
    ('run_live_response', (None, None), (10, 1500)),
    ('run_live_response', (100, 200), (10, 200)),
])
def test_limits_for(api, configured, expected):
    assert _ratelimit.limits_for(api, *configured) == expected


def test_budget_key_separates_host_tenant_client_and_api():
    base = ('https://api.mde.test', 't', 'c', 'cancel_action')
    keys = {_ratelimit.budget_key(*base)}
    for index in range(4):
        changed = list(base)
        changed[index] = changed[index] + 'x'
        keys.add(_ratelimit.budget_key(*changed))
    assert len(keys) == 5
    assert _ratelimit.budget_key(*base) == _ratelimit.budget_key(*base)


# Several processes sharing one budget -------------------------------------------------------

class RecordingClock:
    """The real clock, remembering the last value it gave (the time acquire() records)."""

    def __init__(self):
        self.last = None

    def __call__(self):
        self.last = time.time()
        return self.last


def _worker(folder, per_minute, time_scale, count, out_path, go):
    clock = RecordingClock()
    b = _ratelimit.RateBudget(KEY, 'list_actions', per_minute, 100000, 60.0, time_scale=time_scale, folder=folder, clock=clock)
    go.wait()
    times = []
    for dummy in range(count):
        b.acquire()
        times.append(clock.last)
    with open(out_path, 'w') as handle:
        json.dump(times, handle)


def test_budget_shared_by_processes_never_exceeds_limit_nor_loses_calls(tmp_path):
    ctx = multiprocessing.get_context('fork')
    per_minute, time_scale, procs, count = 3, 600.0, 6, 5
    minute = 60.0 / time_scale
    hour = 3600.0 / time_scale
    go = ctx.Event()
    outs = [str(tmp_path / ('times-%d.json' % n)) for n in range(procs)]
    workers = [ctx.Process(target=_worker, args=(str(tmp_path), per_minute, time_scale, count, out, go)) for out in outs]
    for proc in workers:
        proc.start()
    go.set()
    for proc in workers:
        proc.join(300)
    assert [proc.exitcode for proc in workers] == [0] * procs

    recorded = []
    for out in outs:
        with open(out) as handle:
            times = json.load(handle)
        assert len(times) == count
        recorded.extend(times)
    recorded.sort()
    assert len(recorded) == procs * count
    assert len(set(recorded)) == len(recorded)
    # any per_minute + 1 consecutive calls span at least a (scaled) minute
    for first, last in zip(recorded, recorded[per_minute:]):
        assert last - first >= minute

    # The state file holds every call of the last (scaled) hour: none lost to a concurrent write.
    calls = state(tmp_path)['calls']
    assert calls == sorted(calls)
    assert calls == [t for t in recorded if recorded[-1] - t < hour]
    assert calls[-1] == recorded[-1]


def test_settled_call_counts_from_its_answer_not_from_its_record(tmp_path, clock):
    # the service counts a call when it arrives; the answer comes after that, so the window runs from the answer
    b = budget(tmp_path, clock, per_minute=1)
    start = clock()
    b.acquire()
    clock.advance(3)  # connection set-up and the service's answer take 3 s
    b.settle()
    assert state(tmp_path)['calls'] == [start + 3]
    waited = b.acquire()
    assert clock() >= start + 3 + 60
    assert waited == pytest.approx(60 + _ratelimit.TRANSIT_GUARD, abs=0.1)


def test_settle_without_a_call_in_flight_changes_nothing(tmp_path, clock):
    b = budget(tmp_path, clock, per_minute=2)
    b.acquire()
    b.settle()
    before = state(tmp_path)
    clock.advance(5)
    b.settle()  # already settled
    assert state(tmp_path) == before


def test_quick_answer_keeps_the_record_without_rewriting_it(tmp_path, clock, monkeypatch):
    b = budget(tmp_path, clock, per_minute=2)
    start = clock()
    b.acquire()
    writes = []
    monkeypatch.setattr(_ratelimit._files, 'write_json_atomic', lambda *args, **kwargs: writes.append(args))
    clock.advance(_ratelimit.TRANSIT_GUARD / 2)  # answered within the guard: the arrival is covered by it
    b.settle()
    assert writes == []
    assert state(tmp_path)['calls'] == [start]
