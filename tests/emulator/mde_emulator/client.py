# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Python client of the emulator's control API, and load_settings(workdir) for emulator.json."""

from __future__ import annotations

import json
import os

import requests


def load_settings(workdir):
    """The emulator.json of a running emulator (api_url, authority_host, ca_path, apps, ...)."""
    with open(os.path.join(workdir, "emulator.json"), encoding="utf-8") as handle:
        return json.load(handle)


class EmulatorControl(object):
    """Thin wrapper over /control/*. ``verify=ca_path`` is passed on every request, because
    REQUESTS_CA_BUNDLE in the environment would otherwise win over Session.verify."""

    def __init__(self, control_url, ca_path, timeout=30):
        self.base = control_url.rstrip("/")
        self.ca_path = ca_path
        self.timeout = timeout
        self.session = requests.Session()

    @classmethod
    def from_workdir(cls, workdir):
        settings = load_settings(workdir)
        return cls(settings["control_url"], settings["ca_path"])

    def _call(self, method, path, payload=None, params=None):
        resp = self.session.request(method, self.base + path, json=payload, params=params, verify=self.ca_path,
                                    timeout=self.timeout)
        if resp.status_code >= 400:
            raise RuntimeError("control API %s %s failed: %s %s" % (method, path, resp.status_code, resp.text))
        return resp.json()

    def health(self):
        return self._call("GET", "/control/health")

    def reset(self, seed="demo"):
        return self._call("POST", "/control/reset", {"seed": seed})

    def requests(self, since=0, host=None):
        params = {"since": since}
        if host:
            params["host"] = host
        return self._call("GET", "/control/requests", params=params)

    def state(self):
        return self._call("GET", "/control/state")

    def action(self, action_id):
        return self._call("GET", "/control/actions/%s" % action_id)

    def results(self, action_id):
        """What the storage host serves for an action: [{index, sha256, size}]."""
        return self._call("GET", "/control/actions/%s/results" % action_id)["results"]

    def add_machine(self, machine):
        return self._call("POST", "/control/machines", machine)

    def add_action(self, action):
        return self._call("POST", "/control/actions", action)

    def add_faults(self, *faults):
        return self._call("POST", "/control/faults", {"faults": list(faults)})["ids"]

    def remove_fault(self, fault_id):
        return self._call("DELETE", "/control/faults/%d" % fault_id)

    def faults(self):
        return self._call("GET", "/control/faults")["faults"]

    def clear_faults(self):
        return self._call("DELETE", "/control/faults")

    def config(self):
        return self._call("GET", "/control/config")

    def set_config(self, **changes):
        return self._call("POST", "/control/config", changes)

    def expire_tokens(self):
        return self._call("POST", "/control/tokens/expire")

    def tokens(self):
        return self._call("GET", "/control/tokens")["tokens"]

    def advance_clock(self, seconds):
        return self._call("POST", "/control/clock", {"advance": seconds})

    def clock(self):
        return self._call("GET", "/control/clock")
