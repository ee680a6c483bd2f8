# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTPS plumbing: four ThreadingHTTPServer instances (api, login, storage, control) with TLS done in the
handler thread, request logging, and the fault rules applied at the socket level."""

from __future__ import annotations

import array
import email.utils
import fcntl
import json
import socket
import ssl
import struct
import sys
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import api, control, entra, federation, storage
from .util import Response, json_response, mde_error

HOSTS = ("api", "login", "storage", "control")
# the managed identity endpoints are plain HTTP, as the real ones (App Service's localhost, IMDS's 169.254.169.254)
PLAIN_HOSTS = ("identity",)
SOCKET_FAULTS = ("reset", "drop", "stall")


def _drain(conn, limit=2.0):
    """Wait (at most ``limit`` s) until the kernel has sent what was written to ``conn`` (Linux SIOCOUTQ)."""
    deadline = time.monotonic() + limit
    buf = array.array("i", [0])
    while time.monotonic() < deadline:
        try:
            fcntl.ioctl(conn.fileno(), termios.TIOCOUTQ, buf, True)
        except OSError:
            return
        if buf[0] == 0:
            return
        time.sleep(0.01)


class Request(object):  # pylint: disable=too-few-public-methods,too-many-instance-attributes
    def __init__(self, host, method, raw_path, headers, body):
        self.host, self.method, self.raw_path, self.headers, self.body = host, method, raw_path, headers, body
        parts = urlsplit(raw_path)
        self.path = unquote(parts.path)
        self.query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.log = {"client_id": None, "body": None}


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, ssl_context, emulator, host):
        self.ssl_context, self.emulator, self.host = ssl_context, emulator, host
        super().__init__(address, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)


class _PlainServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, emulator, host):
        self.emulator, self.host = emulator, host
        super().__init__(address, handler)


class _Broken(Exception):
    """The connection was deliberately broken by a fault."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MDE-Emulator/1.0"
    sys_version = ""
    timeout = 120

    def setup(self):
        super().setup()
        # As production front ends do: no Nagle delay. Without it, a response's header and body writes
        # wait on the client's delayed ACK (about 40 ms on Linux) whenever earlier bytes (TLS session
        # tickets) are unacknowledged, a stall the real service does not have.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hasattr(self.connection, "do_handshake"):
            self.connection.do_handshake()

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass

    def do_GET(self):  # noqa: N802
        self._handle()

    def do_POST(self):  # noqa: N802
        self._handle()

    def do_DELETE(self):  # noqa: N802
        self._handle()

    def do_PUT(self):  # noqa: N802
        self._handle()

    def do_PATCH(self):  # noqa: N802
        self._handle()

    def do_HEAD(self):  # noqa: N802
        self._handle()

    # ------------------------------------------------------------------ plumbing
    def _read_body(self):
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send(self, response, cut=None):
        """Write the response; ``cut`` sends only that many body bytes (the Content-Length stays whole)."""
        self.send_response(response.status)
        headers = dict(response.headers)
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
        for key, val in headers.items():
            self.send_header(key, str(val))
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body if cut is None else response.body[:cut])
        self.wfile.flush()

    def _break(self, kind, seconds=0.0):
        conn = self.connection
        try:
            if kind == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif kind == "stall":
                time.sleep(float(seconds))
            if kind != "reset":
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            conn.close()
        finally:
            self.close_connection = True
        raise _Broken(kind)

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except _Broken:
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass

    # ------------------------------------------------------------------ dispatch
    def _handle(self):  # pylint: disable=too-many-branches,too-many-statements
        emu = self.server.emulator
        host = self.server.host
        body = self._read_body()
        req = Request(host, self.command, self.path, self.headers, body)
        if host == "control":
            try:
                response = control.handle(emu, req)
            except Exception as exc:  # pylint: disable=broad-except
                response = json_response(500, {"error": "control API failure: %s" % exc})
            self._send(response)
            return
        op, handler = self._route(req)
        entry = {"time": time.time(), "emulated_time": emu.clock.now(), "host": host, "method": req.method,
                 "path": req.path, "query": req.query, "api": op, "status": None, "fault": None, "client_id": None,
                 "authorization": bool(req.headers.get("Authorization")),
                 "user_agent": req.headers.get("User-Agent"), "body": None}
        if host == "api":
            entry["client_id"] = self._token_client(req)
            if body:
                try:
                    entry["body"] = json.loads(body.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    entry["body"] = body.decode("utf-8", "replace")
        fault = emu.state.match_fault(host, req.method, op, req.raw_path)
        try:
            response = None
            if fault:
                entry["fault"] = fault["kind"]
                response = self._apply_fault(emu, req, fault, op, handler)
            if response is None:
                response = self._process(emu, req, op, handler)
            entry["status"] = response.status
            self._send(response)
        except _Broken:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            response = mde_error(500, "InternalServerError", "Emulator failure: %s" % exc)
            entry["status"] = 500
            self._send(response)
        finally:
            if req.log.get("client_id") and not entry["client_id"]:
                entry["client_id"] = req.log["client_id"]
            if req.log.get("body") is not None:
                entry["body"] = req.log["body"]
            emu.state.log_request(entry)

    @staticmethod
    def _token_client(req):
        value = req.headers.get("Authorization") or ""
        if value[:7].lower() == "bearer ":
            return entra.decode_unverified(value[7:].strip()).get("appid")
        return None

    def _route(self, req):
        host = self.server.host
        if host == "identity":
            return federation.identity_route(req.method, req.path)
        if host == "login":
            return entra.route(req.method, req.path)
        if host == "storage":
            op = storage.route(req.method, req.path)
            return op, (storage.download if op else None)
        rte = api.route(req.path)
        if rte is None:
            return None, None
        return rte.op, rte

    def _apply_fault(self, emu, req, fault, op, handler):  # pylint: disable=too-many-return-statements
        kind = fault["kind"]
        host = self.server.host
        if kind == "delay":
            time.sleep(float(fault.get("seconds", 1)))
            return None
        if kind == "finalize_on_cancel":
            if op == "cancel_action":
                emu.state.force_final(handler.params["action_id"], fault.get("final_status", "Succeeded"))
            return None
        if kind == "finalize":
            if op == "get_action":
                emu.state.force_final(handler.params["action_id"], fault.get("final_status", "Succeeded"))
            return None
        if kind == "truncate":
            response = self._process(emu, req, op, handler)
            self._send(response, cut=len(response.body) // 2)
            _drain(self.connection)  # the client must get the half body before the RST, which discards unsent data
            self._break("reset" if fault.get("reset", True) else "drop")
        if kind in SOCKET_FAULTS:
            if fault.get("process"):
                self._process(emu, req, op, handler)
            self._break(kind, fault.get("seconds", 30))
        if kind == "expire_token":
            return self._unauthorized("expired")
        if kind == "status":
            payload = fault.get("body", "")
            ctype = fault.get("content_type")
            if isinstance(payload, (dict, list)):
                payload = json.dumps(payload)
                ctype = ctype or "application/json; charset=utf-8"
            return Response(fault.get("status", 500), payload or "", headers=fault.get("headers"),
                            content_type=ctype or "text/plain; charset=utf-8")
        if kind == "throttle":
            headers = {}
            retry = fault.get("retry_after", 1)
            if retry == "http-date":
                headers["Retry-After"] = email.utils.formatdate(
                    time.time() + float(fault.get("retry_after_seconds", 1)), usegmt=True)
            elif retry is not None:
                headers["Retry-After"] = str(int(retry))
            if host == "login":
                return entra.entra_error(emu, 429, "temporarily_unavailable", 90055,
                                         "The request has been throttled. Please try again later.", headers=headers)
            return mde_error(429, "TooManyRequests", "Rate limit is exceeded. Try again later.", headers=headers)
        if kind == "error":
            status = int(fault.get("status", 500))
            if fault.get("process") and host == "api":  # a gateway's 5xx after the service applied the request
                self._process(emu, req, op, handler)
            codes = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
            if host == "storage":  # Azure Storage answers in XML
                return storage.storage_error(status, "ServerBusy" if status == 503 else "InternalError",
                                             "The server is currently unable to receive requests. Please retry your request."
                                             if status == 503 else "Server encountered an internal error. Please try again after some time.")
            if host == "login":
                return entra.entra_error(emu, status, "temporarily_unavailable" if status == 503 else "server_error",
                                         50000, "There was an error issuing a token or an issue with our sign-in "
                                         "service.")
            return mde_error(status, codes.get(status, "InternalServerError"),
                             "" if status == 500 else "The service is temporarily unavailable.")
        if kind == "html":
            status = int(fault.get("status", 502))
            page = ("<!DOCTYPE html><html><head><title>%d Bad Gateway</title></head><body><center><h1>%d Bad Gateway"
                    "</h1></center><hr><center>nginx</center></body></html>" % (status, status))
            return Response(status, page, content_type="text/html")
        return None

    def _unauthorized(self, reason):
        messages = {
            "missing": "Authorization header is missing",
            "expired": "The access token has expired",
            "audience": "The access token audience is invalid",
            "tenant": "The access token was issued for another tenant",
            "invalid": "The access token is invalid",
        }
        description = messages.get(reason, "Unauthorized")
        return mde_error(401, "Unauthorized", description, headers={
            "WWW-Authenticate": 'Bearer error="invalid_token", error_description="%s"' % description})

    def _process(self, emu, req, op, handler):  # pylint: disable=too-many-return-statements
        host = self.server.host
        if host == "identity":
            return federation.process_identity(emu, req, op, handler)
        if host == "login":
            if op is None:
                return json_response(404, {"error": "not_found", "error_description": "Unknown endpoint %s" % req.path})
            if handler is None:
                return entra.entra_error(emu, 405, "invalid_request", 900561, "The endpoint only accepts %s "
                                         "requests. Received a %s request." % (
                                             "POST" if op == "token" else "GET", req.method))
            return handler(emu, req)
        if host == "storage":
            if handler is None:
                return storage.storage_error(404, "ResourceNotFound", "The specified resource does not exist.")
            return handler(emu, req)
        rte = handler
        if rte is None:
            return api.not_found(req.path)
        if req.method != rte.method:
            return mde_error(405, "MethodNotAllowed", "The requested resource does not support http method '%s'."
                             % req.method)
        value = req.headers.get("Authorization") or ""
        if value[:7].lower() != "bearer " or not value[7:].strip():
            return self._unauthorized("missing")
        claims, reason = emu.verify_token(value[7:].strip())
        if claims is None:
            return self._unauthorized(reason)
        req.log["client_id"] = claims.get("appid")
        roles = claims.get("roles") or []
        if not set(roles) & set(rte.roles):
            return mde_error(403, "Forbidden", "Missing application roles. API required roles: %s, application "
                             "roles: %s." % (",".join(rte.roles), ",".join(roles)))
        wait = emu.state.rate_check(claims.get("appid"), rte.op)
        if wait is not None:
            real = emu.clock.real_seconds(wait)
            return mde_error(429, "TooManyRequests", "Rate limit is exceeded. Try again in %d seconds." % real,
                             headers={"Retry-After": str(real)})
        emu.state.advance()
        return rte.handler(emu, req, rte, claims)


class PlainHandler(Handler):
    """The same handler without TLS (the identity host)."""

    def setup(self):
        BaseHTTPRequestHandler.setup(self)


def make_ssl_context(emu):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(emu.server_cert_path, emu.server_key_path)
    return ctx


class EmulatorServers(object):
    """Start/stop the four HTTPS servers of an Emulator."""

    def __init__(self, emu, ports=None):
        self.emu = emu
        self.ports = dict(ports or {})
        self.servers = {}
        self.threads = []

    def start(self):
        ctx = make_ssl_context(self.emu)
        for host in HOSTS:
            server = _TLSServer(("127.0.0.1", int(self.ports.get(host) or 0)), Handler, ctx, self.emu, host)
            self.servers[host] = server
        urls = {h: "https://127.0.0.1:%d" % s.server_address[1] for h, s in self.servers.items()}
        for host in PLAIN_HOSTS:
            self.servers[host] = _PlainServer(("127.0.0.1", int(self.ports.get(host) or 0)), PlainHandler, self.emu, host)
            urls[host] = "http://127.0.0.1:%d" % self.servers[host].server_address[1]
        self.emu.api_url, self.emu.authority_host = urls["api"], urls["login"]
        self.emu.storage_url, self.emu.control_url = urls["storage"], urls["control"]
        self.emu.identity_url = urls["identity"]
        for host, server in self.servers.items():
            thread = threading.Thread(target=server.serve_forever, name="emulator-%s" % host, daemon=True)
            thread.start()
            self.threads.append(thread)
        return urls

    def stop(self):
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
