# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Emulated MDE API (api host): machine actions, launch endpoints, machines, download links."""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from urllib.parse import quote, urlencode

from .odata import FilterError
from .state import FINAL_STATUSES
from .util import json_response, mde_error, parse_ts

READ = ["Machine.Read.All", "Machine.ReadWrite.All"]
CANCEL_ROLES = ["Machine.CollectForensics", "Machine.Isolate", "Machine.RestrictExecution", "Machine.Scan",
                "Machine.Offboard", "Machine.StopAndQuarantine", "Machine.LiveResponse"]
# verb path segment (lower case) -> (operation, action type, required roles)
LAUNCHES = {
    "isolate": ("isolate", "Isolate", ["Machine.Isolate"]),
    "unisolate": ("unisolate", "Unisolate", ["Machine.Isolate"]),
    "restrictcodeexecution": ("restrict_code_execution", "RestrictCodeExecution", ["Machine.RestrictExecution"]),
    "unrestrictcodeexecution": ("unrestrict_code_execution", "UnrestrictCodeExecution", ["Machine.RestrictExecution"]),
    "runantivirusscan": ("run_antivirus_scan", "RunAntiVirusScan", ["Machine.Scan"]),
    "collectinvestigationpackage": ("collect_investigation_package", "CollectInvestigationPackage",
                                    ["Machine.CollectForensics"]),
    "offboard": ("offboard", "Offboard", ["Machine.Offboard"]),
    "stopandquarantinefile": ("stop_and_quarantine_file", "StopAndQuarantineFile",
                              ["Machine.StopAndQuarantine", "Machine.Read.All", "Machine.ReadWrite.All"]),
    "runliveresponse": ("run_live_response", "LiveResponse", ["Machine.LiveResponse"]),
}
NON_WINDOWS = ("linux", "macos", "mac", "ios", "android")
# action types a platform cannot run (the prerequisites Microsoft documents for each machine action)
WINDOWS_ONLY = ("Offboard", "RestrictCodeExecution", "UnrestrictCodeExecution", "StopAndQuarantineFile")
RE_PREFIX = re.compile(r"^/api(?:/v1\.0)?(?=/|$)", re.IGNORECASE)
RE_LR_LINK = re.compile(r"^GetLiveResponseResultDownloadLink\(index=(-?\d+)\)$", re.IGNORECASE)
RE_FINDBYIP = re.compile(r"^findbyip\(ip='([^']*)',timestamp=([^)]*)\)$", re.IGNORECASE)
MAX_TOP = 10000


class Route(object):  # pylint: disable=too-few-public-methods
    def __init__(self, op, method, handler, roles, **params):
        self.op, self.method, self.handler, self.roles, self.params = op, method, handler, roles, params


def route(path):
    """Route of an api-host path, or None (404)."""
    match = RE_PREFIX.match(path)
    if not match:
        return None
    parts = [p for p in path[match.end():].split("/") if p != ""]
    if not parts:
        return None
    head = parts[0].lower()
    if head == "machineactions":
        if len(parts) == 1:
            return Route("list_actions", "GET", list_actions, READ)
        action_id = parts[1]
        if len(parts) == 2:
            return Route("get_action", "GET", get_action, READ, action_id=action_id)
        if len(parts) == 3:
            tail = parts[2]
            if tail.lower() == "cancel":
                return Route("cancel_action", "POST", cancel_action, CANCEL_ROLES, action_id=action_id)
            if tail.lower() == "getpackageuri":
                return Route("get_package_uri", "GET", get_package_uri, READ, action_id=action_id)
            lr_match = RE_LR_LINK.match(tail)
            if lr_match:
                return Route("get_live_response_result", "GET", get_live_response_result, READ, action_id=action_id,
                             index=int(lr_match.group(1)))
        return None
    if head == "machines":
        if len(parts) == 1:
            return Route("list_machines", "GET", list_machines, READ)
        if len(parts) == 2:
            ip_match = RE_FINDBYIP.match(parts[1])
            if ip_match:
                return Route("find_machines_by_ip", "GET", find_machines_by_ip, READ, ip=ip_match.group(1),
                             timestamp=ip_match.group(2))
            if parts[1].lower() == "findbytag":
                return Route("find_machines_by_tag", "GET", find_machines_by_tag, READ)
            return Route("get_machine", "GET", get_machine, READ, machine_id=parts[1])
        if len(parts) == 3:
            verb = parts[2].lower()
            if verb == "tags":
                return Route("machine_tags", "POST", machine_tags, ["Machine.ReadWrite.All"], machine_id=parts[1])
            if verb in LAUNCHES:
                op, action_type, roles = LAUNCHES[verb]
                return Route(op, "POST", launch, roles, machine_id=parts[1], action_type=action_type)
    return None


