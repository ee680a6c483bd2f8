# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secretless sign-in, emulated (issue 15).

* A test OIDC issuer on the login host, ``{authority_host}/federation/issuer``: OpenID discovery
  (``/.well-known/openid-configuration``) and JWKS (``/keys``), signing with a key of its own.
  ``POST /control/federation/token`` mints a token of that issuer for a subject, with a chosen
  audience, lifetime and not-before (what GitHub Actions, Kubernetes or Azure DevOps would issue).
* Federated credentials of apps (issuer, subject, audiences): the token endpoint accepts a
  ``client_assertion`` that is not the app's own certificate assertion when it matches one of the
  app's federated credentials, its signature verifies against the issuer's keys, and it is within
  ``nbf``..``exp``; otherwise Entra ID's errors: AADSTS700211 (issuer), AADSTS700213 (subject),
  AADSTS700212 (audience), AADSTS700024 (time range), AADSTS700027 (signature), AADSTS50027 (not a JWT).
  ``GET/POST/DELETE /control/federation/credentials`` list, add and restore them.
* Managed identity endpoints on the plain-HTTP identity host (as the real ones: App Service's is
  ``http://localhost:port``, IMDS ``http://169.254.169.254``), issuing access tokens for the
  configured identities (system-assigned, and one user-assigned by client ID):
  App Service style ``GET /msi/token?api-version=2019-08-01&resource=...`` that checks the
  ``X-IDENTITY-HEADER`` against IDENTITY_HEADER, and IMDS style
  ``GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=...`` that checks ``Metadata: true``
  (msal reaches it through ``AZURE_POD_IDENTITY_AUTHORITY_HOST``).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import threading
import time
import uuid

import jwt

from . import crypto
from .util import http_entra_timestamp, json_response

EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
DEFAULT_SUBJECT = "repo:contoso/mde-automation:environment:production"
ISSUER_PATH = "/federation/issuer"
MI_APP_SERVICE_PATH = "/msi/token"
MI_IMDS_PATH = "/metadata/identity/oauth2/token"


def _load(workdir, roles):
    """The managed identities, the identity header and the issuer key id: created once per workdir."""
    path = os.path.join(workdir, "federation.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    data = {
        "identity_header": secrets.token_urlsafe(24),
        "managed_identities": {
            "system": {"client_id": str(uuid.uuid4()), "display_name": "mde-controller-vm", "roles": list(roles)},
            "user": {"client_id": str(uuid.uuid4()), "display_name": "mde-automation-identity", "roles": list(roles)},
        },
    }
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)
    return data


