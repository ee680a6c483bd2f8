# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Entra ID emulation with msal, and bearer-token checks on the API."""

from __future__ import annotations

import msal
import pytest
import requests
from mde_emulator.client import ControlError

from conftest import Api, error_code, get_token

WEB = "7c3f1b9e2a4d6f8e0b1c3d5e7f9a2b4c6d8e0f1a"


def _session(ca_path):
    class _Verified(requests.Session):
        def request(self, *args, **kwargs):  # pylint: disable=arguments-differ
            kwargs["verify"] = ca_path
            return super().request(*args, **kwargs)
    return _Verified()


def _msal(settings, client_id, credential):
    return msal.ConfidentialClientApplication(
        client_id, client_credential=credential, authority="%s/%s" % (settings["authority_host"], settings["tenant_id"]),
        instance_discovery=False, http_client=_session(settings["ca_path"]))


def _works_on_api(settings, token):
    resp = Api(settings, token).get("/api/machineactions?$top=1")
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["value"]) == 1


def test_msal_client_secret(settings, ctl):  # pylint: disable=unused-argument
    app = settings["apps"]["default"]
    result = _msal(settings, app["client_id"], app["client_secret"]).acquire_token_for_client([settings["scope"]])
    assert result.get("token_type") == "Bearer", result
    assert result["expires_in"] > 3000
    _works_on_api(settings, result["access_token"])


def test_msal_certificate_pem(settings, ctl):  # pylint: disable=unused-argument
    app = settings["apps"]["cert"]
    with open(app["certificate_path"], encoding="utf-8") as handle:
        pem = handle.read()
    with open(app["public_certificate_path"], encoding="utf-8") as handle:
        public = handle.read()
    result = _msal(settings, app["client_id"], {"private_key": pem, "public_certificate": public}) \
        .acquire_token_for_client([settings["scope"]])
    assert "access_token" in result, result
    _works_on_api(settings, result["access_token"])
    # only a SHA-1 thumbprint: msal signs RS256 with x5t
    result = _msal(settings, app["client_id"], {"private_key": pem, "thumbprint": app["thumbprint_sha1"]}) \
        .acquire_token_for_client([settings["scope"]])
    assert "access_token" in result, result


def test_msal_certificate_pfx_and_encrypted_pem(settings, ctl):  # pylint: disable=unused-argument
    app = settings["apps"]["cert"]
    credential = {"private_key_pfx_path": app["pfx_path"], "passphrase": app["certificate_password"]}
    result = _msal(settings, app["client_id"], credential).acquire_token_for_client([settings["scope"]])
    assert "access_token" in result, result
    _works_on_api(settings, result["access_token"])
    with open(app["certificate_pem_encrypted_path"], encoding="utf-8") as handle:
        pem = handle.read()
    credential = {"private_key": pem, "thumbprint": app["thumbprint_sha1"], "passphrase": app["certificate_password"]}
    result = _msal(settings, app["client_id"], credential).acquire_token_for_client([settings["scope"]])
    assert "access_token" in result, result


def test_wrong_certificate_rejected(settings, ctl, tmp_path):  # pylint: disable=unused-argument
    from mde_emulator import crypto  # pylint: disable=import-outside-toplevel
    paths = crypto.create_client_certificate(str(tmp_path), "intruder", "pw")
    with open(paths["certificate_path"], encoding="utf-8") as handle:
        pem = handle.read()
    with open(paths["public_certificate_path"], encoding="utf-8") as handle:
        public = handle.read()
    result = _msal(settings, settings["apps"]["cert"]["client_id"], {"private_key": pem, "public_certificate": public}) \
        .acquire_token_for_client([settings["scope"]])
    assert result.get("error") == "invalid_client"
    assert 700027 in result["error_codes"]


def test_wrong_secret_like_entra(settings, ctl):  # pylint: disable=unused-argument
    app = settings["apps"]["default"]
    result = _msal(settings, app["client_id"], "not-the-secret").acquire_token_for_client([settings["scope"]])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert "\r\nTrace ID: " in result["error_description"] and "\r\nCorrelation ID: " in result["error_description"]
    for key in ("timestamp", "trace_id", "correlation_id", "error_uri"):
        assert key in result
    resp = requests.post("%s/%s/oauth2/v2.0/token" % (settings["authority_host"], settings["tenant_id"]),
                         data={"grant_type": "client_credentials", "client_id": app["client_id"],
                               "client_secret": "nope", "scope": settings["scope"]}, verify=settings["ca_path"])
    assert resp.status_code == 401


def _token_call(settings, tenant=None, **form):
    data = {"grant_type": "client_credentials"}
    data.update(form)
    return requests.post("%s/%s/oauth2/v2.0/token" % (settings["authority_host"], tenant or settings["tenant_id"]),
                         data=data, verify=settings["ca_path"])


