# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Machine actions, machines, filters, paging, cancel, life cycles, duplicates, downloads."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile

import pytest
import requests

from conftest import error_code

WEB = "7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a"
LT = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"
DB = "4b8e1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b"
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
ACTION_KEYS = ["@odata.context", "id", "type", "title", "requestor", "requestorComment", "status", "machineId",
               "computerDnsName", "creationDateTimeUtc", "lastUpdateDateTimeUtc", "cancellationRequestor",
               "cancellationComment", "cancellationDateTimeUtc", "errorHResult", "scope", "externalId",
               "requestSource", "relatedFileInfo", "commands", "troubleshootInfo"]


def _values(resp):
    assert resp.status_code == 200, resp.text
    return resp.json()["value"]


@pytest.mark.parametrize("flt,check", [
    ("status eq 'Pending'", lambda a: a["status"] == "Pending"),
    ("Status eq 'Succeeded' and Type eq 'RunAntiVirusScan'", lambda a: (a["status"], a["type"]) == (
        "Succeeded", "RunAntiVirusScan")),
    ("type eq 'Isolate' or type eq 'Unisolate'", lambda a: a["type"] in ("Isolate", "Unisolate")),
    ("status in ('Pending', 'InProgress')", lambda a: a["status"] in ("Pending", "InProgress")),
    ("startswith(requestor, 'Analyst')", lambda a: a["requestor"].startswith("Analyst")),
    ("machineId eq '%s'" % LT, lambda a: a["machineId"] == LT),
])
def test_action_filters(api, flt, check):
    values = _values(api.get("/api/machineactions", params={"$filter": flt}))
    assert values and all(check(a) for a in values)
    everything = _values(api.get("/api/machineactions"))
    assert len(values) == len([a for a in everything if check(a)])