class Federation(object):
    """Issuer, federated credentials, minted tokens and managed identities of one emulator."""

    def __init__(self, emu, roles):
        self.emu = emu
        self.data = _load(emu.workdir, roles)
        self.key, self.kid = crypto.ensure_signing_key(emu.workdir, "federation-issuer-key.pem")
        self.jwk = crypto.jwk_of(self.key.public_key(), self.kid)
        self.lock = threading.Lock()
        self.minted = []
        self.accepted = []  # the jti of each federated token exchanged, in order
        self.credentials = None
        self.restore_credentials()

    @property
    def issuer(self):
        return self.emu.authority_host + ISSUER_PATH

    def default_credentials(self):
        return [{"app": "default", "name": "ci-production", "issuer": self.issuer, "subject": DEFAULT_SUBJECT,
                 "audiences": [EXCHANGE_AUDIENCE]}]

    def restore_credentials(self):
        with self.lock:
            self.credentials = self.default_credentials() if self.emu.authority_host else None

    def list_credentials(self):
        with self.lock:
            if self.credentials is None:  # the login host's URL is known once the servers started
                self.credentials = self.default_credentials()
            return copy.deepcopy(self.credentials)

    def add_credential(self, data):
        if not isinstance(data, dict) or not isinstance(data.get("subject"), str) or not data["subject"]:
            raise ValueError("a federated credential needs a subject (and optionally app, name, issuer, audiences)")
        app = data.get("app", "default")
        if app not in self.emu.identity["apps"]:
            raise ValueError("unknown app %r" % app)
        audiences = data.get("audiences", [EXCHANGE_AUDIENCE])
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise ValueError("audiences must be a list of strings")
        record = {"app": app, "name": data.get("name") or "credential-%d" % len(self.list_credentials()),
                  "issuer": data.get("issuer") or self.issuer, "subject": data["subject"], "audiences": audiences}
        with self.lock:
            self.credentials.append(record)
        return record

    # ------------------------------------------------------------------ the issuer
    def mint(self, data):
        """A token of the test issuer (or of ``issuer``, still signed with this issuer's key)."""
        data = data or {}
        now = int(time.time())
        lifetime = data.get("lifetime", 600)
        not_before = data.get("not_before_in", 0)
        for name, value in (("lifetime", lifetime), ("not_before_in", not_before)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("%s must be a number of seconds (negative for the past)" % name)
        claims = {"iss": data.get("issuer") or self.issuer, "sub": data.get("subject") or DEFAULT_SUBJECT,
                  "aud": data.get("audience") or EXCHANGE_AUDIENCE, "iat": now, "nbf": int(now + not_before),
                  "exp": int(now + lifetime), "jti": str(uuid.uuid4())}
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        with self.lock:
            self.minted.append(token)
        return {"token": token, "claims": claims}

    def minted_tokens(self):
        with self.lock:
            return list(self.minted)

    def accepted_ids(self):
        with self.lock:
            return list(self.accepted)

    def discovery(self):
        return {"issuer": self.issuer, "jwks_uri": self.issuer + "/keys", "response_types_supported": ["id_token"],
                "subject_types_supported": ["public", "pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"]}

    # ------------------------------------------------------------------ the token endpoint's check
    def check(self, app, assertion):
        """None when ``assertion`` is a federated token that a federated credential of ``app`` trusts,
        else an error Response in Entra ID's shape."""
        from .entra import entra_error  # pylint: disable=import-outside-toplevel
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return entra_error(self.emu, 400, "invalid_request", 50027,
                               "JWT token is invalid or malformed.")
        issuer, subject, audience = claims.get("iss"), claims.get("sub"), claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        mine = [c for c in self.list_credentials() if c["app"] == app["name"]]
        same_issuer = [c for c in mine if c["issuer"] == issuer]
        if not same_issuer:
            return entra_error(self.emu, 400, "invalid_client", 700211,
                               "No matching federated identity record found for presented assertion issuer '%s'. Please "
                               "check your federated identity credential Subject, Audience and Issuer against the presented "
                               "assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation" % issuer)
        same_subject = [c for c in same_issuer if c["subject"] == subject]  # case-sensitive, as Entra ID's
        if not same_subject:
            return entra_error(self.emu, 400, "invalid_client", 700213,
                               "No matching federated identity record found for presented assertion subject '%s'. Check "
                               "your federated identity credential Subject, Audience and Issuer against the presented "
                               "assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation" % subject)
        if not [c for c in same_subject if set(c["audiences"]) & set(audiences)]:
            return entra_error(self.emu, 400, "invalid_client", 700212,
                               "No matching federated identity record found for presented assertion audience '%s'. Please "
                               "check your federated identity credential Subject, Audience and Issuer against the presented "
                               "assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
                               % ",".join(str(a) for a in audiences))
        if issuer != self.issuer or header.get("kid") != self.kid:
            return entra_error(self.emu, 401, "invalid_client", 700027,
                               "Client assertion failed signature validation. [Reason - The key was not found.]")
        try:
            jwt.decode(assertion, self.key.public_key(), algorithms=["RS256"], audience=audiences,
                       options={"require": ["exp", "iss", "sub", "aud"]}, leeway=0)
        except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
            return entra_error(self.emu, 400, "invalid_client", 700024,
                               "Client assertion is not within its valid time range. Current time: %s, assertion valid "
                               "from %s, expiry time of assertion %s. Review the documentation at "
                               "https://docs.microsoft.com/en-us/azure/active-directory/develop/"
                               "active-directory-certificate-credentials ." % (
                                   http_entra_timestamp(time.time()), http_entra_timestamp(claims.get("nbf") or 0),
                                   http_entra_timestamp(claims.get("exp") or 0)))
        except jwt.InvalidSignatureError:
            return entra_error(self.emu, 401, "invalid_client", 700027,
                               "Client assertion failed signature validation. [Reason - The provided signature value did "
                               "not match the expected signature value.]")
        except jwt.PyJWTError as exc:
            return entra_error(self.emu, 400, "invalid_request", 50027, "JWT token is invalid or malformed. [%s]" % exc)
        with self.lock:
            self.accepted.append(claims.get("jti"))
        return None

    # ------------------------------------------------------------------ managed identity
    def identity_by_client_id(self, client_id):
        """(name, identity) of a managed identity: the system-assigned one when ``client_id`` is None."""
        identities = self.data["managed_identities"]
        if client_id is None:
            return "system", identities["system"]
        for name, identity in identities.items():
            if identity["client_id"].lower() == client_id.lower():
                return name, identity
        return None, None

    def managed_identity_token(self, req, style):
        """A token of the App Service or IMDS endpoint (their answer shapes and header checks)."""
        emu = self.emu
        query = req.query
        if style == "app_service":
            if req.headers.get("X-IDENTITY-HEADER") != self.data["identity_header"]:
                return json_response(401, {"statusCode": 401, "message": "Unauthorized: the X-IDENTITY-HEADER is missing or wrong."})
            client_id = query.get("client_id")
        else:
            if (req.headers.get("Metadata") or "").lower() != "true":
                return json_response(400, {"error": "invalid_request", "error_description": "Required metadata header not specified"})
            if req.headers.get("X-Forwarded-For"):
                return json_response(400, {"error": "invalid_request", "error_description": "Request has X-Forwarded-For header"})
            client_id = query.get("client_id")
        if not query.get("api-version"):
            return json_response(400, {"error": "invalid_request", "error_description": "Required query variable 'api-version' is missing"})
        resource = (query.get("resource") or "").rstrip("/")
        name, identity = self.identity_by_client_id(client_id)
        if identity is None:
            if style == "app_service":
                return json_response(400, {"statusCode": 400, "message": "No managed identity found for the specified ClientId"})
            return json_response(400, {"error": "invalid_request", "error_description": "Identity not found"})
        if resource not in emu.accepted_resources:
            message = "AADSTS500011: The resource principal named %s was not found in the tenant named %s." % (resource, emu.tenant_id)
            if style == "app_service":
                return json_response(500, {"statusCode": 500, "message": message})
            return json_response(400, {"error": "invalid_resource", "error_description": message})
        req.log["client_id"] = identity["client_id"]
        app = dict(identity, name="managed-identity-%s" % name)
        access_token, lifetime, now = emu.issue_token(app, emu.audience_for(resource), "2", "managed_identity_%s" % style)
        body = {"access_token": access_token, "expires_on": str(now + lifetime), "resource": resource, "token_type": "Bearer",
                "client_id": identity["client_id"]}
        if style == "imds":
            body.update({"expires_in": str(lifetime), "ext_expires_in": str(lifetime), "not_before": str(now)})
        return json_response(200, body, headers={"Cache-Control": "no-store"})

    def settings(self):
        identities = self.data["managed_identities"]
        return {"issuer": self.issuer, "subject": DEFAULT_SUBJECT, "audience": EXCHANGE_AUDIENCE, "app": "default",
                "identity_header": self.data["identity_header"],
                "system_client_id": identities["system"]["client_id"], "user_client_id": identities["user"]["client_id"]}


# ---------------------------------------------------------------------- routing
def login_route(method, path):
    """(operation, handler) for the issuer's paths on the login host, or (None, None)."""
    if path == ISSUER_PATH + "/.well-known/openid-configuration":
        return "federation_discovery", (_discovery if method == "GET" else None)
    if path == ISSUER_PATH + "/keys":
        return "federation_jwks", (_jwks if method == "GET" else None)
    return None, None


def _discovery(emu, req):  # pylint: disable=unused-argument
    return json_response(200, emu.federation.discovery())


def _jwks(emu, req):  # pylint: disable=unused-argument
    return json_response(200, {"keys": [emu.federation.jwk]})


def identity_route(method, path):
    """(operation, handler) on the identity host."""
    if path == MI_APP_SERVICE_PATH:
        return "managed_identity_app_service", (_app_service if method == "GET" else None)
    if path == MI_IMDS_PATH:
        return "managed_identity_imds", (_imds if method == "GET" else None)
    return None, None


def _app_service(emu, req):
    return emu.federation.managed_identity_token(req, "app_service")


def _imds(emu, req):
    return emu.federation.managed_identity_token(req, "imds")


def process_identity(emu, req, op, handler):
    if op is None:
        return json_response(404, {"error": "not_found", "error_description": "Unknown endpoint %s" % req.path})
    if handler is None:
        return json_response(405, {"error": "invalid_request", "error_description": "Only GET is supported"})
    return handler(emu, req)


def control(emu, req, path, method, body):
    """The /control/federation/* calls, or None for another path."""
    fed = emu.federation
    if path == "/control/federation/token" and method == "POST":
        return json_response(200, fed.mint(body()))
    if path == "/control/federation/tokens" and method == "GET":
        return json_response(200, {"tokens": fed.minted_tokens(), "accepted": fed.accepted_ids()})
    if path == "/control/federation/credentials":
        if method == "GET":
            return json_response(200, {"credentials": fed.list_credentials()})
        if method == "POST":
            return json_response(201, fed.add_credential(body()))
        if method == "DELETE":
            fed.restore_credentials()
            return json_response(200, {"credentials": fed.list_credentials()})
    return None
