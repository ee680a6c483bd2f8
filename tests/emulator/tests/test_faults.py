# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rate limits, fault rules, request log and redaction."""

from __future__ import annotations

import json

import pytest
import requests

from conftest import error_code

WEB = "7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a"


def test_rate_limit(api, ctl):
    ctl.set_config(rate_limits={"get_machine": {"per_minute": 1000, "per_hour": 3}})
    for _call in range(3):
        assert api.get("/api/machines/%s" % WEB).status_code == 200
    resp = api.get("/api/machines/%s" % WEB)
    assert resp.status_code == 429 and error_code(resp) == "TooManyRequests"
    retry = int(resp.headers["Retry-After"])
    assert 1 <= retry <= 3600 // 60 + 1
    assert api.get("/api/machines").status_code == 200  # other operations have their own window
    ctl.set_config(rate_limits={"enforce": False})
    assert api.get("/api/machines/%s" % WEB).status_code == 200


def test_status_throttle_error_html(api, ctl):
    ctl.add_faults({"api": "get_machine", "kind": "status", "status": 418, "body": {"teapot": True},
                    "headers": {"X-Test": "1"}},
                   {"api": "get_machine", "kind": "throttle", "retry_after": 7},
                   {"api": "get_machine", "kind": "throttle", "retry_after": "http-date", "retry_after_seconds": 5},
                   {"api": "get_machine", "kind": "error", "status": 503},
                   {"api": "get_machine", "kind": "html"})
    resp = api.get("/api/machines/%s" % WEB)
    assert resp.status_code == 418 and resp.json() == {"teapot": True} and resp.headers["X-Test"] == "1"
    resp = api.get("/api/machines/%s" % WEB)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    resp = api.get("/api/machines/%s" % WEB)
    assert resp.status_code == 429 and resp.headers["Retry-After"].endswith("GMT")
    resp = api.get("/api/machines/%s" % WEB)
    assert resp.status_code == 503 and "error" in resp.json()
    resp = api.get("/api/machines/%s" % WEB)
    assert resp.status_code == 502 and resp.headers["Content-Type"].startswith("text/html")
    assert api.get("/api/machines/%s" % WEB).status_code == 200
    log = ctl.requests(host="api")["requests"]
    assert [e["fault"] for e in log[-6:]] == ["status", "throttle", "throttle", "error", "html", None]


def test_skip_and_forever(api, ctl):
    ctl.add_faults({"api": "list_machines", "kind": "error", "skip": 1, "times": 0})
    assert api.get("/api/machines").status_code == 200
    assert api.get("/api/machines").status_code == 500
    assert api.get("/api/machines").status_code == 500
    assert ctl.faults()[0]["remaining"] is None
    ctl.clear_faults()
    assert api.get("/api/machines").status_code == 200


def test_remove_one_fault(api, ctl):
    first, second = ctl.add_faults({"api": "list_machines", "kind": "error", "times": 0},
                                   {"api": "get_machine", "kind": "error", "status": 503, "times": 0})
    ctl.remove_fault(first)
    assert api.get("/api/machines").status_code == 200
    assert api.get("/api/machines/%s" % WEB).status_code == 503
    assert [f["id"] for f in ctl.faults()] == [second]
    with pytest.raises(Exception, match="404"):
        ctl.remove_fault(first)


@pytest.mark.parametrize("kind,exc", [
    ("reset", requests.exceptions.ConnectionError),
    ("drop", requests.exceptions.ConnectionError),
])
def test_socket_faults(api, ctl, kind, exc):
    ctl.add_faults({"api": "list_actions", "kind": kind})
    with pytest.raises(exc):
        api.get("/api/machineactions")
    assert api.get("/api/machineactions").status_code == 200
    entry = [e for e in ctl.requests(host="api")["requests"] if e["fault"] == kind][-1]
    assert entry["status"] is None


def test_stall(api, ctl):
    ctl.add_faults({"api": "list_actions", "kind": "stall", "seconds": 3})
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.get("/api/machineactions", timeout=0.5)


