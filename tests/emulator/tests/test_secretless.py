# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Workload identity federation (test OIDC issuer, federated credentials, the token endpoint's
checks) and the managed identity endpoints, through the real msal where msal is the client."""
# pylint: disable=redefined-outer-name

from __future__ import annotations

import jwt
import msal
import pytest
import requests

from conftest import Api
from test_auth import _msal

AUDIENCE = "api://AzureADTokenExchange"


def _exchange(settings, assertion, client_id=None):
    """The token endpoint's answer to a federated token, as a raw POST (status and body)."""
    resp = requests.post("%s/%s/oauth2/v2.0/token" % (settings["authority_host"], settings["tenant_id"]), data={
        "grant_type": "client_credentials", "client_id": client_id or settings["apps"]["default"]["client_id"],
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion": assertion,
        "scope": settings["scope"]}, verify=settings["ca_path"], timeout=10)
    return resp.status_code, resp.json()


def test_the_issuer_publishes_discovery_and_keys_that_verify_its_tokens(settings, ctl):
    issuer = settings["federation"]["issuer"]
    conf = requests.get(issuer + "/.well-known/openid-configuration", verify=settings["ca_path"], timeout=10).json()
    assert conf["issuer"] == issuer and conf["jwks_uri"] == issuer + "/keys"
    keys = requests.get(conf["jwks_uri"], verify=settings["ca_path"], timeout=10).json()["keys"]
    token = ctl.mint_federated_token(subject="system:serviceaccount:mde:ansible")
    key = jwt.PyJWK(keys[0]).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=issuer)
    assert claims["sub"] == "system:serviceaccount:mde:ansible" and claims["exp"] > claims["iat"]
    assert token in ctl.federated_tokens()  # for the secret scan


def test_msal_exchanges_a_federated_token_for_an_api_token(settings, ctl):
    calls = []

    def assertion():
        calls.append(1)
        return ctl.mint_federated_token()

    result = _msal(settings, settings["apps"]["default"]["client_id"], {"client_assertion": assertion}) \
        .acquire_token_for_client([settings["scope"]])
    assert "access_token" in result, result
    assert calls == [1]
    assert ctl.accepted_federated_tokens()[-1] == jwt.decode(ctl.federated_tokens()[-1], options={"verify_signature": False})["jti"]
    assert Api(settings, result["access_token"]).get("/api/machineactions?$top=1").status_code == 200
    token = [t for t in ctl.tokens() if t["access_token"] == result["access_token"]][0]
    assert token["app"] == "default"


@pytest.mark.parametrize("claims, status, code, says", [
    ({"subject": "repo:contoso/other:ref:refs/heads/main"}, 400, 700213, "subject 'repo:contoso/other:ref:refs/heads/main'"),
    ({"subject": "REPO:contoso/mde-automation:environment:production"}, 400, 700213, "subject"),  # case-sensitive
    ({"audience": "api://wrong-audience"}, 400, 700212, "audience 'api://wrong-audience'"),
    ({"issuer": "https://token.actions.githubusercontent.com"}, 400, 700211, "issuer 'https://token.actions.githubusercontent.com'"),
    ({"lifetime": -60}, 400, 700024, "not within its valid time range"),
    ({"not_before_in": 600, "lifetime": 1200}, 400, 700024, "not within its valid time range"),
])
def test_a_federated_token_that_matches_no_credential_gets_entra_ids_error(settings, ctl, claims, status, code, says):
    got_status, body = _exchange(settings, ctl.mint_federated_token(**claims))
    assert got_status == status and body["error_codes"] == [code], body
    assert body["error_description"].startswith("AADSTS%d: " % code) and says in body["error_description"]


def test_a_forged_or_foreign_signature_is_refused(settings, ctl):
    good = ctl.mint_federated_token()
    header, payload, signature = good.split(".")
    forged = ".".join([header, payload, signature[::-1]])
    status, body = _exchange(settings, forged)
    assert status == 401 and body["error_codes"] == [700027]
    # a credential for another issuer: the token claims it, but the emulator's key signed it
    ctl.add_federated_credential(issuer="https://issuer.elsewhere.test", subject="ci")
    try:
        status, body = _exchange(settings, ctl.mint_federated_token(issuer="https://issuer.elsewhere.test", subject="ci"))
        assert status == 401 and body["error_codes"] == [700027]
    finally:
        ctl.restore_federated_credentials()


