# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Control API (control host): reset, request log, state, entities, faults, config, app roles, tokens, clock."""

from __future__ import annotations

import json
import re

from . import federation
from .seeds import get_seed
from .state import StateError
from . import storage
from .util import json_response

FAULT_KINDS = ("status", "throttle", "error", "html", "reset", "drop", "stall", "delay", "expire_token",
               "finalize_on_cancel", "truncate", "finalize")


def _error(status, message):
    return json_response(status, {"error": message})


def _body(req):
    if not req.body.strip():
        return {}
    data = json.loads(req.body.decode("utf-8"))
    return data


def _validate_fault(rule):
    if not isinstance(rule, dict):
        raise StateError("a fault must be an object")
    if rule.get("kind") not in FAULT_KINDS:
        raise StateError("fault kind must be one of %s" % ", ".join(FAULT_KINDS))
    if rule.get("host", "api") not in ("api", "login", "storage"):
        raise StateError("fault host must be api, login or storage")
    for key in ("skip", "times"):
        if key in rule and (isinstance(rule[key], bool) or not isinstance(rule[key], int) or rule[key] < 0):
            raise StateError("fault %s must be an integer >= 0" % key)
    if rule.get("path_regex"):
        try:
            re.compile(rule["path_regex"])
        except re.error as exc:
            raise StateError("bad path_regex: %s" % exc) from exc
    if rule["kind"] in ("stall", "delay") and not isinstance(rule.get("seconds", 0), (int, float)):
        raise StateError("seconds must be a number")
    return rule


def handle(emu, req):  # pylint: disable=too-many-return-statements,too-many-branches
    path, method = req.path.rstrip("/"), req.method
    try:
        if path == "/control/health" and method == "GET":
            return json_response(200, {"ok": True})
        if path.startswith("/control/federation/"):
            answer = federation.control(emu, req, path, method, lambda: _body(req))
            if answer is not None:
                return answer
        if path == "/control/reset" and method == "POST":
            body = _body(req)
            emu.reset(get_seed(body.get("seed", "demo")), realign_clock=body.get("realign_clock") is True)
            return json_response(200, {"ok": True})
        if path == "/control/requests" and method == "GET":
            since = int(req.query.get("since") or 0)
            entries, last = emu.state.get_requests(since, req.query.get("host"))
            return json_response(200, {"requests": entries, "last_seq": last})
        if path == "/control/state" and method == "GET":
            emu.state.advance()
            return json_response(200, {"machines": emu.state.list_machines(with_state=True)[0],
                                       "actions": emu.state.all_actions(), "emulated_now": emu.clock.now()})
        match = re.match(r"^/control/actions/([^/]+)/results$", path)
        if match and method == "GET":
            action = emu.state.get_action(match.group(1))
            return json_response(200, {"results": storage.expected_results(action)}) if action else _error(404, "no such action")
        match = re.match(r"^/control/actions/([^/]+)$", path)
        if match and method == "GET":
            action = emu.state.get_action(match.group(1))
            return json_response(200, action) if action else _error(404, "no such action")
        if path == "/control/actions" and method == "POST":
            return json_response(201, emu.add_action(_body(req)))
        if path == "/control/machines" and method == "POST":
            return json_response(201, emu.add_machine(_body(req)))
        if path == "/control/faults":
            if method == "POST":
                data = _body(req)
                rules = data.get("faults") if isinstance(data, dict) else None
                if not isinstance(rules, list):
                    raise StateError("body must be {\"faults\": [...]}")
                return json_response(200, {"ids": emu.state.add_faults([_validate_fault(r) for r in rules])})
            if method == "GET":
                return json_response(200, {"faults": emu.state.list_faults()})
            if method == "DELETE":
                emu.state.clear_faults()
                return json_response(200, {"ok": True})
        match = re.match(r"^/control/faults/(\d+)$", path)
        if match and method == "DELETE":
            removed = emu.state.remove_fault(int(match.group(1)))
            return json_response(200, {"ok": True}) if removed else _error(404, "no such fault")
        if path == "/control/config":
            if method == "POST":
                return json_response(200, emu.state.update_config(_body(req)))
            if method == "GET":
                return json_response(200, emu.state.get_config())
        match = re.match(r"^/control/apps/([^/]+)/roles$", path)
        if match and method in ("GET", "POST"):
            data = _body(req) if method == "POST" else {}
            grant, revoke = data.get("grant") or [], data.get("revoke") or []
            if not isinstance(grant, list) or not isinstance(revoke, list):
                raise StateError("grant and revoke must be lists of role names")
            return json_response(200, {"app": match.group(1),
                                       "roles": emu.change_app_roles(match.group(1), grant, revoke)})
        if path == "/control/tokens/expire" and method == "POST":
            return json_response(200, {"expired": emu.state.expire_tokens()})
        if path == "/control/tokens" and method == "GET":
            return json_response(200, {"tokens": emu.state.list_tokens()})
        if path == "/control/clock":
            if method == "POST":
                advance = _body(req).get("advance", 0)
                if isinstance(advance, bool) or not isinstance(advance, (int, float)) or advance < 0:
                    raise StateError("advance must be a number of emulated seconds >= 0")
                emu.clock.advance(advance)
            return json_response(200, {"emulated_now": emu.clock.now(), "time_scale": emu.clock.time_scale})
    except (StateError, ValueError, TypeError, KeyError) as exc:
        return _error(400, str(exc))
    return _error(404, "unknown control endpoint %s %s" % (method, path))
