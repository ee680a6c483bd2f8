# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Emulated storage host: serves investigation packages and live response results behind short-lived links."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import zipfile

from .util import Response, new_guid

RE_PACKAGE = re.compile(r"^/packages/([0-9a-f]{32})\.zip$")
RE_LR = re.compile(r"^/investigation-actions-data/([^/]+)/CustomPlaybookCommandOutput/([0-9a-f]{32})$")
TRANSCRIPT_OUTPUT = (
    "Transcript started, output file is C:\\ProgramData\\Microsoft\\Windows Defender Advanced Threat Protection\\"
    "Temp\\PSScriptOutputs\\PSScript_Transcript_{TRANSCRIPT_ID}.txt\n%s\n")


def route(method, path):
    if method not in ("GET", "HEAD"):
        return None
    if RE_PACKAGE.match(path) or RE_LR.match(path):
        return "download"
    return None


def storage_error(status, code, message):
    body = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s\nRequestId:%s\nTime:%s'
            '</Message></Error>' % (code, message, new_guid(), "now"))
    return Response(status, body, headers={"x-ms-error-code": code}, content_type="application/xml")


def package_zip(action):
    """A small, deterministic zip for a CollectInvestigationPackage action."""
    buf = io.BytesIO()
    stamp = (2025, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        files = {
            "README.txt": "Investigation package collected by the MDE emulator.\nMachine: %s (%s)\nAction: %s\n" % (
                action["computerDnsName"], action["machineId"], action["id"]),
            "Processes/processes.csv": "ProcessId,Name\n4,System\n612,lsass.exe\n1280,svchost.exe\n",
            "Network connections/ActiveNetConnections.txt": "Proto Local Address Foreign Address State\n",
            "System Information/SystemInformation.txt": "Host Name: %s\n" % action["computerDnsName"],
        }
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buf.getvalue()


def live_response_result(action, index):
    command = action["commands"][index]["command"]
    params = {p["key"]: p["value"] for p in command.get("params") or []}
    if command["type"] == "RunScript":
        transcript = {"script_name": params.get("ScriptName"), "exit_code": 0,
                      "script_output": TRANSCRIPT_OUTPUT % ("Ran %s %s on %s" % (
                          params.get("ScriptName"), params.get("Args", ""), action["computerDnsName"])).strip(),
                      "script_errors": ""}
        return json.dumps(transcript, indent=2).encode("utf-8"), "application/json"
    content = ("Emulated copy of %s collected from %s by machine action %s\n" % (
        params.get("Path"), action["computerDnsName"], action["id"])).encode("utf-8")
    return content, "application/octet-stream"


def expected_results(action):
    """What the storage host serves for an action: [{index, sha256, size}] (index null for a package)."""
    out = []
    if action["type"] == "CollectInvestigationPackage" and action["status"] == "Succeeded":
        out.append((None, package_zip(action)))
    elif action["type"] == "LiveResponse":
        for index, command in enumerate(action.get("commands") or []):
            if command["command"]["type"] != "PutFile" and command.get("commandStatus") == "Completed":
                out.append((index, live_response_result(action, index)[0]))
    return [{"index": index, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)} for index, body in out]


def download(emu, req):
    if req.headers.get("Authorization"):
        return storage_error(403, "AuthenticationFailed",
                             "Server failed to authenticate the request. A request carrying a shared access signature "
                             "must not carry an Authorization header.")
    match = RE_PACKAGE.match(req.path) or RE_LR.match(req.path)
    token = match.groups()[-1]
    record = emu.state.get_download(token)
    if record is None or not hmac.compare_digest(req.query.get("sig", ""), record["sig"]):
        return storage_error(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the "
                             "value of Authorization header is formed correctly including the signature.")
    if emu.clock.now() > record["expires"]:
        return storage_error(403, "AuthenticationFailed", "Signed expiry time has to be after signed start time "
                             "and the current time; the link has expired.")
    action = emu.state.get_action(record["action_id"])
    if record["kind"] == "package":
        return Response(200, package_zip(action), content_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="WDATP_Investigation_Package.zip"'})
    body, ctype = live_response_result(action, record["index"])
    return Response(200, body, content_type=ctype)
