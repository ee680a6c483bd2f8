# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY
# The interfaces in this file are meant for use within the defender.endpoint collection
# and may not remain stable to outside uses. Changes may be made in ANY release, even a bugfix release.

"""The collection's HTTP client, on the standard library (``http.client``, ``ssl``): API calls, downloads
and msal's login calls (as its ``http_client``) all go through ``Transport.request``.

Why not requests: importing it (with urllib3, idna, charset_normalizer) costs every task about as much
CPU as the collection's own code, and a task makes one or two calls. What it did that matters is kept:

* TLS: ``verify`` True checks certificates against E(REQUESTS_CA_BUNDLE) or E(CURL_CA_BUNDLE) when set,
  else the system's trust store (certifi's bundle when the system has none); a path (file or hashed
  folder) checks against that CA only; False checks nothing.
* Proxies from the environment, as curl and requests read them: C(https_proxy) / C(HTTPS_PROXY), then
  C(all_proxy) / C(ALL_PROXY) (lower case first), skipped for hosts of C(no_proxy) / C(NO_PROXY)
  (C(*), host names and their subdomains, C(host:port), IP addresses and CIDR ranges). HTTPS goes
  through the proxy as a CONNECT tunnel, so TLS stays end to end; credentials in the proxy URL are
  sent as Proxy-Authorization (Basic) and never appear in a message. Plain-http URLs (the local
  managed identity endpoint only) are never proxied.
* Keep-alive: one connection per host, checked before reuse (a connection the server closed while
  idle is replaced before anything is sent on it).
* Every failure is a ``TransportError`` whose ``kind`` says what is known about the request:
  ``not_sent`` (refused, unresolvable, timed out while connecting, refused by the proxy, broken in the
  TLS handshake), ``tls`` (the certificate does not verify, or the handshake fails: final),
  ``timeout`` (no answer in time: it may have been processed) and ``broken`` (the connection broke
  after the request was sent: it may have been processed).
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import os
import select
import socket
import ssl
import zlib

from http import client as http_client
from urllib.parse import unquote, urlencode, urlsplit

DEFAULT_PORTS = {'http': 80, 'https': 443}
CHUNK = 65536


class TransportError(Exception):
    """A request that got no HTTP answer. ``kind``: not_sent, tls, timeout or broken (see the module doc)."""

    def __init__(self, reason, kind):
        super(TransportError, self).__init__(reason)
        self.reason = reason
        self.kind = kind


class HTTPStatusError(Exception):
    """``Response.raise_for_status`` for a 4xx or 5xx answer (what msal calls on an answer it cannot read)."""

    def __init__(self, response):
        super(HTTPStatusError, self).__init__('HTTP %d from %s' % (response.status_code, _safe_url(response.url)))
        self.response = response


def _safe_url(url):
    """scheme://host/path of a URL, without its query (a pre-signed link's signature) or user info."""
    parts = urlsplit(url or '')
    host = parts.hostname or ''
    if parts.port:
        host = '%s:%d' % (host, parts.port)
    return '%s://%s%s' % (parts.scheme, host, parts.path)


def _headers(pairs):
    """A case-insensitive header mapping (``http.client.HTTPMessage``) from a dict or (name, value) pairs."""
    message = http_client.HTTPMessage()
    for name, value in (pairs.items() if isinstance(pairs, dict) else pairs or ()):
        message[name] = value
    return message


