# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GET /api/machines/findbyip(ip='..',timestamp=..): the machines seen with an IP in the 15 minutes around a time."""

from __future__ import annotations

import datetime
import time

from conftest import error_code

WEB = "7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a"
LT = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"
LT_OLD = "9a04c2e7b5d1f3a6c8e0b2d4f6a8c0e2b4d6f8a1"


def _stamp(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _find(api, ip, epoch=None, stamp=None):
    return api.get("/api/machines/findbyip(ip='%s',timestamp=%s)" % (ip, stamp or _stamp(epoch)))


def _ids(resp):
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["@odata.context"].endswith("/api/$metadata#Machines")
    return [m["id"] for m in body["value"]]


def test_an_active_machine_is_found_by_each_of_its_addresses(api, ctl):
    now = ctl.clock()["emulated_now"]
    assert _ids(_find(api, "10.20.30.41", now)) == [WEB]
    assert _ids(_find(api, "FE80:0:0:0:8d2c:41a7:3b9e:17f0", now - 5 * 86400)) == [WEB]  # IPv6, compared as an address
    resp = _find(api, "10.20.30.41", now)
    assert set(resp.json()["value"][0]) >= {"id", "computerDnsName", "lastIpAddress", "ipAddresses", "lastSeen"}
    assert _ids(_find(api, "10.20.30.42", now)) == []
    # lt-0412: the Active record's address is found; the Inactive one was last seen in 2024 with another address
    assert _ids(_find(api, "192.168.12.203", now)) == [LT]
    assert _ids(_find(api, "192.168.12.188", now)) == []


def test_the_window_is_15_minutes_around_the_timestamp(api, ctl):
    now = ctl.clock()["emulated_now"]
    first, last = now - 20 * 86400, now - 10 * 86400
    ctl.add_machine({"id": "ab" * 20, "computerDnsName": "gone.contoso.com", "healthStatus": "Inactive",
                     "lastIpAddress": "10.9.9.9", "ipAddresses": [{"ipAddress": "10.9.9.10", "type": "Ethernet"}],
                     "firstSeen": _stamp(first), "lastSeen": _stamp(last)})
    for ip in ("10.9.9.9", "10.9.9.10"):
        assert _ids(_find(api, ip, last + 14 * 60)) == ["ab" * 20]
        assert _ids(_find(api, ip, first - 14 * 60)) == ["ab" * 20]
        assert _ids(_find(api, ip, last - 86400)) == ["ab" * 20]
        assert _ids(_find(api, ip, last + 16 * 60)) == []
        assert _ids(_find(api, ip, first - 16 * 60)) == []


def test_bad_timestamps_and_addresses_are_400(api, ctl):
    now = ctl.clock()["emulated_now"]
    resp = _find(api, "10.20.30.41", now - 31 * 86400)
    assert resp.status_code == 400 and error_code(resp) == "InvalidInput" and "30 days" in resp.text
    resp = _find(api, "10.20.30.41", stamp="yesterday")
    assert resp.status_code == 400 and error_code(resp) == "InvalidInput"
    resp = _find(api, "10.20.30.400", now)
    assert resp.status_code == 400 and error_code(resp) == "InvalidInput"


def test_never_seen_and_read_only_apps(readonly_api, ctl):
    now = ctl.clock()["emulated_now"]
    ctl.add_machine({"id": "cd" * 20, "lastIpAddress": "10.8.8.8", "lastSeen": None, "healthStatus": "Active"})
    assert _ids(_find(readonly_api, "10.8.8.8", now)) == []  # never reported, and the read role suffices
    log = [r for r in ctl.log(0) if r["host"] == "api"]
    assert log[-1]["api"] == "find_machines_by_ip"


def test_a_reset_can_realign_the_clock_with_real_time(api, ctl):
    """After the emulated clock ran 40 days ahead, real now is outside the 30 days; a realigning reset fixes that."""
    ctl.advance_clock(40 * 86400)
    real_now = time.time()
    assert _find(api, "10.20.30.41", real_now).status_code == 400
    ctl.reset("demo", realign_clock=True)
    assert _ids(_find(api, "10.20.30.41", real_now)) == [WEB]