# ---------------------------------------------------------------------------------------------- helpers
def _context(emu, suffix):
    return "%s/api/$metadata#%s" % (emu.api_url, suffix)


def _entity(emu, action):
    out = {"@odata.context": _context(emu, "MachineActions/$entity")}
    out.update(action)
    return out


def _odata_error(message):
    return mde_error(400, "ODataError", message)


def _int_option(req, name):
    raw = req.query.get(name)
    if raw is None:
        return None
    if not re.match(r"^\s*\d+\s*$", raw):
        raise FilterError("Invalid value '%s' for query option '%s': a non-negative integer is expected." % (raw, name))
    return int(raw)


def _paged(emu, req, lister, context_suffix):
    """Shared $filter/$top/$skip handling for the two list calls."""
    unknown = [k for k in req.query if k.startswith("$") and k.lower() not in ("$filter", "$top", "$skip")]
    if unknown:
        return _odata_error("Query option '%s' is not supported." % unknown[0])
    try:
        top = _int_option(req, "$top")
        skip = _int_option(req, "$skip") or 0
        if top is not None and top > MAX_TOP:
            raise FilterError("The limit of '%d' for Top query has been exceeded. The value from the incoming request "
                              "is '%d'." % (MAX_TOP, top))
        page_size = emu.state.get_config()["max_page_size"]
        limit = page_size if top is None else min(top, page_size)
        items, total = lister(req.query.get("$filter"), skip, limit)
    except FilterError as exc:
        return _odata_error(str(exc))
    body = {"@odata.context": _context(emu, context_suffix), "value": items}
    wanted = total - skip if top is None else min(top, total - skip)
    if emu.state.get_config()["emit_next_link"] and len(items) < wanted and len(items) == page_size:
        query = {}
        if req.query.get("$filter"):
            query["$filter"] = req.query["$filter"]
        if top is not None:
            query["$top"] = str(top - len(items))
        query["$skip"] = str(skip + len(items))
        body["@odata.nextLink"] = "%s%s?%s" % (emu.api_url, req.path, urlencode(query, quote_via=quote, safe="$'(),"))
    return json_response(200, body)


def _action_or_404(emu, action_id):
    action = emu.state.get_action(action_id)
    if action is None:
        return None, mde_error(404, "ResourceNotFound", "Machine action %s was not found" % action_id)
    return action, None


def _machine_or_404(emu, machine_id):
    machine = emu.state.get_machine(machine_id)
    if machine is None:
        return None, mde_error(404, "ResourceNotFound", "Machine %s was not found" % machine_id)
    return machine, None


