# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Seeds: the example machines (reference/examples) and, for "demo", actions in every state.

Four demo actions have fixed IDs because the modules' EXAMPLES name them (tests/ecosystem/test_examples.py
runs those examples against this seed): the running scan on db-prod-02, the pending isolation of the old
lt-0412 record, and the succeeded package collection and live response session whose results can be
downloaded."""

from __future__ import annotations

import copy
import hashlib
import json
import os

_HERE = os.path.dirname(os.path.abspath(__file__))

STUCK = {"pending": None, "in_progress": None, "final": None}
WEB = "7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a"       # web-prod-01, WindowsServer2019, Active
LT = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"        # lt-0412, Windows11, Active
LT_OLD = "9a04c2e7b5d1f3a6c8e0b2d4f6a8c0e2b4d6f8a1"    # lt-0412 (duplicate record), Inactive: offline
DB = "4b8e1d3f5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b"        # db-prod-02, Linux
PRN = "e2c4a6f8b0d1c3e5a7f9b2d4c6e8a0f1b3d5c7e9"       # prn-floor3, CanBeOnboarded: never reports


def _example_machines():
    machines = []
    for name in ("seed_machines_list.json", "seed_machine.json"):
        with open(os.path.join(_HERE, name), encoding="utf-8") as handle:
            data = json.load(handle)
        for machine in data.get("value", [data]):
            machine = {k: v for k, v in machine.items() if not k.startswith("@")}
            if machine["id"] in (LT_OLD, PRN):
                machine["_lifecycle"] = dict(STUCK)
            machines.append(machine)
    return machines


def _demo_actions():
    day = 86400
    return [
        {"machineId": WEB, "type": "Isolate", "status": "Succeeded", "created_ago": 3 * day, "scope": "Full",
         "requestor": "ansible-mde-automation",
         "requestorComment": "Isolate machine due to alert da638412345678901234_-123456789"},
        {"machineId": WEB, "type": "Unisolate", "status": "Succeeded", "created_ago": 2 * day,
         "requestor": "ansible-mde-automation", "requestorComment": "Unisolate machine since it was clean and validated"},
        {"id": "69dc3630-1ccc-4342-acf3-35286eec741d",
         "machineId": WEB, "type": "CollectInvestigationPackage", "status": "Succeeded", "created_ago": 2 * day + 600,
         "requestor": "Analyst@contoso.com", "requestorComment": "Collect forensics due to alert 1234"},
        {"machineId": WEB, "type": "RestrictCodeExecution", "status": "Pending", "created_ago": 60,
         "lifecycle": {"pending": 900, "in_progress": 300, "final": "Succeeded"},
         "requestor": "Analyst@contoso.com", "requestorComment": "Restrict code execution due to alert 1234"},
        {"machineId": LT, "type": "RunAntiVirusScan", "status": "Succeeded", "created_ago": 4 * day, "scope": "Quick",
         "requestor": "Analyst@contoso.com", "requestorComment": "Check machine for viruses due to alert 3212"},
        {"machineId": LT, "type": "RunAntiVirusScan", "status": "Cancelled", "created_ago": day, "scope": "Full",
         "requestor": "ansible-mde-automation", "requestorComment": "Full scan requested by playbook run 4711",
         "cancellationRequestor": "ansible-mde-automation",
         "cancellationComment": "Machine action was canceled by automation"},
        {"machineId": LT, "type": "StopAndQuarantineFile", "status": "Succeeded", "created_ago": day - 3600,
         "requestor": "ansible-mde-automation",
         "requestorComment": "Stop and quarantine file on machine due to alert 441688558380765161_2136280442",
         "relatedFileInfo": {"fileIdentifier": "87662bc3d60e4200ceaf7aae249d1c343f4b83c9",
                             "fileIdentifierType": "Sha1"}},
        {"machineId": LT, "type": "Isolate", "status": "Failed", "created_ago": 6 * 3600, "scope": "Selective",
         "requestor": "Analyst@contoso.com", "requestorComment": "Selective isolation due to alert 1234"},
        {"id": "988cc94e-7a8f-4b28-ab65-54970c5d5018",
         "machineId": LT, "type": "LiveResponse", "status": "Succeeded", "created_ago": 5 * 3600,
         "requestor": "ansible-mde-automation", "requestorComment": "Testing Live Response API",
         "commands": [
             {"type": "RunScript", "params": [{"key": "ScriptName", "value": "minidump.ps1"},
                                              {"key": "Args", "value": "OfficeClickToRun"}]},
             {"type": "GetFile", "params": [{"key": "Path", "value": "C:\\windows\\TEMP\\OfficeClickToRun.dmp.zip"}]},
         ]},
        {"machineId": LT, "type": "CollectInvestigationPackage", "status": "InProgress", "created_ago": 1200,
         "lifecycle": {"pending": 0, "in_progress": 7200, "final": "Succeeded"},
         "requestor": "Analyst@contoso.com", "requestorComment": "Collect forensics due to alert 5678"},
        {"id": "5b7d2f90-4c1e-4e8a-9f3b-2a6c8e0d1f47",
         "machineId": LT_OLD, "type": "Isolate", "status": "Pending", "created_ago": 2 * 3600, "scope": "Full",
         "lifecycle": STUCK, "requestor": "Analyst@contoso.com",
         "requestorComment": "Isolate old laptop record due to alert 9921"},
        {"machineId": LT_OLD, "type": "RunAntiVirusScan", "status": "Pending", "created_ago": 3 * day, "scope": "Quick",
         "lifecycle": STUCK, "requestor": "ansible-mde-automation", "requestorComment": "Weekly quick scan"},
        {"machineId": DB, "type": "RunAntiVirusScan", "status": "TimeOut", "created_ago": 5 * day, "scope": "Full",
         "requestor": "ansible-mde-automation", "requestorComment": "Full scan after patching"},
        {"machineId": DB, "type": "LiveResponse", "status": "Failed", "created_ago": 2 * day, "requestor": "Analyst@contoso.com",
         "requestorComment": "Collect auth log",
         "commands": [{"type": "GetFile", "params": [{"key": "Path", "value": "/var/log/auth.log"}]}]},
        {"id": "3f1c7e22-9b4d-4a55-8e0f-6d2a91c4b708",
         "machineId": DB, "type": "RunAntiVirusScan", "status": "InProgress", "created_ago": 300, "scope": "Quick",
         "lifecycle": {"pending": 0, "in_progress": 1800, "final": "Succeeded"},
         "requestor": "ansible-mde-automation", "requestorComment": "Quick scan due to alert 7781"},
    ]


def _fleet_id(name):
    return hashlib.sha1(name.encode("utf-8")).hexdigest()


# The inventory cases of the fleet seed: (host name, machine overrides, [(action type, status, created hours ago)])
# and the isolation / app-restriction state the rule gives them (newest Pending, InProgress or Succeeded action).
FLEET_CASES = [
    ("iso-isolated", {}, [("Isolate", "Succeeded", 48)]),
    ("iso-released", {}, [("Isolate", "Succeeded", 72), ("Unisolate", "Succeeded", 24)]),
    ("iso-isolating", {}, [("Isolate", "Pending", 2)]),
    ("iso-releasing", {}, [("Isolate", "Succeeded", 30), ("Unisolate", "InProgress", 1)]),
    ("iso-release-failed", {}, [("Isolate", "Succeeded", 30), ("Unisolate", "Failed", 5)]),
    ("iso-cancelled", {}, [("Isolate", "Cancelled", 5), ("Isolate", "TimeOut", 50)]),
    ("rst-restricted", {}, [("RestrictCodeExecution", "Succeeded", 10)]),
    ("rst-unrestricting", {}, [("RestrictCodeExecution", "Succeeded", 10), ("UnrestrictCodeExecution", "Pending", 1)]),
    ("both-restricting", {}, [("Isolate", "Succeeded", 20), ("RestrictCodeExecution", "InProgress", 1)]),
    ("lnx-01", {"osPlatform": "Linux", "version": "22.04", "osBuild": None, "machineTags": ["inventory-case", "linux"]}, []),
    # three records of one re-onboarded device: the newest keeps the name; the oldest is still isolated
    ("reimaged-01", {"lastSeen": "2026-11-28T10:00:00.0000000Z", "healthStatus": "Active"}, []),
    ("reimaged-01#2", {"lastSeen": "2026-09-01T10:00:00.0000000Z", "healthStatus": "Inactive"}, []),
    ("reimaged-01#3", {"lastSeen": "2026-06-01T10:00:00.0000000Z", "healthStatus": "Inactive",
                       "isPotentialDuplication": True}, [("Isolate", "Succeeded", 3000)]),
    ("no-name", {"computerDnsName": None, "onboardingStatus": "CanBeOnboarded", "healthStatus": "Unknown"}, []),
]
_FLEET_OS = ["Windows11", "WindowsServer2019", "WindowsServer2022", "Linux", "Windows10"]
_FLEET_HEALTH = ["Active", "Active", "Active", "Inactive", "ImpairedCommunication"]
_FLEET_RISK = ["None", "Low", "Medium", "High", "Informational"]
_FLEET_TAGS = [["finance"], ["hr"], [], ["finance", "INC-4711"], []]


def fleet_seed(count=300):
    """Several hundred machines for the inventory plugin: the FLEET_CASES (tagged inventory-case) and ``count``
    generated fleet-NNN machines (every 40th isolated). Fixed IDs and machine timestamps, so the inventory made
    from it is the same at every run; actions never move on (final, or Pending/InProgress forever)."""
    machines, actions = [], []
    for name, overrides, history in FLEET_CASES:
        dns = name.split("#", maxsplit=1)[0] + ".contoso.com"
        machine = {"id": _fleet_id(name), "computerDnsName": dns, "firstSeen": "2026-01-05T08:00:00.0000000Z",
                   "lastSeen": "2026-11-27T08:00:00.0000000Z", "osPlatform": "Windows11", "lastIpAddress": "10.1.0.%d" % (
                       len(machines) + 10), "rbacGroupId": 140, "rbacGroupName": "Finance", "riskScore": "Medium",
                   "exposureLevel": "Medium", "machineTags": ["inventory-case"], "agentVersion": "10.8760.22631.4391"}
        machine.update(overrides)
        machines.append(machine)
        for action_type, status, hours in history:
            action = {"machineId": machine["id"], "type": action_type, "status": status, "created_ago": hours * 3600,
                      "lifecycle": dict(STUCK), "requestor": "Analyst@contoso.com",
                      "requestorComment": "%s on %s (inventory case)" % (action_type, name)}
            if action_type == "Isolate":
                action["scope"] = "Full"
            actions.append(action)
    for index in range(count):
        name = "fleet-%03d" % index
        machine = {"id": _fleet_id(name), "computerDnsName": name + ".contoso.com",
                   "firstSeen": "2026-01-05T08:00:00.0000000Z",
                   "lastSeen": "2026-11-%02dT%02d:00:00.0000000Z" % (1 + index % 28, index % 24),
                   "osPlatform": _FLEET_OS[index % 5], "healthStatus": _FLEET_HEALTH[index % 5],
                   "riskScore": _FLEET_RISK[index % 5], "exposureLevel": ["Low", "Medium", "High"][index % 3],
                   "lastIpAddress": "10.2.%d.%d" % (index // 250, index % 250 + 1), "rbacGroupId": 140 + index % 3,
                   "rbacGroupName": ["Finance", "HR", "Servers"][index % 3], "machineTags": list(_FLEET_TAGS[index % 5]),
                   "agentVersion": "10.8760.22631.4391"}
        machines.append(machine)
        if index % 40 == 7:
            actions.append({"machineId": machine["id"], "type": "Isolate", "status": "Succeeded", "created_ago": 3600 + index,
                            "scope": "Full", "lifecycle": dict(STUCK), "requestor": "Analyst@contoso.com",
                            "requestorComment": "Isolate %s (fleet)" % name})
    return {"machines": machines, "actions": actions}


def get_seed(name):
    """Return the seed dict {"machines": [...], "actions": [...]} for demo, empty, fleet (fleet:N for N generated
    machines), a JSON path or a dict."""
    if isinstance(name, dict):
        return copy.deepcopy(name)
    if isinstance(name, str) and (name == "fleet" or name.startswith("fleet:")):
        return fleet_seed(int(name.split(":", 1)[1]) if ":" in name else 300)
    if name in (None, "demo"):
        return {"machines": _example_machines(), "actions": _demo_actions()}
    if name == "empty":
        return {"machines": _example_machines(), "actions": []}
    with open(name, encoding="utf-8") as handle:
        return json.load(handle)
