# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Emulated Entra ID (login host): OpenID discovery, JWKS, client-credentials token endpoints
(v2.0 with scope, v1 with resource), client secret and certificate (client_assertion) credentials."""

from __future__ import annotations

import base64
import hmac
import re
import time
import uuid
from urllib.parse import parse_qs

import jwt

from . import federation
from .util import http_entra_timestamp, json_response, new_guid

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RE_DISCOVERY = re.compile(r"^/([^/]+)/(v2\.0/)?\.well-known/openid-configuration$")
RE_TOKEN = re.compile(r"^/([^/]+)/oauth2/(v2\.0/)?token$")
RE_KEYS = re.compile(r"^/([^/]+)/discovery/(v2\.0/)?keys$")

NO_STORE = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}


def route(method, path):
    """(operation name, handler) for a login-host path, or (None, None)."""
    op, handler = federation.login_route(method, path)
    if op is not None:
        return op, handler
    if RE_DISCOVERY.match(path):
        return "openid_configuration", (discovery if method == "GET" else None)
    if RE_TOKEN.match(path):
        return "token", (token if method == "POST" else None)
    if RE_KEYS.match(path):
        return "jwks", (jwks if method == "GET" else None)
    return None, None


def entra_error(emu, status, error, code, message, headers=None):
    """An error in Entra ID's JSON shape."""
    trace_id, correlation_id = new_guid(), new_guid()
    stamp = http_entra_timestamp(time.time())
    body = {
        "error": error,
        "error_description": "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (
            code, message, trace_id, correlation_id, stamp),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": "%s/error?code=%d" % (emu.authority_host, code),
    }
    hdrs = dict(NO_STORE)
    hdrs.update(headers or {})
    return json_response(status, body, headers=hdrs)


def _unknown_tenant(emu, tenant, error="invalid_request"):
    return entra_error(
        emu, 400, error, 90002,
        "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct "
        "cloud. Check with your subscription administrator, this may happen if there are no active subscriptions "
        "for the tenant." % tenant)


def discovery(emu, req):
    tenant = RE_DISCOVERY.match(req.path).group(1)
    if not emu.is_tenant(tenant):
        return _unknown_tenant(emu, tenant, error="invalid_tenant")
    base = "%s/%s" % (emu.authority_host, emu.tenant_id)
    v2 = "/v2.0" if RE_DISCOVERY.match(req.path).group(2) else ""
    body = {
        "token_endpoint": "%s/oauth2%s/token" % (base, v2),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": "%s/discovery%s/keys" % (base, v2),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": "%s%s" % (base, v2) if v2 else "https://sts.windows.net/%s/" % emu.tenant_id,
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "%s/openid/userinfo" % emu.authority_host,
        "authorization_endpoint": "%s/oauth2%s/authorize" % (base, v2),
        "device_authorization_endpoint": "%s/oauth2%s/devicecode" % (base, v2),
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": "%s/oauth2%s/logout" % (base, v2),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                             "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                             "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": "%s/kerberos" % base,
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }
    return json_response(200, body)


def jwks(emu, req):
    tenant = RE_KEYS.match(req.path).group(1)
    if not emu.is_tenant(tenant):
        return _unknown_tenant(emu, tenant, error="invalid_tenant")
    return json_response(200, {"keys": [emu.jwk]})


