# -*- coding: utf-8 -*-
# Copyright (c) defender.endpoint contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Key material: the emulator CA and server certificate, the token signing key, the cert app's certificate."""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEM = serialization.Encoding.PEM


def _write(path, data, mode=0o600):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def _new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key, password=None):
    algo = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, algo)


def _load_key(path):
    with open(path, "rb") as handle:
        return serialization.load_pem_private_key(handle.read(), password=None)


def _load_cert(path):
    with open(path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read())


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "defender.endpoint emulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ensure_ca(workdir):
    """Create (first start) or load the CA; returns (ca_cert, ca_key, ca_path)."""
    ca_path = os.path.join(workdir, "ca.pem")
    key_path = os.path.join(workdir, "ca-key.pem")
    if os.path.exists(ca_path) and os.path.exists(key_path):
        return _load_cert(ca_path), _load_key(key_path), ca_path
    key = _new_key()
    name = _name("MDE emulator test CA")
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key))
    _write(ca_path, cert.public_bytes(PEM), mode=0o644)
    return cert, key, ca_path


def ensure_server_cert(workdir, ca_cert, ca_key):
    """Server certificate for 127.0.0.1, localhost, ::1 signed by the CA; returns (cert_path, key_path)."""
    cert_path = os.path.join(workdir, "server.pem")
    key_path = os.path.join(workdir, "server-key.pem")
    if os.path.exists(cert_path) and os.path.exists(key_path):
        cert = _load_cert(cert_path)
        if cert.issuer == ca_cert.subject and cert.not_valid_after_utc > _now() + datetime.timedelta(days=1):
            return cert_path, key_path
    key = _new_key()
    cert = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key))
    _write(cert_path, cert.public_bytes(PEM), mode=0o644)
    return cert_path, key_path


def ensure_signing_key(workdir, name="token-signing-key.pem"):
    """RSA key the emulated Entra ID signs access tokens with (or the test OIDC issuer its tokens, ``name``);
    returns (private_key, kid)."""
    path = os.path.join(workdir, name)
    if os.path.exists(path):
        key = _load_key(path)
    else:
        key = _new_key()
        _write(path, _key_pem(key))
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()  # nosec - key id only
    return key, kid


def jwk_of(public_key, kid):
    """Public RSA key as a JWK dict."""
    numbers = public_key.public_numbers()

    def b64(num):
        raw = num.to_bytes((num.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": b64(numbers.n), "e": b64(numbers.e)}


def thumbprints(cert):
    """(x5t SHA-1, x5t#S256 SHA-256) base64url of the DER certificate, and the SHA-1 hex."""
    der = cert.public_bytes(serialization.Encoding.DER)
    sha1 = hashlib.sha1(der).digest()  # nosec - certificate thumbprint, as Entra ID uses it
    sha256 = hashlib.sha256(der).digest()
    return _b64url(sha1), _b64url(sha256), sha1.hex().upper()


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def create_client_certificate(workdir, display_name, password):
    """Self-signed certificate for the certificate app in three forms; returns a dict of paths."""
    key = _new_key()
    name = _name(display_name)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(days=1))
        .not_valid_after(_now() + datetime.timedelta(days=730))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(PEM)
    paths = {
        "certificate_path": os.path.join(workdir, "cert-app.pem"),
        "certificate_pem_encrypted_path": os.path.join(workdir, "cert-app-encrypted.pem"),
        "pfx_path": os.path.join(workdir, "cert-app.pfx"),
        "public_certificate_path": os.path.join(workdir, "cert-app-public.pem"),
    }
    _write(paths["certificate_path"], cert_pem + _key_pem(key))
    _write(paths["certificate_pem_encrypted_path"], cert_pem + _key_pem(key, password))
    _write(paths["pfx_path"], pkcs12.serialize_key_and_certificates(
        display_name.encode(), key, cert, None, serialization.BestAvailableEncryption(password.encode())))
    _write(paths["public_certificate_path"], cert_pem, mode=0o644)
    return paths


def load_public_certificate(path):
    """Load a PEM certificate."""
    return _load_cert(path)
