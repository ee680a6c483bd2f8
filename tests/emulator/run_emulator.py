# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the MDE / Entra ID emulator: serve (foreground), start (daemon), stop. See README.md."""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mde_emulator.core import CLOUDS, Emulator  # noqa: E402  pylint: disable=wrong-import-position
from mde_emulator.server import EmulatorServers  # noqa: E402  pylint: disable=wrong-import-position


def _add_common(parser):
    parser.add_argument("--workdir", required=True, help="state, keys, CA and emulator.json live here")
    parser.add_argument("--time-scale", type=float, default=1.0, help="emulated seconds per real second")
    parser.add_argument("--seed", default="demo", help="demo, empty, fleet[:N] or a JSON file path")
    parser.add_argument("--cloud", default="commercial", choices=sorted(CLOUDS))
    for host in ("api", "login", "storage", "control", "identity"):
        parser.add_argument("--%s-port" % host, type=int, default=0, help="0 picks a free port")


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def serve(args):
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    settings_path = os.path.join(workdir, "emulator.json")
    emu = Emulator(workdir, time_scale=args.time_scale, cloud=args.cloud, seed=args.seed)
    servers = EmulatorServers(emu, {"api": args.api_port, "login": args.login_port, "storage": args.storage_port,
                                    "control": args.control_port, "identity": args.identity_port})
    servers.start()
    stop = threading.Event()

    def on_signal(_signum, _frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    settings = emu.settings()
    _write_atomic(settings_path, settings)
    sys.stdout.write(json.dumps(settings) + "\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    servers.stop()
    try:
        with open(settings_path, encoding="utf-8") as handle:
            if json.load(handle).get("pid") == os.getpid():
                os.remove(settings_path)
    except (OSError, ValueError):
        pass
    return 0


def _read_settings(workdir):
    try:
        with open(os.path.join(workdir, "emulator.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _health(settings):
    ctx = ssl.create_default_context(cafile=settings["ca_path"])
    try:
        with urllib.request.urlopen(settings["control_url"] + "/control/health", context=ctx, timeout=2) as resp:
            return json.load(resp).get("ok") is True
    except (OSError, ValueError):
        return False


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def start(args):
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    current = _read_settings(workdir)
    if current and _alive(current.get("pid", -1)) and _health(current):
        sys.stderr.write("emulator already running (pid %s) for %s\n" % (current["pid"], workdir))
        return 1
    settings_path = os.path.join(workdir, "emulator.json")
    if os.path.exists(settings_path):
        os.remove(settings_path)
    cmd = [sys.executable, os.path.abspath(__file__), "serve", "--workdir", workdir, "--time-scale",
           str(args.time_scale), "--seed", args.seed, "--cloud", args.cloud]
    for host in ("api", "login", "storage", "control", "identity"):
        cmd += ["--%s-port" % host, str(getattr(args, "%s_port" % host))]
    with open(os.path.join(workdir, "emulator.log"), "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,  # pylint: disable=consider-using-with
                                start_new_session=True, close_fds=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            log_path = os.path.join(workdir, "emulator.log")
            sys.stderr.write("emulator exited with %s; see %s\n" % (proc.returncode, log_path))
            return 1
        settings = _read_settings(workdir)
        if settings and settings.get("pid") == proc.pid and _health(settings):
            print("MDE emulator running (pid %d)" % proc.pid)
            print("  API URL:        %s" % settings["api_url"])
            print("  authority host: %s" % settings["authority_host"])
            print("  tenant id:      %s" % settings["tenant_id"])
            print("  CA path:        %s" % settings["ca_path"])
            print("  control URL:    %s" % settings["control_url"])
            print("  settings:       %s" % settings_path)
            return 0
        time.sleep(0.1)
    sys.stderr.write("emulator did not become ready within 60 s; see emulator.log\n")
    proc.terminate()
    return 1


def stop_cmd(args):
    workdir = os.path.abspath(args.workdir)
    settings = _read_settings(workdir)
    if not settings or not _alive(settings.get("pid", -1)):
        print("emulator not running")
        return 0
    pid = settings["pid"]
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            if b"run_emulator.py" not in handle.read():
                print("pid %d is not an emulator; not stopping it" % pid)
                return 0
    except OSError:
        pass
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 15
    while time.time() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        sys.stderr.write("emulator (pid %d) did not stop\n" % pid)
        return 1
    print("emulator stopped")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_common(sub.add_parser("serve", help="run in the foreground until SIGTERM/SIGINT"))
    _add_common(sub.add_parser("start", help="run in the background; wait until healthy"))
    stop_parser = sub.add_parser("stop", help="stop the emulator of a workdir")
    stop_parser.add_argument("--workdir", required=True)
    args = parser.parse_args(argv)
    return {"serve": serve, "start": start, "stop": stop_cmd}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