class Response:
    """An HTTP answer with the parts of ``requests.Response`` that the collection and msal read:
    ``status_code``, ``headers`` (case-insensitive), ``url``, ``content``, ``text``, ``json()``,
    ``iter_content()``, ``raise_for_status()`` and ``close()``.

    Built with ``content`` (bytes) it is complete; built with ``raw`` (an ``http.client.HTTPResponse``)
    the body is read on first use, or streamed by ``iter_content``; ``release`` is called once the body
    is read to its end (the connection can be reused) or abandoned (``close``: it cannot).
    """

    def __init__(self, status_code, headers=None, url=None, content=None, raw=None, release=None):
        self.status_code = status_code
        self.headers = headers if isinstance(headers, http_client.HTTPMessage) else _headers(headers)
        self.url = url
        self._content = content
        self._raw = raw
        self._release = release
        self.reason = getattr(raw, 'reason', None)

    @property
    def content(self):
        if self._content is None:
            self._content = b''.join(self.iter_content(CHUNK)) if self._raw is not None else b''
        return self._content

    @property
    def encoding(self):
        content_type = self.headers.get('Content-Type') or ''
        for part in content_type.split(';')[1:]:
            name, dummy, value = part.strip().partition('=')
            if name.strip().lower() == 'charset' and value.strip():
                return value.strip().strip('"\'')
        return 'utf-8'

    @property
    def text(self):
        try:
            return self.content.decode(self.encoding, 'replace')
        except LookupError:
            return self.content.decode('utf-8', 'replace')

    def json(self):
        """The body as JSON; ValueError when it is not JSON."""
        return json.loads(self.text)

    def iter_content(self, chunk_size=CHUNK):
        """The body in chunks, decoded from gzip or deflate when the server encoded it (the way requests
        hands it over). A failure while it streams raises TransportError (kind ``broken`` or ``timeout``);
        a body shorter than its Content-Length is a ``broken`` one."""
        if self._raw is None:
            if self._content:
                yield self._content
            return
        raw, self._raw = self._raw, None
        encoding = (self.headers.get('Content-Encoding') or 'identity').strip().lower()
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding in ('gzip', 'x-gzip') else zlib.MAX_WBITS) \
            if encoding in ('gzip', 'x-gzip', 'deflate') else None
        done = False
        try:
            while True:
                try:
                    chunk = raw.read(chunk_size)
                except http_client.IncompleteRead as exc:
                    raise TransportError('the connection closed after %d bytes of the body, %s more were announced'
                                         % (len(exc.partial), exc.expected), 'broken')
                except socket.timeout:
                    raise TransportError('no more of the body arrived within the timeout', 'timeout')
                except (OSError, http_client.HTTPException) as exc:
                    raise TransportError(_describe(exc), 'broken')
                if not chunk:
                    break
                if decoder is not None:
                    try:
                        chunk = decoder.decompress(chunk)
                    except zlib.error as exc:
                        raise TransportError('the %s-encoded body does not decode (%s)' % (encoding, exc), 'broken')
                if chunk:
                    yield chunk
            missing = getattr(raw, 'length', None)
            if missing:  # http.client ends quietly when the server closes before Content-Length is reached
                raise TransportError('the connection closed before the body was complete (%s bytes more were announced)'
                                     % missing, 'broken')
            if decoder is not None:
                tail = decoder.flush()
                if tail:
                    yield tail
            done = True
        finally:
            self._finish(raw, done)

    def _finish(self, raw, complete):
        release, self._release = self._release, None
        if not complete:
            raw.close()
        if release is not None:
            release(complete and not raw.will_close)

    def close(self):
        """Drop a body that was not read to its end (its connection is closed, not reused)."""
        if self._raw is not None:
            raw, self._raw = self._raw, None
            self._finish(raw, False)

    def raise_for_status(self):
        if self.status_code >= 400:
            raise HTTPStatusError(self)


def _describe(exc):
    """A short, readable reason for a socket, TLS or HTTP parsing failure."""
    if isinstance(exc, http_client.RemoteDisconnected):
        return 'the server closed the connection without an answer'
    if isinstance(exc, socket.gaierror):
        return 'the host name does not resolve (%s)' % (exc.strerror or exc)
    if isinstance(exc, ssl.SSLError):
        return exc.reason or exc.strerror or str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(exc, ConnectionResetError):
        return 'connection reset by the peer'
    if isinstance(exc, BrokenPipeError):
        return 'the connection was closed while the request was being sent'
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _env(environ, name):
    """An environment variable as curl reads it: the lower-case name first, then the upper-case one."""
    return environ.get(name.lower()) or environ.get(name.upper()) or None


def _host_port(text):
    """(host, port or None) of ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 literal (no port)."""
    if text.startswith('['):
        host, dummy, rest = text[1:].partition(']')
        port = rest[1:] if rest.startswith(':') else ''
        return host.lower(), int(port) if port.isdigit() else None
    if text.count(':') == 1:
        host, dummy, port = text.partition(':')
        if port.isdigit():
            return host.lower(), int(port)
    return text.lower(), None


def bypasses_proxy(host, port, no_proxy):
    """Whether ``no_proxy`` (comma- or space-separated) exempts host:port from the proxy."""
    host = host.lower().strip('[]')
    address = None
    for entry in no_proxy.replace(' ', ',').split(','):
        entry = entry.strip()
        if not entry:
            continue
        if entry == '*':
            return True
        if '/' in entry:
            # only a CIDR entry needs it
            import ipaddress  # pylint: disable=import-outside-toplevel
            try:
                if address is None:
                    address = ipaddress.ip_address(host)
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, entry_port = _host_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        name = name.lstrip('.').lstrip('*').lstrip('.')
        if host == name or host.endswith('.' + name):
            return True
    return False


