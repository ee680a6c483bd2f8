# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Emulator object: identity (tenant, apps, keys), clouds, tokens, seeding; shared by all four hosts."""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid

import jwt

from . import crypto
from .entra import new_jti
from .federation import Federation
from .seeds import get_seed
from .state import (ACTION_TYPES, FINAL_STATUSES, MACHINE_KEYS, Clock, State, StateError, new_action_entity,
                    normalize_lifecycle)
from .util import format_ts, new_guid, parse_ts

ALL_ROLES = ["Machine.Read.All", "Machine.ReadWrite.All", "Machine.Isolate", "Machine.RestrictExecution",
             "Machine.Scan", "Machine.CollectForensics", "Machine.Offboard", "Machine.StopAndQuarantine",
             "Machine.LiveResponse"]
CLOUDS = {
    "commercial": {"resource": "https://api.securitycenter.microsoft.com",
                   "legacy": ["https://securitycenter.onmicrosoft.com/windowsatpservice"]},
    "gcc": {"resource": "https://api-gcc.securitycenter.microsoft.us", "legacy": []},
    "gcc_high": {"resource": "https://api-gov.securitycenter.microsoft.us", "legacy": []},
    "dod": {"resource": "https://api-gov.securitycenter.microsoft.us", "legacy": []},
}


def _write_json(path, data, mode=0o600):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
    os.replace(tmp, path)


