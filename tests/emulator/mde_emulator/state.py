# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Emulator state: emulated clock, configuration, machines and actions (sqlite3), life cycles,
rate-limit windows, issued tokens, download links, fault rules and the request log."""

from __future__ import annotations

import collections
import copy
import json
import math
import os
import re
import secrets
import sqlite3
import threading
import time

from .odata import filter_to_sql
from .util import format_ts, format_ts_ms, new_guid, normalize_ts, parse_ts

FINAL_STATUSES = ("Succeeded", "Failed", "TimeOut", "Cancelled")
LIFECYCLE_FINALS = ("Succeeded", "Failed", "TimeOut", None)
ACTION_TYPES = ("RunAntiVirusScan", "Offboard", "LiveResponse", "CollectInvestigationPackage", "Isolate",
                "Unisolate", "StopAndQuarantineFile", "RestrictCodeExecution", "UnrestrictCodeExecution")
ACTION_KEYS = ("id", "type", "title", "requestor", "requestorComment", "status", "machineId", "computerDnsName",
               "creationDateTimeUtc", "lastUpdateDateTimeUtc", "cancellationRequestor", "cancellationComment",
               "cancellationDateTimeUtc", "errorHResult", "scope", "externalId", "requestSource", "relatedFileInfo",
               "commands", "troubleshootInfo")
MACHINE_KEYS = ("id", "mergedIntoMachineId", "isPotentialDuplication", "isExcluded", "exclusionReason",
                "computerDnsName", "firstSeen", "lastSeen", "osPlatform", "osVersion", "osProcessor", "version",
                "lastIpAddress", "lastExternalIpAddress", "agentVersion", "osBuild", "healthStatus", "deviceValue",
                "rbacGroupId", "rbacGroupName", "riskScore", "exposureLevel", "isAadJoined", "aadDeviceId",
                "machineTags", "defenderAvStatus", "onboardingStatus", "osArchitecture", "managedBy",
                "managedByStatus", "ipAddresses", "vmMetadata")
MACHINE_FILTER_COLUMNS = ("computerDnsName", "version", "deviceValue", "aadDeviceId", "lastSeen", "exposureLevel",
                          "onboardingStatus", "lastIpAddress", "healthStatus", "osPlatform", "riskScore", "rbacGroupId")

# Operations of the api host that have their own documented limits; everything else uses "default".
DEFAULT_CONFIG = {
    "rate_limits": {
        "enforce": True,
        "default": {"per_minute": 100, "per_hour": 1500},
        "get_package_uri": {"per_minute": 2, "per_hour": 120},
        "run_live_response": {"per_minute": 10, "per_hour": 1500},
    },
    "token_lifetime": 3599,
    "duplicate_behaviour": "error",
    "default_lifecycle": {"pending": 30, "in_progress": 60, "final": "Succeeded"},
    "machine_lifecycles": {},
    "max_page_size": 10000,
    "emit_next_link": False,
    "live_response_max_sessions": 25,
    "link_lifetime": 1800,
}
DUPLICATE_BEHAVIOURS = ("return_existing", "error", "new_stuck")
STUCK = {"pending": None, "in_progress": None, "final": None}

SCHEMA = """
CREATE TABLE machines (
    id TEXT PRIMARY KEY COLLATE NOCASE,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    computerDnsName TEXT COLLATE NOCASE, version TEXT COLLATE NOCASE, deviceValue TEXT COLLATE NOCASE,
    aadDeviceId TEXT COLLATE NOCASE, lastSeen TEXT, exposureLevel TEXT COLLATE NOCASE,
    onboardingStatus TEXT COLLATE NOCASE, lastIpAddress TEXT COLLATE NOCASE, healthStatus TEXT COLLATE NOCASE,
    osPlatform TEXT COLLATE NOCASE, riskScore TEXT COLLATE NOCASE, rbacGroupId INTEGER,
    isolated INTEGER NOT NULL DEFAULT 0, restricted INTEGER NOT NULL DEFAULT 0, offboarded INTEGER NOT NULL DEFAULT 0,
    lifecycle TEXT
);
CREATE TABLE machine_tags (machine_id TEXT NOT NULL COLLATE NOCASE, tag TEXT NOT NULL COLLATE NOCASE);
CREATE INDEX machine_tags_machine ON machine_tags (machine_id);
CREATE TABLE actions (
    id TEXT PRIMARY KEY COLLATE NOCASE,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    status TEXT COLLATE NOCASE, machineId TEXT COLLATE NOCASE, type TEXT COLLATE NOCASE,
    requestor TEXT COLLATE NOCASE, creationDateTimeUtc TEXT,
    frozen INTEGER NOT NULL DEFAULT 0,
    lc_start REAL, lc_pending REAL, lc_in_progress REAL, lc_final TEXT
);
"""


class StateError(Exception):
    """Invalid input to the state layer (answered as 400 by the control API)."""


class Clock(object):
    """emulated_now = start_epoch + (real_now - real_start) * time_scale + offset."""

    def __init__(self, time_scale=1.0):
        if time_scale <= 0:
            raise ValueError("time scale must be > 0")
        self.time_scale = float(time_scale)
        self.real_start = time.time()
        self.start_epoch = self.real_start
        self.offset = 0.0

    def now(self):
        return self.start_epoch + (time.time() - self.real_start) * self.time_scale + self.offset

    def real_seconds(self, emulated_seconds):
        """Emulated duration -> whole real seconds for Retry-After (at least 1)."""
        return max(1, int(math.ceil(emulated_seconds / self.time_scale - 1e-9)))

    def advance(self, seconds):
        self.offset += float(seconds)

    def realign(self):
        """Emulated time starts again at real time (after a reset: nothing holds the old times)."""
        self.real_start = time.time()
        self.start_epoch = self.real_start
        self.offset = 0.0


def _lc_num(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise StateError("lifecycle.%s must be a number of emulated seconds >= 0 or null" % name)
    return float(value)


def normalize_lifecycle(value, base=None):
    """Validate a lifecycle dict ({"pending", "in_progress", "final"}), filling missing keys from base."""
    result = dict(base or DEFAULT_CONFIG["default_lifecycle"])
    if value is None:
        return result
    if not isinstance(value, dict):
        raise StateError("lifecycle must be an object")
    unknown = set(value) - {"pending", "in_progress", "final"}
    if unknown:
        raise StateError("unknown lifecycle keys: %s" % ", ".join(sorted(unknown)))
    if "pending" in value:
        result["pending"] = _lc_num(value["pending"], "pending")
    if "in_progress" in value:
        result["in_progress"] = _lc_num(value["in_progress"], "in_progress")
    if "final" in value:
        if value["final"] not in LIFECYCLE_FINALS:
            raise StateError("lifecycle.final must be Succeeded, Failed, TimeOut or null")
        result["final"] = value["final"]
    return result


def _deep_merge(base, update):
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


class State(object):  # pylint: disable=too-many-instance-attributes,too-many-public-methods
    """Everything the emulator remembers. All public methods take the lock."""

    def __init__(self, workdir, clock, db_name="state.sqlite3"):
        self.lock = threading.RLock()
        self.clock = clock
        self.db_path = os.path.join(workdir, db_name)
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(self.db_path + suffix):
                os.remove(self.db_path + suffix)
        self.db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self.db.executescript(SCHEMA)
        self.seq = 0
        self.config = copy.deepcopy(DEFAULT_CONFIG)
        self.requests = []
        self.request_seq = 0
        self.tokens = []
        self.revoked_jti = set()
        self.faults = []
        self.fault_seq = 0
        self.rate_windows = collections.defaultdict(collections.deque)
        self.downloads = {}
        self.app_roles = {}  # app name -> roles granted through the control API (reset: the identity's roles again)

    # ------------------------------------------------------------------ generic
    def _next_seq(self):
        self.seq += 1
        return self.seq

    def reset(self):
        """Drop machines, actions, request log, faults, rate windows, tokens revocation, role grants and config."""
        with self.lock:
            self.db.execute("DELETE FROM machines")
            self.db.execute("DELETE FROM machine_tags")
            self.db.execute("DELETE FROM actions")
            self.config = copy.deepcopy(DEFAULT_CONFIG)
            self.requests = []
            self.faults = []
            self.rate_windows.clear()
            self.downloads.clear()
            self.app_roles.clear()

    # ------------------------------------------------------------------ config
    def get_config(self):
        with self.lock:
            return copy.deepcopy(self.config)

    def update_config(self, update):  # pylint: disable=too-many-branches
        """Partial update of the configuration; raises StateError for bad keys/values."""
        if not isinstance(update, dict):
            raise StateError("config must be an object")
        with self.lock:
            new = copy.deepcopy(self.config)
            for key, value in update.items():
                if key == "rate_limits":
                    if not isinstance(value, dict):
                        raise StateError("rate_limits must be an object")
                    for op, limits in value.items():
                        if op == "enforce":
                            if not isinstance(limits, bool):
                                raise StateError("rate_limits.enforce must be a boolean")
                            new["rate_limits"]["enforce"] = limits
                        elif limits is None:
                            if op == "default":
                                new["rate_limits"]["default"] = dict(DEFAULT_CONFIG["rate_limits"]["default"])
                            else:
                                new["rate_limits"].pop(op, None)
                        elif isinstance(limits, dict) and set(limits) <= {"per_minute", "per_hour"}:
                            for lim in limits.values():
                                if lim is not None and (isinstance(lim, bool) or not isinstance(lim, int) or lim < 0):
                                    raise StateError("rate limits are integers >= 0 or null (no limit)")
                            current = dict(new["rate_limits"].get(op) or new["rate_limits"]["default"])
                            current.update(limits)
                            new["rate_limits"][op] = current
                        else:
                            raise StateError("rate_limits.%s must be {per_minute, per_hour} or null" % op)
                elif key == "token_lifetime":
                    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                        raise StateError("token_lifetime must be an integer >= 1 (real seconds)")
                    new[key] = value
                elif key == "duplicate_behaviour":
                    if value not in DUPLICATE_BEHAVIOURS:
                        raise StateError("duplicate_behaviour must be one of %s" % ", ".join(DUPLICATE_BEHAVIOURS))
                    new[key] = value
                elif key == "default_lifecycle":
                    new[key] = normalize_lifecycle(value, new[key])
                elif key == "machine_lifecycles":
                    if not isinstance(value, dict):
                        raise StateError("machine_lifecycles must be an object {machine_id: lifecycle|null}")
                    for machine_id, lifecycle in value.items():
                        if lifecycle is None:
                            new[key].pop(machine_id.lower(), None)
                        else:
                            new[key][machine_id.lower()] = normalize_lifecycle(lifecycle, new["default_lifecycle"])
                elif key in ("max_page_size", "live_response_max_sessions", "link_lifetime"):
                    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                        raise StateError("%s must be an integer >= 1" % key)
                    new[key] = value
                elif key == "emit_next_link":
                    if not isinstance(value, bool):
                        raise StateError("emit_next_link must be a boolean")
                    new[key] = value
                else:
                    raise StateError("unknown config key %r" % key)
            self.config = new
            return copy.deepcopy(new)

    # ------------------------------------------------------------------ rate limits
    def rate_check(self, client_id, op):
        """Count one call of ``op`` by ``client_id``; returns None, or the emulated seconds to wait."""
        with self.lock:
            limits_cfg = self.config["rate_limits"]
            if not limits_cfg.get("enforce", True):
                return None
            limits = limits_cfg.get(op) or limits_cfg["default"]
            now = self.clock.now()
            window = self.rate_windows[(client_id or "", op)]
            while window and window[0] <= now - 3600:
                window.popleft()
            wait = 0.0
            for span, key in ((60.0, "per_minute"), (3600.0, "per_hour")):
                limit = limits.get(key)
                if limit is None:
                    continue
                inside = [stamp for stamp in window if stamp > now - span]
                if len(inside) >= limit:
                    if limit == 0:
                        wait = max(wait, span)
                    else:
                        wait = max(wait, inside[-limit] + span - now)
            if wait > 0:
                return wait
            window.append(now)
            return None

    # ------------------------------------------------------------------ machines
    def _machine_row_values(self, entity):
        values = {}
        for col in MACHINE_FILTER_COLUMNS:
            val = entity.get(col)
            if col == "lastSeen":
                val = normalize_ts(val) if val else None
            elif col == "rbacGroupId" and val is not None:
                try:
                    val = int(val)
                except (TypeError, ValueError):
                    pass
            values[col] = val
        return values

    def upsert_machine(self, entity, lifecycle=None, internal=None):
        """Insert or replace a Machine entity (defaults filled by the caller)."""
        with self.lock:
            row = self.db.execute("SELECT seq, isolated, restricted, offboarded, lifecycle FROM machines WHERE id = ?",
                                  (entity["id"],)).fetchone()
            seq = row[0] if row else self._next_seq()
            flags = {"isolated": row[1], "restricted": row[2], "offboarded": row[3]} if row else \
                {"isolated": 0, "restricted": 0, "offboarded": 0}
            for key, val in (internal or {}).items():
                flags[key] = 1 if val else 0
            lc_json = json.dumps(lifecycle) if lifecycle is not None else (row[4] if row else None)
            values = self._machine_row_values(entity)
            self.db.execute("DELETE FROM machines WHERE id = ?", (entity["id"],))
            self.db.execute("DELETE FROM machine_tags WHERE machine_id = ?", (entity["id"],))
            cols = ["id", "seq", "data"] + list(values) + ["isolated", "restricted", "offboarded", "lifecycle"]
            params = [entity["id"], seq, json.dumps(entity)] + list(values.values()) + \
                [flags["isolated"], flags["restricted"], flags["offboarded"], lc_json]
            self.db.execute("INSERT INTO machines (%s) VALUES (%s)" % (
                ", ".join('"%s"' % c for c in cols), ", ".join("?" * len(cols))), params)
            for tag in entity.get("machineTags") or []:
                self.db.execute("INSERT INTO machine_tags (machine_id, tag) VALUES (?, ?)", (entity["id"], tag))
            return entity

    def _machine_from_row(self, row, with_state=False):
        entity = json.loads(row[0])
        if with_state:
            entity["_state"] = {"isolated": bool(row[1]), "restricted": bool(row[2]), "offboarded": bool(row[3])}
            entity["_lifecycle"] = json.loads(row[4]) if row[4] else None
        return entity

    def get_machine(self, machine_id, with_state=False):
        with self.lock:
            row = self.db.execute("SELECT data, isolated, restricted, offboarded, lifecycle FROM machines WHERE id = ?",
                                  (machine_id,)).fetchone()
            return self._machine_from_row(row, with_state) if row else None

    def machine_flags(self, machine_id):
        with self.lock:
            row = self.db.execute("SELECT isolated, restricted, offboarded, lifecycle FROM machines WHERE id = ?",
                                  (machine_id,)).fetchone()
            if not row:
                return None
            return {"isolated": bool(row[0]), "restricted": bool(row[1]), "offboarded": bool(row[2]),
                    "lifecycle": json.loads(row[3]) if row[3] else None}

    def count_machines(self):
        with self.lock:
            return self.db.execute("SELECT COUNT(*) FROM machines").fetchone()[0]

    def list_machines(self, filter_text=None, skip=0, limit=None, with_state=False, order="t.seq"):
        """Machines matching an OData $filter (FilterError on a bad one); returns (entities, total)."""
        where = filter_to_sql(filter_text, "Machines") if filter_text else "1"
        with self.lock:
            total = self.db.execute("SELECT COUNT(*) FROM machines AS t WHERE %s" % where).fetchone()[0]
            sql = ("SELECT t.data, t.isolated, t.restricted, t.offboarded, t.lifecycle FROM machines AS t WHERE %s "
                   "ORDER BY %s LIMIT ? OFFSET ?" % (where, order))
            rows = self.db.execute(sql, (-1 if limit is None else limit, skip)).fetchall()
            return [self._machine_from_row(r, with_state) for r in rows], total

    def _set_machine_flag(self, machine_id, **flags):
        for key, val in flags.items():
            self.db.execute('UPDATE machines SET "%s" = ? WHERE id = ?' % key, (1 if val else 0, machine_id))

    def _update_machine_fields(self, machine_id, **fields):
        entity = self.get_machine(machine_id)
        if entity is None:
            return
        entity.update(fields)
        self.upsert_machine(entity)

    # ------------------------------------------------------------------ actions
    def lifecycle_for(self, machine_id):
        """The lifecycle a newly launched action on this machine gets."""
        with self.lock:
            override = self.config["machine_lifecycles"].get(machine_id.lower())
            if override is not None:
                return dict(override)
            flags = self.machine_flags(machine_id)
            if flags and flags["lifecycle"] is not None:
                return normalize_lifecycle(flags["lifecycle"], self.config["default_lifecycle"])
            if flags and flags["offboarded"]:
                return dict(STUCK)
            return dict(self.config["default_lifecycle"])

    def insert_action(self, entity, lifecycle, created_epoch, start_epoch=None):
        """Store a MachineAction entity with its lifecycle; a final status freezes it."""
        with self.lock:
            status = entity["status"]
            frozen = 1 if status in FINAL_STATUSES else 0
            pending = lifecycle.get("pending")
            if status == "InProgress":
                pending = 0.0
            self.db.execute(
                "INSERT INTO actions (id, seq, data, status, machineId, type, requestor, creationDateTimeUtc, frozen,"
                " lc_start, lc_pending, lc_in_progress, lc_final) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (entity["id"], self._next_seq(), json.dumps(entity), status, entity["machineId"], entity["type"],
                 entity["requestor"], normalize_ts(entity["creationDateTimeUtc"]), frozen,
                 start_epoch if start_epoch is not None else created_epoch, pending, lifecycle.get("in_progress"),
                 lifecycle.get("final")))
            if status == "Succeeded":
                self._apply_effects(entity)
            return entity

    def _row_to_action(self, row):
        return json.loads(row[0])

    def get_action(self, action_id):
        with self.lock:
            self.advance()
            row = self.db.execute("SELECT data FROM actions WHERE id = ?", (action_id,)).fetchone()
            return self._row_to_action(row) if row else None

    def list_actions(self, filter_text=None, skip=0, limit=None):
        """Actions (newest first) matching an OData $filter; returns (entities, total)."""
        where = filter_to_sql(filter_text, "MachineActions") if filter_text else "1"
        with self.lock:
            self.advance()
            total = self.db.execute("SELECT COUNT(*) FROM actions AS t WHERE %s" % where).fetchone()[0]
            rows = self.db.execute(
                "SELECT t.data FROM actions AS t WHERE %s ORDER BY t.creationDateTimeUtc DESC, t.seq DESC "
                "LIMIT ? OFFSET ?" % where, (-1 if limit is None else limit, skip)).fetchall()
            return [self._row_to_action(r) for r in rows], total

    def active_actions(self, machine_id, action_type=None):
        """Non-final actions on a machine (optionally of one type), newest first."""
        with self.lock:
            self.advance()
            sql = "SELECT data FROM actions WHERE machineId = ? AND status IN ('Pending', 'InProgress')"
            params = [machine_id]
            if action_type:
                sql += " AND type = ?"
                params.append(action_type)
            rows = self.db.execute(sql + " ORDER BY creationDateTimeUtc DESC, seq DESC", params).fetchall()
            return [self._row_to_action(r) for r in rows]

    def count_active(self, action_type):
        with self.lock:
            self.advance()
            return self.db.execute("SELECT COUNT(*) FROM actions WHERE type = ? AND status IN ('Pending', 'InProgress')",
                                   (action_type,)).fetchone()[0]

    def _save_action(self, entity, frozen=None):
        sql = "UPDATE actions SET data = ?, status = ?"
        params = [json.dumps(entity), entity["status"]]
        if frozen is not None:
            sql += ", frozen = ?"
            params.append(1 if frozen else 0)
        self.db.execute(sql + " WHERE id = ?", params + [entity["id"]])

    def advance(self):
        """Move every non-final action along its lifecycle up to the emulated now."""
        with self.lock:
            now = self.clock.now()
            rows = self.db.execute(
                "SELECT data, lc_start, lc_pending, lc_in_progress, lc_final FROM actions WHERE frozen = 0 "
                "ORDER BY seq").fetchall()
            for data, start, pending, in_progress, final in rows:
                entity = json.loads(data)
                if pending is None or now < start + pending:
                    continue  # still Pending
                if in_progress is None or now < start + pending + in_progress or final is None:
                    if entity["status"] != "InProgress":
                        entity["status"] = "InProgress"
                        entity["lastUpdateDateTimeUtc"] = format_ts(max(start + pending, parse_ts(
                            entity["creationDateTimeUtc"])))
                        self._save_action(entity)
                    continue
                self._finish(entity, final, start + pending, start + pending + in_progress)

    def _finish(self, entity, final, started, ended):
        entity["status"] = final
        entity["lastUpdateDateTimeUtc"] = format_ts(ended)
        if final == "Failed":
            entity["errorHResult"] = -2147467259
        if entity["type"] == "LiveResponse":
            self._finish_commands(entity, final, started, ended)
        self._save_action(entity, frozen=True)
        if final == "Succeeded":
            self._apply_effects(entity)

    @staticmethod
    def _finish_commands(entity, final, started, ended):
        commands = entity.get("commands") or []
        if not commands:
            return
        step = max(ended - started, 0.003) / len(commands)
        for idx, cmd in enumerate(commands):
            cmd_start = started + idx * step
            if final == "Succeeded":
                cmd.update(startTime=format_ts_ms(cmd_start), endTime=format_ts_ms(cmd_start + step * 0.9),
                           commandStatus="Completed")
            elif final == "Failed" and idx == 0:
                cmd.update(startTime=format_ts_ms(cmd_start), endTime=format_ts_ms(cmd_start + step * 0.9),
                           commandStatus="Failed", errors=["The command failed to run on the device."])

    def _apply_effects(self, entity):
        machine_id = entity["machineId"]
        kind = entity["type"]
        if kind == "Isolate":
            self._set_machine_flag(machine_id, isolated=True)
        elif kind == "Unisolate":
            self._set_machine_flag(machine_id, isolated=False)
        elif kind == "RestrictCodeExecution":
            self._set_machine_flag(machine_id, restricted=True)
        elif kind == "UnrestrictCodeExecution":
            self._set_machine_flag(machine_id, restricted=False)
        elif kind == "Offboard":
            self._set_machine_flag(machine_id, offboarded=True)
            self._update_machine_fields(machine_id, onboardingStatus="Offboarded", healthStatus="Inactive")

    def cancel_action(self, action_id, requestor, comment):
        """Cancel: returns (entity, None) or (entity_or_None, "not_found"|"final")."""
        with self.lock:
            self.advance()
            row = self.db.execute("SELECT data FROM actions WHERE id = ?", (action_id,)).fetchone()
            if not row:
                return None, "not_found"
            entity = json.loads(row[0])
            if entity["status"] in FINAL_STATUSES:
                return entity, "final"
            stamp = format_ts(self.clock.now())
            entity.update(status="Cancelled", cancellationRequestor=requestor, cancellationComment=comment,
                          cancellationDateTimeUtc=stamp, lastUpdateDateTimeUtc=stamp)
            self._save_action(entity, frozen=True)
            return entity, None

    def force_final(self, action_id, final_status="Succeeded"):
        """Make a non-final action final now (the cancel race fault)."""
        with self.lock:
            self.advance()
            row = self.db.execute("SELECT data, lc_start, lc_pending FROM actions WHERE id = ?",
                                  (action_id,)).fetchone()
            if not row:
                return None
            entity = json.loads(row[0])
            if entity["status"] in FINAL_STATUSES:
                return entity
            now = self.clock.now()
            if final_status == "Cancelled":
                stamp = format_ts(now)
                entity.update(status="Cancelled", cancellationRequestor="Automation",
                              cancellationComment="Cancelled by the system", cancellationDateTimeUtc=stamp,
                              lastUpdateDateTimeUtc=stamp)
                self._save_action(entity, frozen=True)
                return entity
            started = row[1] + (row[2] or 0.0)
            self._finish(entity, final_status, min(started, now), now)
            return entity

    def all_actions(self):
        return self.list_actions()[0]

    # ------------------------------------------------------------------ app roles (what admin consent grants)
    def roles_of(self, app_name, default):
        with self.lock:
            return list(self.app_roles.get(app_name, default))

    def change_roles(self, app_name, default, grant=(), revoke=()):
        """Grant and revoke application roles of an app; tokens already issued keep the roles they carry."""
        with self.lock:
            roles = [r for r in self.app_roles.get(app_name, default) if r not in revoke]
            roles += [r for r in grant if r not in roles]
            self.app_roles[app_name] = roles
            return list(roles)

    # ------------------------------------------------------------------ tokens
    def record_token(self, record):
        with self.lock:
            self.tokens.append(record)

    def list_tokens(self):
        with self.lock:
            return copy.deepcopy(self.tokens)

    def expire_tokens(self):
        with self.lock:
            for record in self.tokens:
                self.revoked_jti.add(record["jti"])
            return len(self.tokens)

    def is_revoked(self, jti):
        with self.lock:
            return jti in self.revoked_jti

    # ------------------------------------------------------------------ download links
    def new_download(self, kind, action_id, index=None):
        with self.lock:
            token = secrets.token_hex(16)
            expires = self.clock.now() + self.config["link_lifetime"]
            sig = secrets.token_urlsafe(24)
            self.downloads[token] = {"kind": kind, "action_id": action_id, "index": index, "expires": expires,
                                     "sig": sig}
            return token, sig, expires

    def get_download(self, token):
        with self.lock:
            return copy.deepcopy(self.downloads.get(token))

    # ------------------------------------------------------------------ faults
    def add_faults(self, rules):
        with self.lock:
            ids = []
            for rule in rules:
                self.fault_seq += 1
                rule = dict(rule)
                rule["id"] = self.fault_seq
                rule["_skip_left"] = rule.get("skip", 0)
                rule["_remaining"] = rule.get("times", 1) or None
                self.faults.append(rule)
                ids.append(rule["id"])
            return ids

    def list_faults(self):
        with self.lock:
            out = []
            for rule in self.faults:
                item = {k: v for k, v in rule.items() if not k.startswith("_")}
                item["remaining"] = rule["_remaining"]
                item["skip_remaining"] = rule["_skip_left"]
                out.append(item)
            return out

    def remove_fault(self, fault_id):
        """Remove one rule (other rules, e.g. of tests running beside, stay); False if it is not there."""
        with self.lock:
            kept = [r for r in self.faults if r["id"] != fault_id]
            removed = len(kept) != len(self.faults)
            self.faults = kept
            return removed

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def match_fault(self, host, method, op, raw_path):
        """First rule matching this request that is due; consumes one use of it."""
        with self.lock:
            for rule in list(self.faults):
                if rule.get("host", "api") != host:
                    continue
                if rule.get("method") and rule["method"].upper() != method.upper():
                    continue
                if rule.get("api") and rule["api"] != op:
                    continue
                if rule.get("path_regex") and not re.search(rule["path_regex"], raw_path):
                    continue
                if rule["_skip_left"] > 0:
                    rule["_skip_left"] -= 1
                    continue
                if rule["_remaining"] is not None:
                    rule["_remaining"] -= 1
                    if rule["_remaining"] <= 0:
                        self.faults.remove(rule)
                return dict(rule)
            return None

    # ------------------------------------------------------------------ request log
    def log_request(self, entry):
        with self.lock:
            self.request_seq += 1
            entry["seq"] = self.request_seq
            self.requests.append(entry)
            if len(self.requests) > 100000:
                del self.requests[:10000]
            return entry["seq"]

    def get_requests(self, since=0, host=None):
        with self.lock:
            out = [copy.deepcopy(e) for e in self.requests if e["seq"] > since and (host is None or e["host"] == host)]
            return out, self.request_seq


def new_action_entity(machine, action_type, requestor, comment, created_epoch, scope=None, related=None,
                      commands=None, action_id=None):
    """A MachineAction entity with every key, in the observed order."""
    stamp = format_ts(created_epoch)
    values = {
        "id": action_id or new_guid(), "type": action_type, "title": None, "requestor": requestor,
        "requestorComment": comment, "status": "Pending", "machineId": machine["id"],
        "computerDnsName": machine.get("computerDnsName"), "creationDateTimeUtc": stamp,
        "lastUpdateDateTimeUtc": stamp, "cancellationRequestor": None, "cancellationComment": None,
        "cancellationDateTimeUtc": None, "errorHResult": 0, "scope": scope, "externalId": None,
        "requestSource": "PublicApi", "relatedFileInfo": related, "commands": commands or [],
        "troubleshootInfo": None,
    }
    return {key: values[key] for key in ACTION_KEYS}