def test_token_errors(settings, ctl):  # pylint: disable=unused-argument
    app = settings["apps"]["default"]
    resp = _token_call(settings, client_id="11111111-1111-1111-1111-111111111111", client_secret="x",
                       scope=settings["scope"])
    assert resp.status_code == 400 and resp.json()["error"] == "unauthorized_client"
    assert resp.json()["error_codes"] == [700016]
    resp = _token_call(settings, tenant="00000000-0000-0000-0000-000000000001", client_id=app["client_id"],
                       client_secret=app["client_secret"], scope=settings["scope"])
    assert resp.status_code == 400 and resp.json()["error_codes"] == [90002]
    resp = _token_call(settings, client_id=app["client_id"], client_secret=app["client_secret"],
                       scope="https://api.security.microsoft.com/.default")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_scope"
    assert resp.json()["error_codes"] == [500011]
    resp = _token_call(settings, client_id=app["client_id"], client_secret=app["client_secret"],
                       scope="https://api.securitycenter.microsoft.com/Machine.Read.All")
    assert resp.status_code == 400 and resp.json()["error_codes"] == [1002012]
    resp = _token_call(settings, client_id=app["client_id"], client_secret=app["client_secret"],
                       scope="https://securitycenter.onmicrosoft.com/windowsatpservice/.default")
    assert resp.status_code == 200
    _works_on_api(settings, resp.json()["access_token"])
    disc = requests.get("%s/%s/v2.0/.well-known/openid-configuration" % (settings["authority_host"], "nope"),
                        verify=settings["ca_path"])
    assert disc.status_code == 400 and disc.json()["error"] == "invalid_tenant"


def test_v1_endpoint(settings, ctl):  # pylint: disable=unused-argument
    app = settings["apps"]["default"]
    resp = requests.post("%s/%s/oauth2/token" % (settings["authority_host"], settings["tenant_id"]),
                         data={"grant_type": "client_credentials", "client_id": app["client_id"],
                               "client_secret": app["client_secret"],
                               "resource": "https://api.securitycenter.microsoft.com"}, verify=settings["ca_path"])
    assert resp.status_code == 200
    body = resp.json()
    assert body["expires_in"] == "3599" and body["resource"] == "https://api.securitycenter.microsoft.com"
    _works_on_api(settings, body["access_token"])


def test_api_401_and_403(settings, ctl):
    resp = Api(settings, None).get("/api/machineactions")
    assert resp.status_code == 401 and error_code(resp) == "Unauthorized"
    resp = Api(settings, "garbage").get("/api/machineactions")
    assert resp.status_code == 401
    token = get_token(settings)
    assert Api(settings, token).get("/api/machines").status_code == 200
    ctl.expire_tokens()
    resp = Api(settings, token).get("/api/machines")
    assert resp.status_code == 401 and "expired" in resp.json()["error"]["message"]
    assert any(t["access_token"] == token for t in ctl.tokens())
    ro_api = Api(settings, get_token(settings, "readonly"))
    assert ro_api.get("/api/machines/%s" % WEB).status_code == 200
    resp = ro_api.post("/api/machines/%s/isolate" % WEB, {"Comment": "x", "IsolationType": "Full"})
    assert resp.status_code == 403 and error_code(resp) == "Forbidden"
    assert resp.json()["error"]["message"] == ("Missing application roles. API required roles: Machine.Isolate, "
                                               "application roles: Machine.Read.All.")


def test_granted_roles_reach_only_tokens_issued_after_the_grant(settings, ctl):
    """As Entra ID: the roles claim is written at issue time; a grant does not change a token already issued."""
    import jwt  # pylint: disable=import-outside-toplevel
    isolate = "/api/machines/%s/isolate" % WEB
    body = {"Comment": "x", "IsolationType": "Full"}
    assert ctl.app_roles("readonly") == ["Machine.Read.All"]
    old = get_token(settings, "readonly")
    assert ctl.change_roles("readonly", grant=["Machine.Isolate"]) == ["Machine.Read.All", "Machine.Isolate"]
    assert Api(settings, old).post(isolate, body).status_code == 403
    new = get_token(settings, "readonly")
    assert jwt.decode(new, options={"verify_signature": False})["roles"] == ["Machine.Read.All", "Machine.Isolate"]
    assert Api(settings, new).post(isolate, body).status_code == 201
    assert ctl.change_roles("readonly", revoke=["Machine.Isolate"]) == ["Machine.Read.All"]
    resp = Api(settings, get_token(settings, "readonly")).post("/api/machines/%s/unisolate" % WEB, {"Comment": "x"})
    assert resp.status_code == 403 and error_code(resp) == "Forbidden"
    ctl.change_roles("readonly", grant=["Machine.Scan"])
    ctl.reset("demo")
    assert ctl.app_roles("readonly") == ["Machine.Read.All"]
    for bad in ({"grant": ["Machine.Fly"]}, {"grant": "Machine.Scan"}):
        with pytest.raises(ControlError) as info:
            ctl.call("POST", "/control/apps/readonly/roles", bad)
        assert info.value.status == 400
    with pytest.raises(ControlError) as info:
        ctl.change_roles("nobody", grant=["Machine.Scan"])
    assert info.value.status == 400 and "unknown app" in info.value.body


def test_token_lifetime_config(settings, ctl):
    ctl.set_config(token_lifetime=120)
    app = settings["apps"]["default"]
    resp = _token_call(settings, client_id=app["client_id"], client_secret=app["client_secret"],
                       scope=settings["scope"])
    assert resp.json()["expires_in"] == 120
