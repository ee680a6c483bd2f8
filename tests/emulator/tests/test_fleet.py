# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet seed (the inventory plugin's tests): several hundred machines, shared names, every isolation case,
served over the machines list in small pages with next links, and a fault in the middle of the paging."""

from __future__ import annotations

import requests

from mde_emulator.seeds import FLEET_CASES, fleet_seed


def _all_pages(api, path, params=None):
    body = api.get(path, params=params).json()
    pages, items = 1, list(body["value"])
    while "@odata.nextLink" in body:
        resp = requests.get(body["@odata.nextLink"], headers={"Authorization": "Bearer " + api.token},
                            verify=api.settings["ca_path"], timeout=10)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages += 1
        items += body["value"]
    return pages, items


def test_fleet_seed_is_deterministic_and_sized():
    first, again = fleet_seed(20), fleet_seed(20)
    assert [m["id"] for m in first["machines"]] == [m["id"] for m in again["machines"]]
    assert len(first["machines"]) == len(FLEET_CASES) + 20
    assert len(fleet_seed()["machines"]) == len(FLEET_CASES) + 300


def test_fleet_machines_shared_names_and_actions(api, ctl):
    ctl.reset("fleet:30")
    pages, machines = _all_pages(api, "/api/machines", {"$top": 10000})
    assert pages == 1 and len(machines) == len(FLEET_CASES) + 30
    names = [m["computerDnsName"] for m in machines]
    assert names.count("reimaged-01.contoso.com") == 3
    assert any(m["computerDnsName"] is None for m in machines)
    # an isolation stuck Pending stays Pending however long emulated time runs
    isolating = [m["id"] for m in machines if m["computerDnsName"] == "iso-isolating.contoso.com"][0]
    ctl.advance_clock(86400)
    found = api.get("/api/machineactions", params={"$filter": "machineId eq '%s'" % isolating}).json()["value"]
    assert [(a["type"], a["status"]) for a in found] == [("Isolate", "Pending")]
    query = "(type eq 'Isolate' or type eq 'Unisolate') and (status eq 'Pending' or status eq 'Succeeded')"
    states = api.get("/api/machineactions", params={"$filter": query}).json()["value"]
    assert {a["type"] for a in states} == {"Isolate", "Unisolate"}
    assert {a["status"] for a in states} == {"Pending", "Succeeded"}


def test_small_pages_with_next_links_and_a_fault_mid_paging(api, ctl):
    ctl.reset("fleet:100")
    ctl.set_config(max_page_size=25, emit_next_link=True)
    pages, machines = _all_pages(api, "/api/machines", {"$top": 10000})
    assert pages == 5 and len({m["id"] for m in machines}) == len(FLEET_CASES) + 100
    ctl.add_faults({"host": "api", "api": "list_machines", "path_regex": r"\$skip=50", "kind": "error", "status": 503, "times": 0})
    body = api.get("/api/machines", params={"$top": 10000}).json()
    second = requests.get(body["@odata.nextLink"], headers={"Authorization": "Bearer " + api.token},
                          verify=api.settings["ca_path"], timeout=10).json()
    third = requests.get(second["@odata.nextLink"], headers={"Authorization": "Bearer " + api.token},
                         verify=api.settings["ca_path"], timeout=10)
    assert third.status_code == 503 and third.json()["error"]["code"] == "ServiceUnavailable"
