# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small helpers: timestamps, GUIDs, JSON responses."""

from __future__ import annotations

import datetime
import json
import re
import uuid

UTC = datetime.timezone.utc

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


def new_guid():
    """A new random GUID string (lower case, like MDE)."""
    return str(uuid.uuid4())


def format_ts(epoch):
    """Epoch seconds -> MDE timestamp with 7 fractional digits, e.g. 2025-05-14T09:12:47.5381264Z."""
    ticks = int(round(epoch * 10_000_000))
    whole, frac = divmod(ticks, 10_000_000)
    stamp = datetime.datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return "%s.%07dZ" % (stamp, frac)


def format_ts_ms(epoch):
    """Epoch seconds -> timestamp with 3 fractional digits (live response command times)."""
    ms = int(round(epoch * 1000))
    whole, frac = divmod(ms, 1000)
    stamp = datetime.datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return "%s.%03dZ" % (stamp, frac)


def _parse(value):
    match = _ISO_RE.match(value.strip())
    if not match:
        raise ValueError("not an ISO 8601 date/time: %r" % value)
    year, month, day, hour, minute, sec, frac, tz = match.groups()
    dt = datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(sec or 0), tzinfo=UTC)
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        dt = dt - sign * offset
    frac7 = (frac or "").ljust(7, "0")[:7]
    return dt, frac7


def parse_ts(value):
    """ISO 8601 string -> epoch seconds (float). Raises ValueError."""
    dt, frac7 = _parse(value)
    return dt.timestamp() + int(frac7) / 10_000_000.0


def normalize_ts(value):
    """ISO 8601 string (any offset, any precision) -> sortable UTC string 'YYYY-MM-DD HH:MM:SS.fffffff'.

    Used for the datetime columns that $filter compares against; None stays None.
    """
    if value is None:
        return None
    dt, frac7 = _parse(value)
    return "%s.%s" % (dt.strftime("%Y-%m-%d %H:%M:%S"), frac7)


def http_entra_timestamp(epoch):
    """Entra ID error timestamp format: 2025-05-14 09:12:47Z."""
    return datetime.datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def dumps(obj):
    """Compact JSON as bytes."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Response(object):
    """An HTTP response the server writes (or withholds, for socket faults)."""

    def __init__(self, status, body=b"", headers=None, content_type=None):
        self.status = int(status)
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body or b""
        self.headers = dict(headers or {})
        if content_type:
            self.headers["Content-Type"] = content_type


def json_response(status, obj, headers=None, content_type="application/json; charset=utf-8"):
    """A JSON response."""
    return Response(status, dumps(obj), headers=headers, content_type=content_type)


def mde_error(status, code, message, headers=None):
    """The MDE error envelope {"error": {"code", "message", "target"}} with a fresh correlation id."""
    return json_response(status, {"error": {"code": code, "message": message, "target": new_guid()}}, headers=headers)