def test_datetime_filter_and_order(api):
    everything = _values(api.get("/api/machineactions"))
    stamps = [a["creationDateTimeUtc"] for a in everything]
    assert stamps == sorted(stamps, reverse=True)
    assert all(TS_RE.match(s) for s in stamps)
    pivot = stamps[len(stamps) // 2]
    newer = _values(api.get("/api/machineactions", params={"$filter": "creationDateTimeUtc ge %s" % pivot}))
    assert [a["creationDateTimeUtc"] for a in newer] == [s for s in stamps if s >= pivot]
    older = _values(api.get("/api/machineactions", params={"$filter": "CreationDateTimeUtc lt %s" % pivot[:10]}))
    assert all(a["creationDateTimeUtc"][:10] < pivot[:10] for a in older)


def test_machine_filters(api):
    assert {m["id"] for m in _values(api.get("/api/machines", params={
        "$filter": "machineTags/any(tag: tag eq 'prod')"}))} == {WEB, DB}
    assert [m["id"] for m in _values(api.get("/api/machines", params={
        "$filter": "startswith(computerDnsName,'web-')"}))] == [WEB]
    assert len(_values(api.get("/api/machines", params={"$filter": "HealthStatus ne 'Active'"}))) == 2
    assert len(_values(api.get("/api/machines", params={"$filter": "lastSeen gt 2025-05-14T00:00:00Z"}))) == 2
    assert len(_values(api.get("/api/machines", params={"$filter": "rbacGroupId eq 140"}))) == 2
    resp = api.get("/api/machines/%s" % WEB)
    assert resp.json()["computerDnsName"] == "web-prod-01.contoso.com"
    assert api.get("/api/machines/ffffffffffffffffffffffffffffffffffffffff").status_code == 404


@pytest.mark.parametrize("path,flt", [
    ("/api/machineactions", "status eq"),
    ("/api/machineactions", "computerDnsName eq 'x'"),
    ("/api/machines", "rbacGroupName eq 'Laptops'"),
    ("/api/machines", "firstSeen gt 2025-01-01T00:00:00Z"),
])
def test_bad_filter(api, path, flt):
    resp = api.get(path, params={"$filter": flt})
    assert resp.status_code == 400 and error_code(resp) == "ODataError"


def test_paging(api, ctl):
    everything = _values(api.get("/api/machineactions"))
    pages = []
    for skip in range(0, len(everything), 4):
        pages += _values(api.get("/api/machineactions", params={"$top": 4, "$skip": skip}))
    assert [a["id"] for a in pages] == [a["id"] for a in everything]
    resp = api.get("/api/machineactions", params={"$top": 10001})
    assert resp.status_code == 400 and error_code(resp) == "ODataError"
    ctl.set_config(max_page_size=5, emit_next_link=True)
    body = api.get("/api/machineactions").json()
    assert len(body["value"]) == 5
    collected = list(body["value"])
    while "@odata.nextLink" in body:
        body = requests.get(body["@odata.nextLink"], headers={"Authorization": api.session.headers.get(
            "Authorization") or "Bearer " + api.token}, verify=api.settings["ca_path"]).json()
        collected += body["value"]
    assert [a["id"] for a in collected] == [a["id"] for a in everything]


def test_launch_shape_lifecycle_and_state(api, ctl):
    resp = api.post("/api/machines/%s/isolate" % WEB, {"Comment": "Isolate due to alert 1", "IsolationType": "Full"})
    assert resp.status_code == 201, resp.text
    action = resp.json()
    assert list(action) == ACTION_KEYS
    assert action["status"] == "Pending" and action["scope"] == "Full" and action["requestSource"] == "PublicApi"
    assert action["requestor"] == api.settings["apps"]["default"]["display_name"]
    assert TS_RE.match(action["creationDateTimeUtc"])
    ctl.advance_clock(31)
    assert api.get("/api/machineactions/%s" % action["id"]).json()["status"] == "InProgress"
    ctl.advance_clock(60)
    done = api.get("/api/machineactions/%s" % action["id"]).json()
    assert done["status"] == "Succeeded" and done["lastUpdateDateTimeUtc"] > done["creationDateTimeUtc"]
    machine = [m for m in ctl.state()["machines"] if m["id"] == WEB][0]
    assert machine["_state"]["isolated"] is True


@pytest.mark.parametrize("verb,body,code", [
    ("isolate", {"comment": "lower case key"}, "InvalidRequestBody"),
    ("isolate", {"IsolationType": "Full"}, "MissingRequiredParameter"),
    ("isolate", {"Comment": "x", "IsolationType": "Partial"}, "InvalidRequestBody"),
    ("runAntiVirusScan", {"Comment": "x"}, "MissingRequiredParameter"),
    ("runAntiVirusScan", {"Comment": "x", "ScanType": "Deep"}, "InvalidRequestBody"),
    ("StopAndQuarantineFile", {"Comment": "x", "Sha1": "abc"}, "InvalidHashValue"),
    ("runliveresponse", {"Comment": "x", "Commands": [{"type": "Format", "params": []}]}, "InvalidRequestBody"),
    ("runliveresponse", {"Comment": "x", "Commands": [{"type": "GetFile", "params": []}]}, "MissingRequiredParameter"),
])
def test_body_validation(api, verb, body, code):
    resp = api.post("/api/machines/%s/%s" % (WEB, verb), body)
    assert resp.status_code == 400 and error_code(resp) == code, resp.text


def test_platform_and_unknown_machine(api):
    resp = api.post("/api/machines/%s/offboard" % DB, {"Comment": "bye"})
    assert resp.status_code == 400 and error_code(resp) == "OsPlatformNotSupported"
    resp = api.post("/api/machines/%s/offboard" % ("0" * 40), {"Comment": "bye"})
    assert resp.status_code == 404 and error_code(resp) == "ResourceNotFound"
    resp = api.post("/api/machines/%s/offboard" % WEB, {"Comment": "bye"})
    assert resp.status_code == 201 and resp.json()["type"] == "Offboard"


def test_stop_and_quarantine_and_scan(api):
    resp = api.post("/api/machines/%s/StopAndQuarantineFile" % WEB,
                    {"Comment": "q", "Sha1": "87662bc3d60e4200ceaf7aae249d1c343f4b83c9"})
    assert resp.status_code == 201
    assert resp.json()["relatedFileInfo"] == {"fileIdentifier": "87662bc3d60e4200ceaf7aae249d1c343f4b83c9",
                                              "fileIdentifierType": "Sha1"}
    resp = api.post("/api/machines/%s/runAntiVirusScan" % WEB, {"Comment": "s", "ScanType": "Quick"})
    assert resp.status_code == 201 and resp.json()["scope"] == "Quick"


def test_cancel(api, ctl):
    created = api.post("/api/machines/%s/unisolate" % WEB, {"Comment": "release"}).json()
    resp = api.post("/api/machineactions/%s/cancel" % created["id"], {"Comment": "changed my mind"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["id"] == created["id"] and body["status"] == "Cancelled"
    assert body["cancellationComment"] == "changed my mind" and body["cancellationRequestor"] == created["requestor"]
    assert TS_RE.match(body["cancellationDateTimeUtc"])
    resp = api.post("/api/machineactions/%s/cancel" % created["id"], {"Comment": "again"})
    assert resp.status_code == 400 and error_code(resp) == "BadRequest"
    resp = api.post("/api/machineactions/00000000-0000-0000-0000-000000000000/cancel", {"Comment": "x"})
    assert resp.status_code == 404 and error_code(resp) == "ResourceNotFound"
    assert ctl.action(created["id"])["status"] == "Cancelled"


def test_duplicates(api, ctl):
    first = api.post("/api/machines/%s/runAntiVirusScan" % WEB, {"Comment": "a", "ScanType": "Quick"}).json()
    resp = api.post("/api/machines/%s/runAntiVirusScan" % WEB, {"Comment": "b", "ScanType": "Quick"})
    assert resp.status_code == 400 and error_code(resp) == "ActiveRequestAlreadyExists"
    assert resp.json()["error"]["message"] == "Action is already in progress"
    ctl.set_config(duplicate_behaviour="return_existing")
    resp = api.post("/api/machines/%s/runAntiVirusScan" % WEB, {"Comment": "c", "ScanType": "Quick"})
    assert resp.status_code == 201 and resp.json()["id"] == first["id"]
    ctl.set_config(duplicate_behaviour="new_stuck")
    resp = api.post("/api/machines/%s/runAntiVirusScan" % WEB, {"Comment": "d", "ScanType": "Quick"})
    assert resp.status_code == 201 and resp.json()["id"] != first["id"]
    ctl.advance_clock(100000)
    assert api.get("/api/machineactions/%s" % resp.json()["id"]).json()["status"] == "Pending"
    assert api.get("/api/machineactions/%s" % first["id"]).json()["status"] == "Succeeded"


def test_offline_machine_stays_pending(api, ctl):
    offline = "9a04c2e7b5d1f3a6c8e0b2d4f6a8c0e2b4d6f8a1"
    created = api.post("/api/machines/%s/restrictCodeExecution" % offline, {"Comment": "r"}).json()
    ctl.add_action({"machineId": WEB, "type": "Offboard", "status": "Pending",
                    "lifecycle": {"pending": 1, "in_progress": 1, "final": "Failed"}})
    ctl.advance_clock(100000)
    assert api.get("/api/machineactions/%s" % created["id"]).json()["status"] == "Pending"
    failed = api.get("/api/machineactions", params={"$filter": "type eq 'Offboard' and status eq 'Failed'"}).json()
    assert failed["value"]


def test_package_and_storage(api, ctl, settings):
    created = api.post("/api/machines/%s/collectInvestigationPackage" % WEB, {"Comment": "collect"}).json()
    resp = api.post("/api/machines/%s/collectInvestigationPackage" % WEB, {"Comment": "collect again"})
    assert resp.status_code == 400
    resp = api.get("/api/machineactions/%s/getPackageUri" % created["id"])
    assert resp.status_code == 404
    ctl.advance_clock(200)
    resp = api.get("/api/machineactions/%s/GetPackageUri" % created["id"])
    assert resp.status_code == 200, resp.text
    url = resp.json()["value"]
    assert url.startswith(settings["storage_url"])
    refused = requests.get(url, headers={"Authorization": "Bearer " + api.token}, verify=settings["ca_path"])
    assert refused.status_code == 403
    data = requests.get(url, verify=settings["ca_path"])
    assert data.status_code == 200
    assert "README.txt" in zipfile.ZipFile(io.BytesIO(data.content)).namelist()
    ctl.advance_clock(1801)
    assert requests.get(url, verify=settings["ca_path"]).status_code == 403


def test_live_response(api, ctl, settings):
    body = {"Comment": "lr", "Commands": [
        {"type": "PutFile", "params": [{"key": "FileName", "value": "minidump.ps1"}]},
        {"type": "RunScript", "params": [{"key": "ScriptName", "value": "minidump.ps1"},
                                         {"key": "Args", "value": "OfficeClickToRun"}]},
        {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\windows\\TEMP\\x.zip"}]}]}
    created = api.post("/api/machines/%s/runliveresponse" % WEB, body)
    assert created.status_code == 201
    action = created.json()
    assert [c["commandStatus"] for c in action["commands"]] == ["Created"] * 3
    again = api.post("/api/machines/%s/runliveresponse" % WEB, body)
    assert again.status_code == 400 and error_code(again) == "ActiveRequestAlreadyExists"
    ctl.advance_clock(200)
    action = api.get("/api/machineactions/%s" % action["id"]).json()
    assert [c["commandStatus"] for c in action["commands"]] == ["Completed"] * 3
    assert api.get("/api/machineactions/%s/GetLiveResponseResultDownloadLink(index=0)" % action["id"]).status_code == 400
    link = api.get("/api/machineactions/%s/GetLiveResponseResultDownloadLink(index=1)" % action["id"]).json()["value"]
    transcript = requests.get(link, verify=settings["ca_path"]).json()
    assert set(transcript) == {"script_name", "exit_code", "script_output", "script_errors"}
    link = api.get("/api/machineactions/%s/GetLiveResponseResultDownloadLink(index=2)" % action["id"]).json()["value"]
    assert requests.get(link, verify=settings["ca_path"]).status_code == 200


def test_v1_prefix_and_unknown_path(api):
    assert api.get("/api/v1.0/machineactions?$top=1").status_code == 200
    resp = api.get("/api/nothing")
    assert resp.status_code == 404 and "error" in resp.json()


@pytest.mark.parametrize("reset", [True, False])
def test_storage_faults_and_expected_results(api, ctl, settings, reset):
    created = api.post("/api/machines/%s/collectInvestigationPackage" % WEB, {"Comment": "collect"}).json()
    ctl.advance_clock(200)
    url = api.get("/api/machineactions/%s/getPackageUri" % created["id"]).json()["value"]
    expected = ctl.results(created["id"])
    assert [r["index"] for r in expected] == [None]
    # a download cut short: the Content-Length promises more than arrives, then the connection breaks
    ctl.add_faults({"host": "storage", "kind": "truncate", "reset": reset},
                   {"host": "storage", "kind": "error", "status": 503})
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, verify=settings["ca_path"]).raise_for_status()
    busy = requests.get(url, verify=settings["ca_path"])
    assert busy.status_code == 503 and "<Code>ServerBusy</Code>" in busy.text
    whole = requests.get(url, verify=settings["ca_path"])
    assert whole.status_code == 200
    assert hashlib.sha256(whole.content).hexdigest() == expected[0]["sha256"] and len(whole.content) == expected[0]["size"]
    assert [e["fault"] for e in ctl.requests(host="storage")["requests"]] == ["truncate", "error", None]