class Proxy:
    """An http:// proxy from the environment: where to connect, and the Proxy-Authorization to send."""

    def __init__(self, url, variable):
        text = url if '://' in url else 'http://' + url
        parts = urlsplit(text)
        if parts.scheme.lower() != 'http' or not parts.hostname:
            raise ValueError('%s names a proxy that is not an http:// URL (%s://%s). Only http:// proxies are supported '
                             '(HTTPS to the API still goes through them as an end-to-end TLS tunnel): set it to '
                             'http://host:port, or add the API and login hosts to NO_PROXY.'
                             % (variable, parts.scheme, parts.hostname or ''))
        self.host = parts.hostname
        self.port = parts.port or 80
        self.name = 'the proxy %s:%d (%s)' % (self.host, self.port, variable)
        self.headers = {}
        if parts.username is not None:
            credentials = '%s:%s' % (unquote(parts.username), unquote(parts.password or ''))
            self.headers['Proxy-Authorization'] = 'Basic ' + base64.b64encode(credentials.encode('utf-8')).decode('ascii')


def proxy_for(scheme, host, port, environ=None):
    """The Proxy of the environment for an https URL, or None (direct)."""
    if scheme != 'https':
        return None
    environ = os.environ if environ is None else environ
    for variable in ('https_proxy', 'all_proxy'):
        url = _env(environ, variable)
        if url:
            no_proxy = _env(environ, 'no_proxy')
            if no_proxy and bypasses_proxy(host, port, no_proxy):
                return None
            name = variable if environ.get(variable) else variable.upper()
            return Proxy(url, name)
    return None


def ssl_context(verify, environ=None):
    """The TLS context for ``verify``: True (the environment's or system's CAs), a CA path, or False."""
    environ = os.environ if environ is None else environ
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    bundle = verify if isinstance(verify, str) else (environ.get('REQUESTS_CA_BUNDLE') or environ.get('CURL_CA_BUNDLE'))
    if bundle:
        if os.path.isdir(bundle):
            return ssl.create_default_context(capath=bundle)
        return ssl.create_default_context(cafile=bundle)
    context = ssl.create_default_context()
    paths = ssl.get_default_verify_paths()
    if not (paths.cafile and os.path.exists(paths.cafile)) and not (paths.capath and os.path.isdir(paths.capath)):
        try:
            # a system without a trust store of its own
            import certifi  # pylint: disable=import-outside-toplevel
        except ImportError:
            pass
        else:
            context.load_verify_locations(cafile=certifi.where())
    return context


class _HTTPSConnection(http_client.HTTPSConnection):
    """An HTTPS connection whose connect timeout and read timeout differ."""

    def __init__(self, host, port, context, connect_timeout, read_timeout):
        http_client.HTTPSConnection.__init__(self, host, port, timeout=connect_timeout, context=context)
        self.read_timeout = read_timeout

    def connect(self):
        http_client.HTTPSConnection.connect(self)
        self.sock.settimeout(self.read_timeout)


class _HTTPConnection(http_client.HTTPConnection):

    def __init__(self, host, port, connect_timeout, read_timeout):
        http_client.HTTPConnection.__init__(self, host, port, timeout=connect_timeout)
        self.read_timeout = read_timeout

    def connect(self):
        http_client.HTTPConnection.connect(self)
        self.sock.settimeout(self.read_timeout)