def _json_body(req):
    """(dict, None) or (None, error response)."""
    if not req.body.strip():
        return {}, None
    try:
        body = json.loads(req.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None, mde_error(400, "InvalidRequestBody", "Request body is incorrect")
    if not isinstance(body, dict):
        return None, mde_error(400, "InvalidRequestBody", "Request body is incorrect")
    return body, None


# ---------------------------------------------------------------------------------------------- actions
def list_actions(emu, req, _route, _claims):
    return _paged(emu, req, emu.state.list_actions, "MachineActions")


def get_action(emu, _req, rte, _claims):
    action, error = _action_or_404(emu, rte.params["action_id"])
    return error or json_response(200, _entity(emu, action))


def cancel_action(emu, req, rte, claims):
    body, error = _json_body(req)
    if error:
        return error
    comment = body.get("Comment")
    if comment is not None and not isinstance(comment, str):
        return mde_error(400, "InvalidRequestBody", "Request body is incorrect")
    action, problem = emu.state.cancel_action(rte.params["action_id"], emu.app_display_name(claims), comment)
    if problem == "not_found":
        return mde_error(404, "ResourceNotFound", "Machine action %s was not found" % rte.params["action_id"])
    if problem == "final":
        return mde_error(400, "BadRequest", "Machine action %s is in a final state (%s) and cannot be cancelled"
                         % (action["id"], action["status"]))
    return json_response(200, _entity(emu, action))


def get_package_uri(emu, _req, rte, _claims):
    action, error = _action_or_404(emu, rte.params["action_id"])
    if error:
        return error
    if action["type"] != "CollectInvestigationPackage":
        return mde_error(400, "InvalidInput", "Machine action %s is not a CollectInvestigationPackage action"
                         % action["id"])
    if action["status"] != "Succeeded":
        return mde_error(404, "ResourceNotFound", "Investigation package for machine action %s was not found"
                         % action["id"])
    token, sig, expires = emu.state.new_download("package", action["id"])
    url = "%s/packages/%s.zip?%s" % (emu.storage_url, token, _sas(expires, sig))
    return json_response(200, {"@odata.context": _context(emu, "Edm.String"), "value": url})


def _sas(expires, sig):
    stamp = datetime.datetime.fromtimestamp(int(expires), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return urlencode({"se": stamp, "sp": "r", "sv": "2019-07-07", "sr": "b", "sig": sig})


def get_live_response_result(emu, _req, rte, _claims):
    action, error = _action_or_404(emu, rte.params["action_id"])
    if error:
        return error
    if action["type"] != "LiveResponse":
        return mde_error(400, "InvalidInput", "Machine action %s is not a LiveResponse action" % action["id"])
    index = rte.params["index"]
    commands = action.get("commands") or []
    if index < 0 or index >= len(commands):
        return mde_error(400, "InvalidInput", "Command index %d does not exist in machine action %s"
                         % (index, action["id"]))
    command = commands[index]
    if command["command"]["type"] == "PutFile":
        return mde_error(400, "BadRequest", "Command %d is a PutFile command, which has no result" % index)
    if command.get("commandStatus") != "Completed":
        return mde_error(404, "ResourceNotFound", "Result of command %d of machine action %s was not found"
                         % (index, action["id"]))
    token, sig, expires = emu.state.new_download("liveresponse", action["id"], index)
    url = "%s/investigation-actions-data/%s/CustomPlaybookCommandOutput/%s?%s" % (
        emu.storage_url, action["id"], token, _sas(expires, sig))
    return json_response(200, {"@odata.context": _context(emu, "Edm.String"), "value": url})


# ---------------------------------------------------------------------------------------------- launches
def _bad_body(message="Request body is incorrect"):
    return mde_error(400, "InvalidRequestBody", message)


def _missing(name):
    return mde_error(400, "MissingRequiredParameter", "Parameter %s is missing" % name)


def _check_keys(body, required, optional):
    """Key names are case-sensitive: a wrongly cased known key -> InvalidRequestBody; missing -> Missing..."""
    known = {k.lower(): k for k in list(required) + list(optional)}
    for key in body:
        canonical = known.get(key.lower())
        if canonical is not None and canonical != key:
            return _bad_body("Request body is incorrect: unknown parameter '%s' (parameter names are case-sensitive; "
                             "expected '%s')" % (key, canonical))
    for key in required:
        if body.get(key) is None or (isinstance(body.get(key), str) and not body[key].strip()):
            return _missing(key)
    for key in list(required) + list(optional):
        if key in body and body[key] is not None and key != "Commands" and not isinstance(body[key], str):
            return _bad_body("Request body is incorrect: parameter '%s' must be a string" % key)
    return None


LR_PARAMS = {"PutFile": (["FileName"], []), "RunScript": (["ScriptName"], ["Args"]), "GetFile": (["Path"], [])}


def _validate_commands(commands):
    if not isinstance(commands, list) or not commands:
        return None, _bad_body("Request body is incorrect: Commands must be a non-empty list")
    out = []
    for idx, cmd in enumerate(commands):
        if not isinstance(cmd, dict) or set(cmd) - {"type", "params"} or "type" not in cmd:
            return None, _bad_body("Request body is incorrect: command %d must be {\"type\", \"params\"}" % idx)
        ctype = cmd["type"]
        if ctype not in LR_PARAMS:
            return None, _bad_body("Request body is incorrect: command type '%s' is not allowed (PutFile, RunScript, "
                                   "GetFile)" % ctype)
        params = cmd.get("params") or []
        if not isinstance(params, list) or not all(
                isinstance(p, dict) and set(p) == {"key", "value"} and isinstance(p["key"], str) for p in params):
            return None, _bad_body("Request body is incorrect: params of command %d must be [{\"key\", \"value\"}]"
                                   % idx)
        required, optional = LR_PARAMS[ctype]
        keys = [p["key"] for p in params]
        for key in keys:
            if key not in required + optional:
                return None, _bad_body("Request body is incorrect: parameter '%s' is not valid for %s" % (key, ctype))
        for key in required:
            if key not in keys or not str([p["value"] for p in params if p["key"] == key][0] or "").strip():
                return None, _missing(key)
        out.append({"index": idx, "startTime": None, "endTime": None, "commandStatus": "Created", "errors": [],
                    "command": {"type": ctype, "params": [{"key": p["key"], "value": p["value"]} for p in params]}})
    return out, None


def _already(message="Action is already in progress"):
    return mde_error(400, "ActiveRequestAlreadyExists", message)


def launch(emu, req, rte, claims):  # pylint: disable=too-many-return-statements,too-many-branches,too-many-locals
    action_type = rte.params["action_type"]
    body, error = _json_body(req)
    if error:
        return error
    optional = {"Isolate": ["IsolationType"]}.get(action_type, [])
    required = {"RunAntiVirusScan": ["Comment", "ScanType"], "StopAndQuarantineFile": ["Comment", "Sha1"],
                "LiveResponse": ["Comment", "Commands"]}.get(action_type, ["Comment"])
    error = _check_keys(body, required, optional)
    if error:
        return error
    machine, error = _machine_or_404(emu, rte.params["machine_id"])
    if error:
        return error
    scope, related, commands = None, None, []
    if action_type == "Isolate":
        scope = body.get("IsolationType") or "Full"
        if scope not in ("Full", "Selective", "UnManagedDevice"):
            return _bad_body("Request body is incorrect: IsolationType '%s' is not valid (Full, Selective, "
                             "UnManagedDevice)" % scope)
    elif action_type == "RunAntiVirusScan":
        scope = body["ScanType"]
        if scope not in ("Quick", "Full"):
            return _bad_body("Request body is incorrect: ScanType '%s' is not valid (Quick, Full)" % scope)
    elif action_type == "StopAndQuarantineFile":
        if not re.match(r"^[0-9a-fA-F]{40}$", body["Sha1"]):
            return mde_error(400, "InvalidHashValue", "Invalid hash value '%s': a SHA-1 hash (40 hexadecimal "
                             "characters) is required" % body["Sha1"])
        related = {"fileIdentifier": body["Sha1"].lower(), "fileIdentifierType": "Sha1"}
    elif action_type == "LiveResponse":
        commands, error = _validate_commands(body["Commands"])
        if error:
            return error
    platform = (machine.get("osPlatform") or "").lower()
    if platform.startswith(NON_WINDOWS) and (action_type in WINDOWS_ONLY or scope == "Selective"):
        return mde_error(400, "OsPlatformNotSupported", "OS Platform %s isn't supported for this action"
                         % machine.get("osPlatform"))
    lifecycle = None
    with emu.state.lock:
        active = emu.state.active_actions(machine["id"], action_type)
        if active:
            if action_type in ("LiveResponse", "CollectInvestigationPackage"):
                return _already()
            behaviour = emu.state.get_config()["duplicate_behaviour"]
            if behaviour == "return_existing":
                return json_response(201, _entity(emu, active[0]))
            if behaviour == "error":
                return _already()
            lifecycle = {"pending": None, "in_progress": None, "final": None}
        if action_type == "LiveResponse":
            if emu.state.count_active("LiveResponse") >= emu.state.get_config()["live_response_max_sessions"]:
                return mde_error(429, "TooManyRequests", "The maximum number of concurrent live response sessions "
                                 "has been reached.", headers={"Retry-After": "60"})
        data = {"machineId": machine["id"], "type": action_type, "status": "Pending",
                "requestor": emu.app_display_name(claims), "requestorComment": body["Comment"], "scope": scope,
                "relatedFileInfo": related, "commands": commands}
        if lifecycle is not None:
            data["lifecycle"] = lifecycle
        action = emu.add_action(data)
    return json_response(201, _entity(emu, action))


# ---------------------------------------------------------------------------------------------- machines
def _machine_entity(emu, machine):
    out = {"@odata.context": _context(emu, "Machines/$entity")}
    out.update(machine)
    return out


def list_machines(emu, req, _route, _claims):
    if emu.state.count_machines() == 0 and not req.query.get("$filter"):
        return mde_error(404, "ResourceNotFound", "No recent machines were found")
    return _paged(emu, req, emu.state.list_machines, "Machines")


def get_machine(emu, _req, rte, _claims):
    machine, error = _machine_or_404(emu, rte.params["machine_id"])
    return error or json_response(200, _machine_entity(emu, machine))


FINDBYIP_WINDOW = 15 * 60  # the machines seen with the IP during the 15 minutes before and after the timestamp


def _ip_or_none(value):
    try:
        return ipaddress.ip_address((value or "").strip())
    except ValueError:
        return None


def _seen_with_ip(machine, wanted, stamp, now):
    """The emulator keeps no IP history (see README): a machine counts as seen with its lastIpAddress and each of
    its ipAddresses from firstSeen until lastSeen, or until now while its sensor reports (healthStatus Active);
    that period must meet the 15 minutes before and after the timestamp."""
    ips = [a.get("ipAddress") for a in machine.get("ipAddresses") or [] if isinstance(a, dict)] + [machine.get("lastIpAddress")]
    if wanted not in [_ip_or_none(ip) for ip in ips]:
        return False
    try:
        last = parse_ts(machine["lastSeen"]) if machine.get("lastSeen") else None
        first = parse_ts(machine["firstSeen"]) if machine.get("firstSeen") else last
    except ValueError:
        return False
    if last is None:
        return False  # never reported
    if machine.get("healthStatus") == "Active":
        last = max(last, now)
    return first - FINDBYIP_WINDOW <= stamp <= last + FINDBYIP_WINDOW


def find_machines_by_ip(emu, _req, rte, _claims):
    wanted = _ip_or_none(rte.params["ip"])
    if wanted is None:
        return mde_error(400, "InvalidInput", "Invalid IP address '%s'" % rte.params["ip"])
    try:
        stamp = parse_ts(rte.params["timestamp"])
    except ValueError:
        return mde_error(400, "InvalidInput", "Invalid timestamp '%s'" % rte.params["timestamp"])
    now = emu.clock.now()
    if stamp < now - 30 * 86400:
        return mde_error(400, "InvalidInput", "The timestamp must be within the last 30 days")
    found = [m for m in emu.state.list_machines()[0] if _seen_with_ip(m, wanted, stamp, now)]
    return json_response(200, {"@odata.context": _context(emu, "Machines"), "value": found})


def find_machines_by_tag(emu, req, _route, _claims):
    tag = req.query.get("tag")
    if not tag:
        return _missing("tag")
    starts = (req.query.get("useStartsWithFilter") or "false").lower() == "true"
    found = [m for m in emu.state.list_machines()[0]
             if any(t.lower().startswith(tag.lower()) if starts else t.lower() == tag.lower()
                    for t in m.get("machineTags") or [])]
    return json_response(200, {"@odata.context": _context(emu, "Machines"), "value": found})


def machine_tags(emu, req, rte, _claims):
    body, error = _json_body(req)
    if error:
        return error
    error = _check_keys(body, ["Value", "Action"], [])
    if error:
        return error
    if body["Action"] not in ("Add", "Remove"):
        return _bad_body("Request body is incorrect: Action must be Add or Remove")
    machine, error = _machine_or_404(emu, rte.params["machine_id"])
    if error:
        return error
    tags = [t for t in machine.get("machineTags") or [] if t != body["Value"]]
    if body["Action"] == "Add":
        tags.append(body["Value"])
    machine["machineTags"] = tags
    emu.state.upsert_machine(machine)
    return json_response(200, _machine_entity(emu, emu.state.get_machine(machine["id"])))


def not_found(path):
    return mde_error(404, "NotFound", "No HTTP resource was found that matches the request URI '%s'." % path)


def is_final(status):
    return status in FINAL_STATUSES
