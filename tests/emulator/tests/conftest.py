# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures: one real emulator process (run_emulator.py serve) for the session, reset before each test."""
# pylint: disable=redefined-outer-name

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR_DIR = os.path.dirname(HERE)
sys.path.insert(0, EMULATOR_DIR)

from mde_emulator.client import EmulatorControl, load_settings  # noqa: E402  pylint: disable=wrong-import-position

TIME_SCALE = 60


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("emulator"))
    log = open(os.path.join(workdir, "emulator.log"), "wb")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, os.path.join(EMULATOR_DIR, "run_emulator.py"), "serve", "--workdir", workdir,
         "--time-scale", str(TIME_SCALE), "--seed", "demo"], stdout=log, stderr=subprocess.STDOUT)
    data = None
    for _attempt in range(600):  # bounded: up to ~60 s
        if proc.poll() is not None:
            break
        if os.path.exists(os.path.join(workdir, "emulator.json")):
            data = load_settings(workdir)
            try:
                EmulatorControl(data["control_url"], data["ca_path"], timeout=2).health()
                break
            except (OSError, RuntimeError):  # not listening yet, or not ready
                data = None
        time.sleep(0.1)
    if data is None:
        proc.kill()
        with open(os.path.join(workdir, "emulator.log"), encoding="utf-8", errors="replace") as handle:
            pytest.fail("emulator did not start:\n" + handle.read())
    data["workdir"] = workdir
    yield data
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture()
def ctl(settings):
    control = EmulatorControl(settings["control_url"], settings["ca_path"])
    control.reset("demo")
    return control


def get_token(settings, app="default", scope=None):
    info = settings["apps"][app]
    resp = requests.post("%s/%s/oauth2/v2.0/token" % (settings["authority_host"], settings["tenant_id"]),
                         data={"grant_type": "client_credentials", "client_id": info["client_id"],
                               "client_secret": info["client_secret"], "scope": scope or settings["scope"]},
                         verify=settings["ca_path"], timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


class Api(object):
    """requests against the api host with a bearer token."""

    def __init__(self, settings, token):
        self.settings = settings
        self.token = token
        self.session = requests.Session()

    def call(self, method, path, **kwargs):
        headers = kwargs.pop("headers", {})
        if self.token is not None:
            headers.setdefault("Authorization", "Bearer " + self.token)
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.settings["api_url"] + path, headers=headers,
                                    verify=self.settings["ca_path"], **kwargs)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.call("POST", path, json=body, **kwargs)


@pytest.fixture()
def api(settings, ctl):  # pylint: disable=unused-argument
    return Api(settings, get_token(settings))


@pytest.fixture()
def readonly_api(settings, ctl):  # pylint: disable=unused-argument
    return Api(settings, get_token(settings, "readonly"))


def error_code(resp):
    return json.loads(resp.text)["error"]["code"]
