"""Test PKI: a throw-away CA, server and client certificates, and a JWT signer.

Everything is generated with ``cryptography`` into a temporary directory so the TLS
and token-auth registries in the tests trust nothing but what the test made.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_BITS = 2048
VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, written as PEM files."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    cert_path: Path
    key_path: Path


def _write_pair(
    cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    directory: Path,
    stem: str,
    cert_suffix: str = ".crt",
    key_suffix: str = ".key",
) -> KeyPair:
    cert_path = directory / f"{stem}{cert_suffix}"
    key_path = directory / f"{stem}{key_suffix}"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return KeyPair(cert, key, cert_path, key_path)


def _builder(
    subject: str, issuer: x509.Name, public_key: rsa.RSAPublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def make_ca(directory: Path, name: str = "overlaybd-py test CA") -> KeyPair:
    """A self-signed CA certificate (also usable as a JWT signing certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _builder(name, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return _write_pair(cert, key, directory, "ca")


def make_leaf(
    ca: KeyPair,
    directory: Path,
    stem: str,
    *,
    server: bool,
    hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
    cert_suffix: str = ".crt",
    key_suffix: str = ".key",
) -> KeyPair:
    """A server (with IP/DNS names) or client certificate signed by ``ca``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    builder = _builder(stem, ca.cert.subject, key.public_key())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return _write_pair(cert, key, directory, stem, cert_suffix, key_suffix)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(signer: KeyPair, claims: dict[str, object]) -> str:
    """An RS256 JWT whose ``x5c`` header carries the signing certificate.

    distribution verifies the ``x5c`` chain against its ``rootcertbundle``; a
    self-signed certificate that is itself in the bundle is a valid chain.
    """
    der = signer.cert.public_bytes(serialization.Encoding.DER)
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = signer.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"