def load_identity(workdir):
    """Tenant, client ids, secrets and the cert app's certificate: created once per workdir."""
    path = os.path.join(workdir, "identity.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    password = secrets.token_urlsafe(12)
    cert_paths = crypto.create_client_certificate(workdir, "mde-emulator-cert-app", password)
    identity = {
        "tenant_id": str(uuid.uuid4()),
        "apps": {
            "default": {"client_id": str(uuid.uuid4()), "client_secret": secrets.token_urlsafe(30),
                        "display_name": "ansible-mde-automation", "roles": list(ALL_ROLES)},
            "cert": dict(cert_paths, client_id=str(uuid.uuid4()), certificate_password=password,
                         display_name="ansible-mde-cert-automation", roles=list(ALL_ROLES)),
            "readonly": {"client_id": str(uuid.uuid4()), "client_secret": secrets.token_urlsafe(30),
                         "display_name": "ansible-mde-readonly", "roles": ["Machine.Read.All"]},
        },
    }
    _write_json(path, identity)
    return identity


class Emulator(object):  # pylint: disable=too-many-instance-attributes
    """Everything the request handlers need."""

    def __init__(self, workdir, time_scale=1.0, cloud="commercial", seed="demo"):
        if cloud not in CLOUDS:
            raise ValueError("unknown cloud %r" % cloud)
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.cloud = cloud
        self.resource = CLOUDS[cloud]["resource"]
        self.accepted_resources = [self.resource] + CLOUDS[cloud]["legacy"]
        self.ca_cert, self.ca_key, self.ca_path = crypto.ensure_ca(self.workdir)
        self.server_cert_path, self.server_key_path = crypto.ensure_server_cert(self.workdir, self.ca_cert, self.ca_key)
        self.signing_key, self.kid = crypto.ensure_signing_key(self.workdir)
        self.jwk = crypto.jwk_of(self.signing_key.public_key(), self.kid)
        self.identity = load_identity(self.workdir)
        self.tenant_id = self.identity["tenant_id"]
        cert_app = self.identity["apps"]["cert"]
        cert = crypto.load_public_certificate(cert_app["public_certificate_path"])
        x5t, x5t_s256, sha1_hex = crypto.thumbprints(cert)
        self._cert_info = {"public_key": cert.public_key(), "x5t": x5t, "x5t#S256": x5t_s256, "sha1": sha1_hex}
        self.clock = Clock(time_scale)
        self.state = State(self.workdir, self.clock)
        self.seed_name = seed
        self.api_url = self.authority_host = self.storage_url = self.control_url = None
        self.identity_url = None  # the plain-HTTP managed identity host
        self.federation = Federation(self, ALL_ROLES)
        self.apply_seed(get_seed(seed))

    # ------------------------------------------------------------------ identity / tokens
    def is_tenant(self, tenant):
        return tenant.lower() == self.tenant_id.lower()

    def app_by_client_id(self, client_id):
        for name, app in self.identity["apps"].items():
            if app["client_id"].lower() == (client_id or "").lower():
                app = dict(app, name=name)
                if name == "cert":
                    app["_certificate"] = self._cert_info
                return app
        return None

    def app_roles(self, app):
        """The application roles an app holds now (the identity's, changed by the control API): Entra ID writes them
        into each token it issues, so a token keeps the roles of its issue time."""
        return self.state.roles_of(app["name"], app["roles"])

    def change_app_roles(self, name, grant=(), revoke=()):
        app = self.identity["apps"].get(name)
        if app is None:
            raise StateError("unknown app %r (one of %s)" % (name, ", ".join(sorted(self.identity["apps"]))))
        for role in list(grant) + list(revoke):
            if role not in ALL_ROLES:
                raise StateError("unknown role %r (one of %s)" % (role, ", ".join(ALL_ROLES)))
        return self.state.change_roles(name, app["roles"], grant, revoke)

    def audience_for(self, resource):
        return resource.rstrip("/")

    def issue_token(self, app, audience, acr, endpoint):
        """Sign an access token (real-time lifetime from config); returns (token, lifetime, iat)."""
        lifetime = self.state.get_config()["token_lifetime"]
        now = int(time.time())
        jti = new_jti()
        claims = {
            "aud": audience, "iss": "https://sts.windows.net/%s/" % self.tenant_id, "iat": now, "nbf": now,
            "exp": now + lifetime, "aio": new_guid(), "app_displayname": app["display_name"], "appid": app["client_id"],
            "appidacr": acr, "idp": "https://sts.windows.net/%s/" % self.tenant_id, "oid": str(uuid.uuid5(
                uuid.NAMESPACE_URL, app["client_id"])), "rh": "0.emulator.", "roles": self.app_roles(app),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, app["client_id"])), "tid": self.tenant_id, "uti": jti,
            "jti": jti, "ver": "1.0",
        }
        token = jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})
        self.state.record_token({"access_token": token, "client_id": app["client_id"], "app": app["name"],
                                 "jti": jti, "issued_at": now, "expires_at": now + lifetime, "endpoint": endpoint,
                                 "audience": audience})
        return token, lifetime, now

    def verify_token(self, token):
        """(claims, None) or (None, reason) with reason in missing/invalid/expired/audience/tenant."""
        try:
            claims = jwt.decode(token, self.signing_key.public_key(), algorithms=["RS256"],
                                audience=self.accepted_resources,
                                options={"require": ["exp", "iat", "aud", "tid", "appid"]})
        except jwt.ExpiredSignatureError:
            return None, "expired"
        except jwt.InvalidAudienceError:
            return None, "audience"
        except jwt.PyJWTError:
            return None, "invalid"
        if not self.is_tenant(claims.get("tid", "")):
            return None, "tenant"
        if self.state.is_revoked(claims.get("jti")):
            return None, "expired"
        return claims, None

    def app_display_name(self, claims):
        app = self.app_by_client_id(claims.get("appid"))
        return app["display_name"] if app else claims.get("app_displayname") or claims.get("appid")

    # ------------------------------------------------------------------ entities
    def fill_machine(self, data):
        """A Machine entity with every key; defaults for the missing ones."""
        if not isinstance(data, dict):
            raise StateError("a machine must be an object")
        now = self.clock.now()
        machine_id = (data.get("id") or secrets.token_hex(20)).lower()
        defaults = {
            "id": machine_id, "mergedIntoMachineId": None, "isPotentialDuplication": False, "isExcluded": False,
            "exclusionReason": None, "computerDnsName": "host-%s.contoso.com" % machine_id[:6],
            "firstSeen": format_ts(now - 90 * 86400), "lastSeen": format_ts(now - 3600), "osPlatform": "Windows11",
            "osVersion": None, "osProcessor": "x64", "version": "23H2", "lastIpAddress": "10.0.0.10",
            "lastExternalIpAddress": "203.0.113.10", "agentVersion": "10.8760.22631.4391", "osBuild": 22631,
            "healthStatus": "Active", "deviceValue": "Normal", "rbacGroupId": 0, "rbacGroupName": None,
            "riskScore": "None", "exposureLevel": "Low", "isAadJoined": False, "aadDeviceId": None, "machineTags": [],
            "defenderAvStatus": "Updated", "onboardingStatus": "Onboarded", "osArchitecture": "64-bit",
            "managedBy": "Intune", "managedByStatus": "Unknown", "ipAddresses": [], "vmMetadata": None,
        }
        entity = {key: data.get(key, defaults[key]) for key in MACHINE_KEYS}
        entity["id"] = machine_id
        for key, val in data.items():
            if key not in entity and not key.startswith("_") and not key.startswith("@"):
                entity[key] = val
        for key in ("firstSeen", "lastSeen"):
            if entity[key]:
                try:
                    parse_ts(entity[key])
                except ValueError as exc:
                    raise StateError("%s: %s" % (key, exc)) from exc
        if not isinstance(entity["machineTags"], list):
            raise StateError("machineTags must be a list")
        return entity

    def add_machine(self, data):
        entity = self.fill_machine(data)
        lifecycle = data.get("_lifecycle")
        if lifecycle is not None:
            lifecycle = normalize_lifecycle(lifecycle, self.state.get_config()["default_lifecycle"])
        internal = data.get("_state") if isinstance(data.get("_state"), dict) else None
        self.state.upsert_machine(entity, lifecycle=lifecycle, internal=internal)
        return self.state.get_machine(entity["id"], with_state=True)

    def add_action(self, data):  # pylint: disable=too-many-branches,too-many-locals
        """Create an action from the control API / a seed (see README for the fields)."""
        if not isinstance(data, dict):
            raise StateError("an action must be an object")
        machine = self.state.get_machine(data.get("machineId") or "")
        if machine is None:
            raise StateError("unknown machineId %r" % data.get("machineId"))
        action_type = data.get("type")
        if action_type not in ACTION_TYPES:
            raise StateError("type must be one of %s" % ", ".join(ACTION_TYPES))
        status = data.get("status", "Pending")
        if status not in ("Pending", "InProgress") + FINAL_STATUSES:
            raise StateError("status must be Pending, InProgress, Succeeded, Failed, TimeOut or Cancelled")
        now = self.clock.now()
        created = now
        if data.get("creationDateTimeUtc"):
            try:
                created = parse_ts(data["creationDateTimeUtc"])
            except ValueError as exc:
                raise StateError(str(exc)) from exc
        elif data.get("created_ago") is not None:
            created = now - float(data["created_ago"])
        if "lifecycle" in data:
            lifecycle = normalize_lifecycle(data["lifecycle"], self.state.get_config()["default_lifecycle"])
        else:
            lifecycle = self.state.lifecycle_for(machine["id"])
        commands = []
        for idx, cmd in enumerate(data.get("commands") or []):
            if "command" in cmd:
                commands.append(cmd)
            else:
                commands.append({"index": idx, "startTime": None, "endTime": None, "commandStatus": "Created",
                                 "errors": [], "command": {"type": cmd.get("type"), "params": cmd.get("params", [])}})
        requestor = data.get("requestor") or self.identity["apps"]["default"]["display_name"]
        entity = new_action_entity(machine, action_type, requestor, data.get("requestorComment", "Created by emulator"),
                                   created, scope=data.get("scope"), related=data.get("relatedFileInfo"),
                                   commands=commands, action_id=data.get("id"))
        entity["status"] = status
        if status != "Pending":
            if status in FINAL_STATUSES:
                done = min(created + 90, now) if created < now else created
            else:
                done = max(created, min(now, created + 30))
            entity["lastUpdateDateTimeUtc"] = format_ts(done)
        if status == "Cancelled":
            entity["cancellationRequestor"] = data.get("cancellationRequestor", requestor)
            entity["cancellationComment"] = data.get("cancellationComment", "Cancelled by administrator")
            entity["cancellationDateTimeUtc"] = data.get("cancellationDateTimeUtc", entity["lastUpdateDateTimeUtc"])
        if status == "Failed":
            entity["errorHResult"] = -2147467259
        if status == "Succeeded" and action_type == "LiveResponse":
            self.state._finish_commands(entity, "Succeeded", created + 30, parse_ts(entity["lastUpdateDateTimeUtc"]))
        if status == "Failed" and action_type == "LiveResponse":
            self.state._finish_commands(entity, "Failed", created + 30, parse_ts(entity["lastUpdateDateTimeUtc"]))
        for key in ("title", "externalId", "errorHResult", "troubleshootInfo", "requestSource", "computerDnsName",
                    "lastUpdateDateTimeUtc", "cancellationRequestor", "cancellationComment",
                    "cancellationDateTimeUtc"):
            if key in data:
                entity[key] = data[key]
        entity["id"] = entity["id"].lower()
        if self.state.get_action(entity["id"]) is not None:
            raise StateError("action %s already exists" % entity["id"])
        return self.state.insert_action(entity, lifecycle, created, start_epoch=now)

    def apply_seed(self, seed):
        if not isinstance(seed, dict):
            raise StateError("a seed must be an object with machines and actions")
        for machine in seed.get("machines") or []:
            self.add_machine(machine)
        actions = list(seed.get("actions") or [])
        now = self.clock.now()

        def created_of(action):
            if action.get("creationDateTimeUtc"):
                return parse_ts(action["creationDateTimeUtc"])
            return now - float(action.get("created_ago") or 0)
        for action in sorted(actions, key=created_of):
            self.add_action(action)

    def reset(self, seed="demo", realign_clock=False):
        if realign_clock:
            self.clock.realign()
        self.state.reset()
        self.apply_seed(get_seed(seed if seed is not None else "demo"))

    # ------------------------------------------------------------------ settings
    def settings(self):
        apps = self.identity["apps"]
        cert = apps["cert"]
        return {
            "api_url": self.api_url, "authority_host": self.authority_host, "storage_url": self.storage_url,
            "control_url": self.control_url, "ca_path": self.ca_path, "time_scale": self.clock.time_scale,
            "cloud": self.cloud, "scope": self.resource + "/.default", "tenant_id": self.tenant_id, "pid": os.getpid(),
            "identity_url": self.identity_url, "federation": self.federation.settings(),
            "apps": {
                "default": {k: apps["default"][k] for k in ("client_id", "client_secret", "display_name", "roles")},
                "cert": {"client_id": cert["client_id"], "display_name": cert["display_name"],
                         "certificate_path": cert["certificate_path"],
                         "certificate_pem_encrypted_path": cert["certificate_pem_encrypted_path"],
                         "pfx_path": cert["pfx_path"], "public_certificate_path": cert["public_certificate_path"],
                         "certificate_password": cert["certificate_password"],
                         "thumbprint_sha1": self._cert_info["sha1"], "roles": cert["roles"]},
                "readonly": {k: apps["readonly"][k] for k in ("client_id", "client_secret", "display_name", "roles")},
            },
        }