def test_drop_after_processing_creates_action(api, ctl):
    ctl.add_faults({"api": "isolate", "kind": "drop", "process": True})
    with pytest.raises(requests.exceptions.ConnectionError):
        api.post("/api/machines/%s/isolate" % WEB, {"Comment": "lost", "IsolationType": "Full"})
    found = api.get("/api/machineactions", params={
        "$filter": "machineId eq '%s' and type eq 'Isolate' and status eq 'Pending'" % WEB}).json()["value"]
    assert [a["requestorComment"] for a in found] == ["lost"]


def test_delay_and_expire_token(api, ctl):
    ctl.add_faults({"api": "get_machine", "kind": "delay", "seconds": 0.2},
                   {"api": "get_machine", "kind": "expire_token"})
    assert api.get("/api/machines/%s" % WEB).status_code == 200
    resp = api.get("/api/machines/%s" % WEB)
    assert resp.status_code == 401 and error_code(resp) == "Unauthorized"


def test_finalize_on_cancel(api, ctl):
    created = api.post("/api/machines/%s/runAntiVirusScan" % WEB, {"Comment": "s", "ScanType": "Full"}).json()
    ctl.add_faults({"api": "cancel_action", "kind": "finalize_on_cancel", "final_status": "Succeeded"})
    resp = api.post("/api/machineactions/%s/cancel" % created["id"], {"Comment": "too late"})
    assert resp.status_code == 400 and error_code(resp) == "BadRequest"
    assert api.get("/api/machineactions/%s" % created["id"]).json()["status"] == "Succeeded"


def test_finalize_at_a_chosen_poll(api, ctl):
    """An action held Pending (machine life cycle pending: null) ends at the poll a finalize rule picks with skip."""
    ctl.set_config(machine_lifecycles={WEB: {"pending": None, "in_progress": None, "final": "Succeeded"}})
    created = api.post("/api/machines/%s/runAntiVirusScan" % WEB, {"Comment": "held", "ScanType": "Quick"}).json()
    ctl.add_faults({"api": "get_action", "kind": "finalize", "skip": 2, "times": 1})
    statuses = [api.get("/api/machineactions/%s" % created["id"]).json()["status"] for dummy in range(4)]
    assert statuses == ["Pending", "Pending", "Succeeded", "Succeeded"]


def test_login_faults(settings, ctl):
    ctl.add_faults({"host": "login", "api": "token", "kind": "throttle", "retry_after": 3})
    app = settings["apps"]["default"]
    resp = requests.post("%s/%s/oauth2/v2.0/token" % (settings["authority_host"], settings["tenant_id"]),
                         data={"grant_type": "client_credentials", "client_id": app["client_id"],
                               "client_secret": app["client_secret"], "scope": settings["scope"]},
                         verify=settings["ca_path"])
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"


def test_request_log_redaction(api, ctl, settings):
    since = ctl.requests()["last_seq"]
    app = settings["apps"]["default"]
    requests.post("%s/%s/oauth2/v2.0/token" % (settings["authority_host"], settings["tenant_id"]),
                  data={"grant_type": "client_credentials", "client_id": app["client_id"],
                        "client_secret": app["client_secret"], "scope": settings["scope"]},
                  verify=settings["ca_path"], headers={"User-Agent": "redaction-test"})
    api.post("/api/machines/%s/isolate" % WEB, {"Comment": "logged", "IsolationType": "Full"})
    log = ctl.requests(since=since)
    raw = json.dumps(log)
    assert app["client_secret"] not in raw
    assert api.token not in raw
    login = [e for e in log["requests"] if e["host"] == "login"][0]
    assert login["body"]["client_secret"] == "<redacted>" and login["api"] == "token"
    assert login["client_id"] == app["client_id"] and login["user_agent"] == "redaction-test"
    launch = [e for e in log["requests"] if e["api"] == "isolate"][0]
    assert launch["body"] == {"Comment": "logged", "IsolationType": "Full"}
    assert launch["status"] == 201 and launch["authorization"] is True and launch["client_id"] == app["client_id"]
    assert log["last_seq"] >= launch["seq"]
