# -*- coding: utf-8 -*-
# Copyright (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The real ``_transport.Transport`` against loopback servers started by each test (tests/unit/.../mde_loopback.py):
what is sent, keep-alive, TLS verification, proxies (CONNECT tunnels, NO_PROXY) and the ``kind`` of every
failure. Proxies come from the ``environ`` given to the Transport, never from this process's environment;
the CA variables (read from os.environ) are cleared for every test."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import gzip
import json
import socket

from urllib.parse import parse_qs

import pytest

from ansible_collections.defender.endpoint.plugins.module_utils import _transport
from ansible_collections.defender.endpoint.plugins.module_utils._transport import TransportError, bypasses_proxy, proxy_for
from ansible_collections.defender.endpoint.tests.unit.plugins.module_utils.mde_loopback import (
    JOIN, Loopback, answer, connect_proxy, read_request, self_signed,
)

USER_AGENT = 'defender.endpoint-unit/1.0'


@pytest.fixture(scope='module')
def cert(tmp_path_factory):
    """(certificate, key) paths of a self-signed certificate for 127.0.0.1."""
    return self_signed(tmp_path_factory.mktemp('tls'))


@pytest.fixture(autouse=True)
def no_ca_variables(monkeypatch):
    for name in ('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def transport():
    """Transport(verify, timeout=5.0, environ={}, ...) factory; every one made is closed after the test."""
    made = []

    def make(verify=True, timeout=5.0, environ=None):
        result = _transport.Transport(verify, timeout, USER_AGENT, environ={} if environ is None else environ)
        made.append(result)
        return result

    yield make
    for each in made:
        each.close()


def failure(call, *args, **kwargs):
    """The TransportError that ``call`` raises."""
    with pytest.raises(TransportError) as info:
        call(*args, **kwargs)
    return info.value


# Handlers: each serves one accepted connection ------------------------------------------------

def serve_json(conn, server):
    """Record every request of the connection and answer each with 200 and a JSON body (keep-alive)."""
    while True:
        request = read_request(conn)
        if request is None:
            return
        server.requests.append(request)
        answer(conn, 200, json.dumps({'n': len(server.requests)}).encode('utf-8'), headers={'Content-Type': 'application/json'})


def answer_then_close(conn, server):
    """Answer one request as if the connection stayed open, then close it while the client keeps it idle."""
    server.requests.append(read_request(conn))
    answer(conn, 200, b'{}', headers={'Content-Type': 'application/json'})
    conn.close()
    server.events['closed'].set()


def silent(conn, server):
    """Read the request and never answer (until the server is closed)."""
    server.requests.append(read_request(conn))
    server.events['asked'].set()
    server.release.wait(JOIN)


def short_body(conn, server):
    """Announce 10 bytes of body, send 3, close."""
    server.requests.append(read_request(conn))
    answer(conn, 200, b'abc', length=10)


def hang_up(conn, server):
    """Read the request and close without answering."""
    server.requests.append(read_request(conn))


BIG = json.dumps({'value': [{'id': n, 'status': 'Succeeded'} for n in range(500)]}).encode('utf-8')


def gzipped(conn, server):
    server.requests.append(read_request(conn))
    answer(conn, 200, gzip.compress(BIG), headers={'Content-Type': 'application/json', 'Content-Encoding': 'gzip'})


# What is sent -----------------------------------------------------------------------------------

def test_get_and_post_with_a_json_body(transport):
    with Loopback(serve_json) as server:
        session = transport()
        response = session.get(server.url('/api/machines?$top=1'), headers={'Accept': 'application/json'})
        assert response.status_code == 200 and response.json() == {'n': 1}
        assert response.headers['content-type'] == 'application/json'  # case-insensitive
        body = json.dumps({'Comment': 'INC-1 é'})
        response = session.post(server.url('/api/machines/m1/isolate'), data=body, headers={'Content-Type': 'application/json'})
        assert response.status_code == 200 and response.json() == {'n': 2}
    get, post = server.requests
    assert (get.method, get.target) == ('GET', '/api/machines?$top=1')
    assert get.headers['user-agent'] == USER_AGENT and get.headers['accept'] == 'application/json'
    assert (post.method, post.target) == ('POST', '/api/machines/m1/isolate')
    assert post.headers['user-agent'] == USER_AGENT and post.headers['content-type'] == 'application/json'
    assert post.body == body.encode('utf-8') and post.headers['content-length'] == str(len(body.encode('utf-8')))


def test_form_post_as_msal_sends_it(transport):
    """msal's shape: post(url, data={dict}, headers=..., params=...): form-encoded body, params in the query."""
    form = {'client_id': 'client-a', 'scope': 'https://api.mde.test/.default', 'grant_type': 'client_credentials',
            'client_secret': 'a&b=c d'}
    with Loopback(serve_json) as server:
        response = transport().post(server.url('/tenant-a/oauth2/v2.0/token'), data=form,
                                    headers={'client-request-id': 'req-1', 'Accept': 'application/json'}, params={'api-version': '1.0'})
        assert response.status_code == 200
    request, = server.requests
    assert request.target == '/tenant-a/oauth2/v2.0/token?api-version=1.0'
    assert request.headers['content-type'] == 'application/x-www-form-urlencoded'
    assert request.headers['client-request-id'] == 'req-1'
    assert request.headers['content-length'] == str(len(request.body))
    assert {name: values[0] for name, values in parse_qs(request.body.decode('ascii')).items()} == form


def test_gzip_body_is_decoded(transport):
    with Loopback(gzipped) as server:
        response = transport().get(server.url('/api/machineactions'))
    assert response.content == BIG and response.json()['value'][499]['id'] == 499


# Keep-alive ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('tls', [False, True], ids=['http', 'https'])
def test_two_requests_share_one_connection(transport, cert, tls):
    with Loopback(serve_json, cert=cert if tls else None) as server:
        session = transport(verify=cert[0])
        assert session.get(server.url('/a')).json() == {'n': 1}
        assert session.post(server.url('/b'), data='{}').json() == {'n': 2}
        assert server.accepted == 1


def test_connection_the_server_closed_while_idle_is_replaced_before_sending(transport, cert):
    with Loopback(answer_then_close, cert=cert) as server:
        session = transport(verify=cert[0])
        assert session.get(server.url('/a')).status_code == 200
        assert server.events['closed'].wait(JOIN)
        assert session.post(server.url('/b'), data='{"Comment": "x"}').status_code == 200  # not sent on the dead connection
        assert server.accepted == 2
    assert [(r.method, r.target) for r in server.requests] == [('GET', '/a'), ('POST', '/b')]


# TLS ----------------------------------------------------------------------------------------------

def test_self_signed_certificate_fails_verification_as_tls(transport, cert):
    with Loopback(serve_json, cert=cert) as server:
        err = failure(transport(verify=True).get, server.url('/api/x'))
    assert err.kind == 'tls' and 'certificate' in err.reason
    assert server.requests == []


@pytest.mark.parametrize('verify', ['ca_path', False], ids=['verify-path', 'verify-false'])
def test_certificate_path_or_no_verification_connects(transport, cert, verify):
    with Loopback(serve_json, cert=cert) as server:
        assert transport(verify=cert[0] if verify == 'ca_path' else False).get(server.url('/api/x')).status_code == 200


@pytest.mark.parametrize('variable', ['REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE'])
def test_ca_bundle_variable_makes_verify_true_trust_the_certificate(transport, cert, variable):
    with Loopback(serve_json, cert=cert) as server:
        assert transport(verify=True, environ={variable: cert[0]}).get(server.url('/api/x')).status_code == 200


# Failures -----------------------------------------------------------------------------------------

def closed_port():
    """A loopback port that was bound, then closed: nothing listens there."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_connection_refused_is_not_sent(transport):
    err = failure(transport().post, 'http://127.0.0.1:%d/api/x' % closed_port(), data='{}')
    assert err.kind == 'not_sent' and err.reason == 'connection refused'


def test_no_answer_within_the_timeout_is_a_timeout(transport):
    with Loopback(silent) as server:
        err = failure(transport(timeout=0.5).post, server.url('/api/x'), data='{}')
        assert err.kind == 'timeout'
        assert server.events['asked'].wait(JOIN) and server.requests[0].method == 'POST'  # it was sent


@pytest.mark.parametrize('stream', [False, True], ids=['read', 'streamed'])
def test_body_shorter_than_its_content_length_is_broken(transport, stream):
    with Loopback(short_body) as server:
        session = transport()
        if not stream:
            err = failure(session.get, server.url('/package.zip'))
        else:
            response = session.get(server.url('/package.zip'), stream=True)
            assert response.status_code == 200
            received = []
            with pytest.raises(TransportError) as info:
                for chunk in response.iter_content(4):
                    received.append(chunk)
            err = info.value
            assert b''.join(received) == b'abc'
    assert err.kind == 'broken'


def test_server_closing_without_an_answer_is_broken(transport):
    with Loopback(hang_up) as server:
        err = failure(transport().post, server.url('/api/x'), data='{}')
    assert err.kind == 'broken'
    assert server.requests[0].method == 'POST'


# Proxies ------------------------------------------------------------------------------------------

def test_https_goes_through_the_proxy_tunnel_with_its_credentials(transport, cert):
    with Loopback(serve_json, cert=cert) as target, Loopback(connect_proxy()) as proxy:
        session = transport(verify=cert[0], environ={'HTTPS_PROXY': 'http://user:p%%40ss@127.0.0.1:%d' % proxy.port})
        assert session.get(target.url('/api/x')).json() == {'n': 1}
        assert session.get(target.url('/api/y')).json() == {'n': 2}  # the tunnel is kept alive too
        assert proxy.accepted == 1 and target.accepted == 1
    connect, = proxy.requests
    assert (connect.method, connect.target) == ('CONNECT', '127.0.0.1:%d' % target.port)
    assert connect.headers['proxy-authorization'] == 'Basic ' + base64.b64encode(b'user:p@ss').decode('ascii')
    assert [r.target for r in target.requests] == ['/api/x', '/api/y']
    assert all('proxy-authorization' not in r.headers for r in target.requests)  # end-to-end TLS: the API never sees them


def test_proxy_refusing_the_tunnel_is_not_sent_and_keeps_the_password_out(transport):
    with Loopback(connect_proxy(refuse=True)) as proxy:
        session = transport(environ={'HTTPS_PROXY': 'http://user:p%%40ss@127.0.0.1:%d' % proxy.port})
        err = failure(session.get, 'https://api.mde.test/api/machines')
    assert err.kind == 'not_sent'
    text = '%s %r %s' % (err, err, err.reason)
    assert '407' in text and 'HTTPS_PROXY' in text
    assert 'p@ss' not in text and 'p%40ss' not in text and 'user:' not in text
    assert base64.b64encode(b'user:p@ss').decode('ascii') not in text
    assert proxy.requests[0].target == 'api.mde.test:443'


@pytest.mark.parametrize('no_proxy', ['127.0.0.1', '127.0.0.0/8'])
def test_no_proxy_host_goes_direct(transport, cert, no_proxy):
    with Loopback(serve_json, cert=cert) as target, Loopback(connect_proxy()) as proxy:
        session = transport(verify=cert[0], environ={'HTTPS_PROXY': 'http://127.0.0.1:%d' % proxy.port, 'NO_PROXY': no_proxy})
        assert session.get(target.url('/api/x')).status_code == 200
        assert proxy.accepted == 0 and target.accepted == 1


def test_proxy_false_goes_direct_whatever_the_environment_says(transport, cert):
    """What LocalTransport asks for: the managed identity endpoint is never asked through a proxy."""
    with Loopback(serve_json, cert=cert) as target, Loopback(connect_proxy()) as proxy:
        proxy_url = 'http://127.0.0.1:%d' % proxy.port
        session = transport(verify=cert[0], environ={'HTTPS_PROXY': proxy_url, 'ALL_PROXY': proxy_url})
        assert session.get(target.url('/metadata/identity/oauth2/token'), proxy=False, timeout=(5.0, 5.0)).status_code == 200
        assert proxy.accepted == 0 and target.accepted == 1


def test_lower_case_https_proxy_wins_over_upper_case(transport, cert):
    with Loopback(serve_json, cert=cert) as target, Loopback(connect_proxy()) as lower, Loopback(connect_proxy()) as upper:
        session = transport(verify=cert[0], environ={'https_proxy': 'http://127.0.0.1:%d' % lower.port,
                                                     'HTTPS_PROXY': 'http://127.0.0.1:%d' % upper.port})
        assert session.get(target.url('/api/x')).status_code == 200
        assert lower.accepted == 1 and upper.accepted == 0


def test_https_proxy_url_is_a_config_error(transport):
    err = failure(transport(environ={'HTTPS_PROXY': 'https://proxy.example.com:3128'}).get, 'https://api.mde.test/api/machines')
    assert err.kind == 'config'
    assert 'HTTPS_PROXY' in err.reason and 'http://' in err.reason


# bypasses_proxy and proxy_for ---------------------------------------------------------------------

@pytest.mark.parametrize('host, port, no_proxy, expected', [
    ('api.example.com', 443, '*', True),
    ('api.example.com', 443, '.example.com', True),
    ('api.example.com', 443, 'example.com', True),
    ('API.Example.COM', 443, 'example.com', True),
    ('badexample.com', 443, '.example.com', False),
    ('badexample.com', 443, 'example.com', False),
    ('api.example.com', 443, 'other.test, example.com', True),
    ('api.example.com', 443, 'other.test example.com', True),
    ('api.example.com', 443, 'api.example.com:443', True),
    ('api.example.com', 8443, 'api.example.com:443', False),
    ('10.1.2.3', 443, '10.0.0.0/8', True),
    ('11.1.2.3', 443, '10.0.0.0/8', False),
    ('api.example.com', 443, '10.0.0.0/8', False),
    ('10.1.2.3', 443, '10.1.2.3', True),
    ('::1', 443, '::1', True),
    ('::1', 443, '[::1]', True),
    ('::1', 443, '[::1]:443', True),
    ('2001:db8::1', 443, '2001:db8::/32', True),
    ('2001:db8::1', 443, '2001:db8::2', False),
    ('api.example.com', 443, '', False),
])
def test_bypasses_proxy(host, port, no_proxy, expected):
    assert bypasses_proxy(host, port, no_proxy) is expected


@pytest.mark.parametrize('address', ['2001:db8::8a2e:370:7334', 'fe80::1:2'])
def test_bypasses_proxy_ipv6_literal_ending_in_digits(address):
    assert bypasses_proxy(address, 443, address) is True


def test_proxy_for_http_urls_is_never_a_proxy():
    names = ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY')
    environ = {name: 'http://proxy.example.com:3128' for name in names}
    assert proxy_for('http', '169.254.169.254', 80, environ) is None
    assert proxy_for('https', 'api.mde.test', 443, environ) is not None


def test_proxy_for_reads_https_then_all_proxy_and_credentials():
    via = proxy_for('https', 'api.mde.test', 443, {'ALL_PROXY': 'user:s%3Acret@proxy.example.com:3128'})
    assert (via.host, via.port) == ('proxy.example.com', 3128)
    assert via.headers == {'Proxy-Authorization': 'Basic ' + base64.b64encode(b'user:s:cret').decode('ascii')}
    assert 'ALL_PROXY' in via.name and 's:cret' not in via.name and 'user' not in via.name
    via = proxy_for('https', 'api.mde.test', 443, {'HTTPS_PROXY': 'http://first.example.com', 'ALL_PROXY': 'http://second.example.com'})
    assert (via.host, via.port, via.headers) == ('first.example.com', 80, {})
    assert proxy_for('https', 'api.mde.test', 443, {'HTTPS_PROXY': 'http://p.example.com', 'no_proxy': 'mde.test'}) is None
    assert proxy_for('https', 'api.mde.test', 443, {}) is None
