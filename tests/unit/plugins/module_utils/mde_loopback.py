# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Loopback servers for the tests of the real transport: a TCP server on 127.0.0.1 (port 0) whose
connections a test's handler serves, each in a thread of its own (plain, or TLS with a self-signed
certificate), a minimal HTTP request reader and answer writer, and a CONNECT proxy.

Nothing here waits by sleeping: a handler that must hold a connection waits on ``Loopback.release``,
which ``close`` sets; ``close`` also shuts down every accepted connection, so a handler blocked in a
read returns, and wakes the accept loop with a connection of its own.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import datetime
import ipaddress
import select
import socket
import ssl
import threading

Request = collections.namedtuple('Request', 'method target headers body')

JOIN = 5.0  # seconds: the most a server thread may take to end once released (a bound, never waited out when all is well)


def self_signed(folder, host='127.0.0.1'):
    """(certificate path, key path) of a self-signed certificate for ``host`` (and localhost), made with cryptography."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives import hashes, serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric import ec  # pylint: disable=import-outside-toplevel
    from cryptography.x509.oid import NameOID  # pylint: disable=import-outside-toplevel

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'defender.endpoint unit test')])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName('localhost')]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path = str(folder / 'server-cert.pem')
    key_path = str(folder / 'server-key.pem')
    with open(cert_path, 'wb') as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, 'wb') as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def server_context(cert):
    """A server-side TLS context for ``cert`` ((certificate path, key path))."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    return context


def read_request(conn):
    """The next request on ``conn`` (method, target, headers with lower-case names, body by Content-Length),
    or None when the client closed the connection first."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, dummy, body = data.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    method, target = lines[0].split(' ')[:2]
    headers = {}
    for line in lines[1:]:
        name, dummy, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get('content-length') or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method, target, headers, body)


def answer(conn, status=200, body=b'', headers=None, reason='OK', length=None):
    """Send an HTTP/1.1 answer; ``length`` is the Content-Length to announce (the body's own by default)."""
    lines = ['HTTP/1.1 %d %s' % (status, reason), 'Content-Length: %d' % (len(body) if length is None else length)]
    lines.extend('%s: %s' % item for item in (headers or {}).items())
    conn.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + body)


class Loopback:
    """A TCP server on 127.0.0.1, port 0. Each accepted connection (TLS-wrapped with ``cert``) is served by
    ``handler(conn, server)`` in a thread of its own. ``accepted`` counts the connections, ``requests``
    is for the handler to record what it read, ``events`` for it to tell the test what it did."""

    def __init__(self, handler, cert=None):
        self.handler = handler
        self.context = server_context(cert) if cert else None
        self.accepted = 0
        self.requests = []
        self.events = collections.defaultdict(threading.Event)
        self.release = threading.Event()
        self._conns = []
        self._threads = []
        self._closing = False
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, name='loopback-accept-%d' % self.port)
        self._acceptor.daemon = True
        self._acceptor.start()

    def url(self, path='/'):
        return '%s://127.0.0.1:%d%s' % ('https' if self.context else 'http', self.port, path)

    def _accept(self):
        while True:
            try:
                conn, dummy = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closing:
                    conn.close()
                    return
                self.accepted += 1
                self._conns.append(conn)
                thread = threading.Thread(target=self._serve, args=(conn,), name='loopback-conn-%d' % self.port)
                thread.daemon = True
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn):
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
                with self._lock:
                    self._conns.append(conn)
            self.handler(conn, self)
        except (OSError, ValueError):  # the client hung up, or refused the handshake: what some tests do
            pass
        finally:
            conn.close()

    def close(self):
        """Release the handlers, end every connection and thread."""
        self.release.set()
        with self._lock:
            self._closing = True
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass
        try:
            socket.create_connection(('127.0.0.1', self.port), timeout=JOIN).close()  # wakes accept()
        except OSError:
            pass
        self._acceptor.join(JOIN)
        self._listener.close()
        for thread in list(self._threads):
            thread.join(JOIN)
        assert not self._acceptor.is_alive() and not any(t.is_alive() for t in self._threads), 'a loopback thread did not end'

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def relay(client, upstream):
    """Copy bytes both ways between two sockets until either side closes."""
    peers = {client: upstream, upstream: client}
    while True:
        readable = select.select(list(peers), [], [])[0]
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            peers[sock].sendall(data)


def connect_proxy(refuse=False):
    """A handler for Loopback: a CONNECT proxy (plain TCP) that records the CONNECT request and relays the
    tunnel, or answers 407 when ``refuse``."""

    def handler(conn, server):
        request = read_request(conn)
        if request is None:
            return
        server.requests.append(request)
        if refuse or request.method != 'CONNECT':
            answer(conn, 407, headers={'Proxy-Authenticate': 'Basic realm="unit"', 'Connection': 'close'},
                   reason='Proxy Authentication Required')
            return
        host, dummy, port = request.target.rpartition(':')
        upstream = socket.create_connection((host, int(port)), timeout=JOIN)
        upstream.settimeout(None)
        try:
            conn.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
            relay(conn, upstream)
        finally:
            upstream.close()

    return handler