def parse_form(req):
    """The urlencoded form of a token request (first value of each field)."""
    try:
        fields = parse_qs(req.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        fields = {}
    return {k: v[0] for k, v in fields.items()}


def redact_form(form):
    """The form as logged: secrets replaced."""
    return {k: ("<redacted>" if k in ("client_secret", "client_assertion", "password") else v) for k, v in form.items()}


def _basic_auth(req):
    value = req.headers.get("Authorization") or ""
    if not value.lower().startswith("basic "):
        return None, None
    try:
        raw = base64.b64decode(value[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None, None
    if ":" not in raw:
        return None, None
    user, _sep, password = raw.partition(":")
    return user, password


def _b64eq(presented, expected):
    """Compare base64 thumbprints whatever the alphabet (standard or url-safe) and padding."""
    def raw(value):
        value = str(value).strip().replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(value + "=" * (-len(value) % 4))
        except ValueError:
            return None
    left = raw(presented)
    return left is not None and hmac.compare_digest(left, raw(expected))


def _check_assertion(emu, app, tenant, client_id, assertion):
    """None when the client_assertion is valid for this app, else an error Response."""
    def bad(message):
        return entra_error(emu, 401, "invalid_client", 700027, message)
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        return bad("Client assertion failed signature validation. [Reason - The assertion is not a valid JWT.]")
    cert = app.get("_certificate")
    x5t_s256, x5t = header.get("x5t#S256"), header.get("x5t")
    presented = x5t_s256 or x5t or header.get("kid") or "<none>"
    if cert is None or not ((x5t_s256 and _b64eq(x5t_s256, cert["x5t#S256"])) or (x5t and _b64eq(x5t, cert["x5t"]))):
        return bad("The certificate with identifier used to sign the client assertion is not registered on "
                   "application. [Reason - The key was not found., Thumbprint of key used by client: '%s', "
                   "Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys "
                   "for app Id '%s'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments "
                   "to determine the corresponding service endpoint and "
                   "https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to "
                   "build a query request URL, such as "
                   "'https://graph.microsoft.com/beta/applications/%s']" % (presented, client_id, client_id))
    if header.get("alg") not in ("PS256", "RS256"):
        return bad("Client assertion failed signature validation. [Reason - The algorithm '%s' is not supported.]"
                   % header.get("alg"))
    audiences = ["%s/%s/oauth2/v2.0/token" % (emu.authority_host, t) for t in (tenant, emu.tenant_id)]
    audiences += ["%s/%s/oauth2/token" % (emu.authority_host, t) for t in (tenant, emu.tenant_id)]
    try:
        claims = jwt.decode(assertion, cert["public_key"], algorithms=[header["alg"]], audience=audiences,
                            options={"require": ["exp", "aud", "iss", "sub"]})
    except jwt.ExpiredSignatureError:
        return bad("Client assertion is not within its valid time range. Current time: %s, assertion valid from "
                   "-, expiry time of assertion -." % http_entra_timestamp(time.time()))
    except jwt.InvalidAudienceError:
        return bad("Client assertion audience claim does not match Realm issuer. Review the documentation at "
                   "https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials.")
    except jwt.InvalidSignatureError:
        return bad("Client assertion failed signature validation. [Reason - The provided signature value did not "
                   "match the expected signature value.]")
    except jwt.PyJWTError as exc:
        return bad("Client assertion failed validation. [Reason - %s]" % exc)
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return bad("Client assertion contains an invalid issuer or subject: both must be the client id '%s'." % client_id)
    return None


def token(emu, req):  # pylint: disable=too-many-return-statements,too-many-branches
    match = RE_TOKEN.match(req.path)
    tenant, v2 = match.group(1), bool(match.group(2))
    form = parse_form(req)
    req.log["body"] = redact_form(form)
    basic_id, basic_secret = _basic_auth(req)
    client_id = form.get("client_id") or basic_id
    req.log["client_id"] = client_id
    if not emu.is_tenant(tenant):
        return _unknown_tenant(emu, tenant)
    grant = form.get("grant_type")
    if not grant:
        return entra_error(emu, 400, "invalid_request", 900144,
                           "The request body must contain the following parameter: 'grant_type'.")
    if grant != "client_credentials":
        return entra_error(emu, 400, "unsupported_grant_type", 70003,
                           "The app requested an unsupported grant type '%s'." % grant)
    if not client_id:
        return entra_error(emu, 400, "invalid_request", 900144,
                           "The request body must contain the following parameter: 'client_id'.")
    # resource / scope
    if v2:
        scope = (form.get("scope") or "").strip()
        if not scope:
            return entra_error(emu, 400, "invalid_request", 900144,
                               "The request body must contain the following parameter: 'scope'.")
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return entra_error(emu, 400, "invalid_scope", 1002012,
                               "The provided value for scope %s is not valid. Client credential flows must have a scope "
                               "value with /.default suffixed to the resource identifier (application ID URI)." % scope)
        resource = scopes[0][:-len("/.default")]
    else:
        resource = (form.get("resource") or "").strip().rstrip("/")
        if not resource:
            return entra_error(emu, 400, "invalid_request", 900144,
                               "The request body must contain the following parameter: 'resource'.")
    app = emu.app_by_client_id(client_id)
    if app is None:
        return entra_error(
            emu, 400, "unauthorized_client", 700016,
            "Application with identifier '%s' was not found in the directory '%s'. This can happen if the "
            "application has not been installed by the administrator of the tenant or consented to by any user in "
            "the tenant. You may have sent your authentication request to the wrong tenant." % (client_id, tenant))
    if resource.rstrip("/") not in emu.accepted_resources:
        return entra_error(
            emu, 400, "invalid_resource" if not v2 else "invalid_scope", 500011,
            "The resource principal named %s was not found in the tenant named %s. This can happen if the "
            "application has not been installed by the administrator of the tenant or consented to by any user in "
            "the tenant. You might have sent your authentication request to the wrong tenant." % (resource, tenant))
    secret = form.get("client_secret") or basic_secret
    assertion = form.get("client_assertion")
    if assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return entra_error(emu, 400, "invalid_request", 700023,
                               "Client assertion type is not supported. Expected '%s'." % ASSERTION_TYPE)
        if decode_unverified(assertion).get("iss") not in (None, client_id):
            # not the app's own (certificate) assertion: a federated token (workload identity federation)
            failure = emu.federation.check(app, assertion)
        else:
            failure = _check_assertion(emu, app, tenant, client_id, assertion)
        if failure is not None:
            return failure
        acr = "2"
    elif secret:
        if not app.get("client_secret") or not hmac.compare_digest(secret.encode(), app["client_secret"].encode()):
            return entra_error(
                emu, 401, "invalid_client", 7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                "value, not the client secret ID, for a secret added to app '%s'." % client_id)
        acr = "1"
    else:
        return entra_error(emu, 401, "invalid_client", 7000218,
                           "The request body must contain the following parameter: 'client_assertion' or "
                           "'client_secret'.")
    audience = emu.audience_for(resource)
    access_token, lifetime, now = emu.issue_token(app, audience, acr, "v2" if v2 else "v1")
    if v2:
        body = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                "access_token": access_token}
    else:
        body = {"token_type": "Bearer", "expires_in": str(lifetime), "ext_expires_in": str(lifetime),
                "expires_on": str(now + lifetime), "not_before": str(now), "resource": resource,
                "access_token": access_token}
    return json_response(200, body, headers=NO_STORE)


def decode_unverified(access_token):
    """Claims of a token without verification (for the request log), or {}."""
    try:
        return jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


def new_jti():
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