def test_credentials_belong_to_their_app(settings, ctl):
    # the readonly app has no federated credential: the same token is refused for it
    status, body = _exchange(settings, ctl.mint_federated_token(), client_id=settings["apps"]["readonly"]["client_id"])
    assert status == 400 and body["error_codes"] == [700211]
    ctl.add_federated_credential(app="readonly", subject="system:serviceaccount:mde:reader")
    try:
        status, body = _exchange(settings, ctl.mint_federated_token(subject="system:serviceaccount:mde:reader"),
                                 client_id=settings["apps"]["readonly"]["client_id"])
        assert status == 200 and body["access_token"], body
        assert len(ctl.federated_credentials()) == 2
    finally:
        assert len(ctl.restore_federated_credentials()) == 1


def test_not_a_jwt(settings, ctl):  # pylint: disable=unused-argument
    status, body = _exchange(settings, "header.payload.signature")
    assert status in (400, 401) and body["error"] in ("invalid_request", "invalid_client")


# managed identity ------------------------------------------------------------------------------------

def _mi_get(settings, path, headers, **params):
    params.setdefault("resource", settings["scope"][:-len("/.default")])
    return requests.get(settings["identity_url"] + path, params=params, headers=headers, timeout=10)


def test_the_identity_host_is_plain_http(settings):
    assert settings["identity_url"].startswith("http://127.0.0.1:")


def test_app_service_endpoint_checks_the_identity_header(settings, ctl):
    header = settings["federation"]["identity_header"]
    assert _mi_get(settings, "/msi/token", {}, **{"api-version": "2019-08-01"}).status_code == 401
    assert _mi_get(settings, "/msi/token", {"X-IDENTITY-HEADER": "wrong"}, **{"api-version": "2019-08-01"}).status_code == 401
    resp = _mi_get(settings, "/msi/token", {"X-IDENTITY-HEADER": header}, **{"api-version": "2019-08-01"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["client_id"] == settings["federation"]["system_client_id"] and int(body["expires_on"]) > 0
    assert Api(settings, body["access_token"]).get("/api/machineactions?$top=1").status_code == 200
    unknown = _mi_get(settings, "/msi/token", {"X-IDENTITY-HEADER": header}, client_id="00000000-0000-0000-0000-000000000000",
                      **{"api-version": "2019-08-01"})
    assert unknown.status_code == 400
    assert any(t["endpoint"] == "managed_identity_app_service" for t in ctl.tokens())


def test_imds_endpoint_checks_the_metadata_header(settings, ctl):  # pylint: disable=unused-argument
    args = {"api-version": "2018-02-01"}
    missing = _mi_get(settings, "/metadata/identity/oauth2/token", {}, **args)
    assert missing.status_code == 400 and missing.json()["error_description"] == "Required metadata header not specified"
    proxied = _mi_get(settings, "/metadata/identity/oauth2/token", {"Metadata": "true", "X-Forwarded-For": "10.0.0.1"}, **args)
    assert proxied.status_code == 400
    user = _mi_get(settings, "/metadata/identity/oauth2/token", {"Metadata": "true"},
                   client_id=settings["federation"]["user_client_id"], **args)
    assert user.status_code == 200 and user.json()["client_id"] == settings["federation"]["user_client_id"]
    wrong = _mi_get(settings, "/metadata/identity/oauth2/token", {"Metadata": "true"}, resource="https://graph.microsoft.com", **args)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_resource"
    unknown = _mi_get(settings, "/metadata/identity/oauth2/token", {"Metadata": "true"},
                      client_id="00000000-0000-0000-0000-000000000000", **args)
    assert unknown.status_code == 400 and unknown.json()["error_description"] == "Identity not found"


@pytest.mark.parametrize("style", ["app_service", "imds"])
def test_msal_managed_identity_client_reaches_both_endpoints(settings, ctl, monkeypatch, style):  # pylint: disable=unused-argument
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)
    if style == "app_service":
        monkeypatch.setenv("IDENTITY_ENDPOINT", settings["identity_url"] + "/msi/token")
        monkeypatch.setenv("IDENTITY_HEADER", settings["federation"]["identity_header"])
    else:
        monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", settings["identity_url"])
    resource = settings["scope"][:-len("/.default")]
    for identity, client_id in ((msal.SystemAssignedManagedIdentity(), settings["federation"]["system_client_id"]),
                                (msal.UserAssignedManagedIdentity(client_id=settings["federation"]["user_client_id"]),
                                 settings["federation"]["user_client_id"])):
        result = msal.ManagedIdentityClient(identity, http_client=requests.Session()).acquire_token_for_client(resource=resource)
        assert "access_token" in result, result
        claims = jwt.decode(result["access_token"], options={"verify_signature": False})
        assert claims["appid"] == client_id and claims["aud"] == resource