def _dropped(conn):
    """Whether an idle kept-alive connection was closed by the server (readable while idle: EOF or junk)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class Transport:
    """HTTP requests with fixed TLS settings (``verify``), a default ``timeout`` and a User-Agent.

    ``request`` has the keywords of ``requests.Session.request`` that the collection and msal use
    (``params``, ``data``: bytes, str or a dict to form-encode, ``headers``, ``timeout``, ``stream``),
    plus ``proxy`` (False: never through a proxy) and ``connect_timeout``.
    """

    def __init__(self, verify, timeout, user_agent=None, environ=None):
        self.verify = verify
        self.timeout = timeout
        self.user_agent = user_agent
        self.environ = os.environ if environ is None else environ
        self._context = None
        self._idle = {}

    def context(self):
        if self._context is None:
            self._context = ssl_context(self.verify, self.environ)
        return self._context

    def get(self, url, **kwargs):
        return self.request('GET', url, **kwargs)

    def post(self, url, **kwargs):
        return self.request('POST', url, **kwargs)

    def close(self):
        for conn in self._idle.values():
            conn.close()
        self._idle.clear()

    def request(self, method, url, params=None, data=None, headers=None, timeout=None, stream=False, proxy=True,
                connect_timeout=None, **ignored):  # pylint: disable=unused-argument
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            raise TransportError('%s is not an http(s) URL' % _safe_url(url), 'not_sent')
        host = parts.hostname
        port = parts.port or DEFAULT_PORTS[scheme]
        target = (parts.path or '/') + ('?' + parts.query if parts.query else '')
        if params:
            target += ('&' if parts.query else '?') + urlencode(params)
        body = data
        send_headers = {}
        if self.user_agent:
            send_headers['User-Agent'] = self.user_agent
        if isinstance(body, dict):
            body = urlencode(body)
            send_headers['Content-Type'] = 'application/x-www-form-urlencoded'
        if isinstance(body, str):
            body = body.encode('utf-8')
        send_headers.update(headers or {})
        if body is None and method in ('POST', 'PUT', 'PATCH'):
            body = b''
        if timeout is None:
            timeout = self.timeout
        if isinstance(timeout, tuple):
            connect_timeout, timeout = timeout
        if connect_timeout is None:
            connect_timeout = timeout

        try:
            via = proxy_for(scheme, host, port, self.environ) if proxy else None
        except ValueError as exc:
            raise TransportError(str(exc), 'config')
        key = (scheme, host, port, via.host if via else None, via.port if via else None)
        conn = self._idle.pop(key, None)
        if conn is not None and _dropped(conn):
            conn.close()
            conn = None
        if conn is None:
            conn = self._connect(scheme, host, port, via, connect_timeout, timeout)
        else:
            conn.sock.settimeout(timeout)
        try:
            conn.request(method, target, body=body, headers=send_headers)
        except socket.timeout:
            conn.close()
            raise TransportError('the request could not be sent within the timeout', 'timeout')
        except (OSError, http_client.HTTPException) as exc:
            conn.close()
            raise TransportError(_describe(exc), 'broken')
        try:
            raw = conn.getresponse()
        except socket.timeout:
            conn.close()
            raise TransportError('no answer within the timeout', 'timeout')
        except (OSError, http_client.HTTPException) as exc:
            conn.close()
            raise TransportError(_describe(exc), 'broken')

        def release(reusable):
            if reusable and conn.sock is not None:
                old = self._idle.pop(key, None)
                if old is not None:
                    old.close()
                self._idle[key] = conn
            else:
                conn.close()

        response = Response(raw.status, raw.msg, url, raw=raw, release=release)
        if method == 'HEAD' or raw.status in (204, 304) or 100 <= raw.status < 200:
            response._content = b''  # pylint: disable=protected-access
            response._finish(raw, True)  # pylint: disable=protected-access
            response._raw = None  # pylint: disable=protected-access
        elif not stream:
            # read it all: the connection is free again
            response.content  # pylint: disable=pointless-statement
        return response

    def _connect(self, scheme, host, port, via, connect_timeout, read_timeout):
        if scheme == 'https':
            conn = _HTTPSConnection(via.host if via else host, via.port if via else port, self.context(), connect_timeout, read_timeout)
            if via:
                conn.set_tunnel(host, port, headers=via.headers)
        else:
            conn = _HTTPConnection(host, port, connect_timeout, read_timeout)
        peer = via.name if via else 'the host'
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise TransportError(exc.verify_message or exc.reason or str(exc), 'tls')
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            conn.close()
            raise TransportError('the connection closed during the TLS handshake', 'not_sent')
        except ssl.SSLError as exc:
            conn.close()
            raise TransportError('the TLS handshake failed (%s)' % _describe(exc), 'tls')
        except socket.timeout:
            conn.close()
            raise TransportError('%s did not accept a connection within %s s' % (peer, connect_timeout), 'not_sent')
        except OSError as exc:
            conn.close()
            text = str(exc)
            if text.startswith('Tunnel connection failed'):
                # http.client's CONNECT refusal: "Tunnel connection failed: 407 Proxy Authentication Required"
                raise TransportError('%s refused the tunnel: %s' % (via.name if via else 'the proxy', text.partition(': ')[2] or text),
                                     'not_sent')
            raise TransportError(('%s: %s' % (via.name, _describe(exc))) if via else _describe(exc), 'not_sent')
        except http_client.HTTPException as exc:
            conn.close()
            raise TransportError(('%s: %s' % (via.name, _describe(exc))) if via else _describe(exc), 'not_sent')
        return conn
