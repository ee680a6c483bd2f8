# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""POST /api/machines/{id}/tags: add and remove one tag, the Machine in the answer, errors."""

from __future__ import annotations

from conftest import error_code

WEB = "7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a"


def _tags(api):
    resp = api.get("/api/machines/%s" % WEB)
    assert resp.status_code == 200, resp.text
    return resp.json()["machineTags"]


def test_add_and_remove(api, ctl):
    before = _tags(api)
    resp = api.post("/api/machines/%s/tags" % WEB, {"Value": "INC-4711", "Action": "Add"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] == WEB and body["@odata.context"].endswith("#Machines/$entity")
    assert body["machineTags"] == before + ["INC-4711"] == _tags(api)
    # adding again keeps one copy; tags compare case-sensitively
    api.post("/api/machines/%s/tags" % WEB, {"Value": "INC-4711", "Action": "Add"})
    api.post("/api/machines/%s/tags" % WEB, {"Value": "inc-4711", "Action": "Remove"})
    assert _tags(api) == before + ["INC-4711"]
    resp = api.post("/api/machines/%s/tags" % WEB, {"Value": "INC-4711", "Action": "Remove"})
    assert resp.status_code == 200 and resp.json()["machineTags"] == before
    state = [m for m in ctl.state()["machines"] if m["id"] == WEB][0]
    assert state["machineTags"] == before
    ops = [r["api"] for r in ctl.requests(host="api")["requests"] if r["method"] == "POST"]
    assert ops == ["machine_tags"] * 4


def _fails(resp, status, code=None):
    assert resp.status_code == status, resp.text
    if code:
        assert error_code(resp) == code


def test_errors(api, readonly_api):
    path = "/api/machines/%s/tags" % WEB
    _fails(api.post(path, {"Value": "x", "Action": "Toggle"}), 400, "InvalidRequestBody")
    _fails(api.post(path, {"value": "x", "Action": "Add"}), 400)
    _fails(api.post(path, {"Action": "Add"}), 400)
    _fails(api.post("/api/machines/%s/tags" % ("0" * 40), {"Value": "x", "Action": "Add"}), 404, "ResourceNotFound")
    _fails(readonly_api.post(path, {"Value": "x", "Action": "Add"}), 403, "Forbidden")


def test_gateway_error_after_the_tag_was_applied(api, ctl):
    """An ``error`` fault with ``process`` answers the 5xx after applying the POST (a gateway timing out on a
    service that did the work); without ``process`` nothing changes."""
    before = _tags(api)
    ctl.add_faults({"api": "machine_tags", "kind": "error", "status": 504, "process": True},
                   {"api": "machine_tags", "kind": "error", "status": 503})
    resp = api.post("/api/machines/%s/tags" % WEB, {"Value": "INC-1", "Action": "Add"})
    assert resp.status_code == 504 and error_code(resp) == "GatewayTimeout"
    assert _tags(api) == before + ["INC-1"]
    resp = api.post("/api/machines/%s/tags" % WEB, {"Value": "INC-1", "Action": "Remove"})
    assert resp.status_code == 503
    assert _tags(api) == before + ["INC-1"]
    log = [r for r in ctl.requests(host="api")["requests"] if r["api"] == "machine_tags"]
    assert [(r["status"], r["fault"]) for r in log[-2:]] == [(504, "error"), (503, "error")]
