"""The mesh's own certificate authority and one certificate per mesh member.

Sidecars authenticate each other with these: the URI SAN carries the member's
SPIFFE id (what inbound policies match on) and the DNS SAN `<name>.erp.local`
is the SNI a caller sends. Everything is created once under `certs/` and reused,
so restarting the mesh never invalidates a running peer's trust.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mesh.config import TRUST_DOMAIN, MeshPaths, spiffe_id

CA_NAME = "ca"
CA_DAYS = 3650
LEAF_DAYS = 365
# A leaf closer than this to expiry is reissued on the next start.
RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True)
class CertFiles:
    """PEM files of one member: its certificate, its private key and the CA to trust."""

    cert: Path
    key: Path
    ca: Path


def sni(name: str) -> str:
    """The DNS name in a member's certificate, sent as SNI by its callers."""
    return f"{name}.{TRUST_DOMAIN}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Created 0600 from the first byte: a key is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)


def _load(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path} is not an EC key")
    return cert, key


def _still_valid(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    public = cert.public_key()
    matches = (
        isinstance(public, ec.EllipticCurvePublicKey)
        and public.public_numbers() == key.public_key().public_numbers()
    )
    return matches and cert.not_valid_after_utc - RENEW_BEFORE > _now()


def _ensure_ca(certs: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, bool]:
    """Load the CA, or create it. The bool says whether it was (re)created."""
    cert_path, key_path = certs / f"{CA_NAME}.pem", certs / f"{CA_NAME}-key.pem"
    if cert_path.exists() and key_path.exists():
        try:
            cert, key = _load(cert_path, key_path)
            if _still_valid(cert, key):
                return cert, key, False
        except ValueError:
            pass  # unreadable: fall through and start a new CA
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "erp mesh CA")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return cert, key, True


def issue_leaf(
    name: str,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    uri: str | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A client+server certificate for `name` signed by the given CA (tests use other URIs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.UniformResourceIdentifier(uri or spiffe_id(name)),
                    x509.DNSName(sni(name)),
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def write_pair(
    folder: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    _write_key(folder / f"{name}-key.pem", key)
    _write_cert(folder / f"{name}.pem", cert)


def _leaf_ok(cert_path: Path, key_path: Path, name: str, ca_cert: x509.Certificate) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert, key = _load(cert_path, key_path)
        cert.verify_directly_issued_by(ca_cert)
        uris = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.UniformResourceIdentifier)
    except (ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    return _still_valid(cert, key) and uris == [spiffe_id(name)]


def ensure_pki(paths: MeshPaths, names: list[str] | tuple[str, ...]) -> dict[str, CertFiles]:
    """Create (or reuse) the CA and one certificate per name; return their file paths."""
    certs = paths.certs
    certs.mkdir(parents=True, exist_ok=True)
    certs.chmod(0o700)
    ca_cert, ca_key, new_ca = _ensure_ca(certs)
    ca_path = certs / f"{CA_NAME}.pem"
    out: dict[str, CertFiles] = {}
    for name in names:
        files = CertFiles(cert=certs / f"{name}.pem", key=certs / f"{name}-key.pem", ca=ca_path)
        if new_ca or not _leaf_ok(files.cert, files.key, name, ca_cert):
            cert, key = issue_leaf(name, ca_cert, ca_key)
            write_pair(certs, name, cert, key)
        out[name] = files
    return out


def mesh_channel(identity: CertFiles, service: str, port: int) -> grpc.aio.Channel:
    """A gRPC channel to `service`'s sidecar inbound port presenting `identity`: what
    a sidecar does for its service; used by tools, tests and benchmarks."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=identity.ca.read_bytes(),
        private_key=identity.key.read_bytes(),
        certificate_chain=identity.cert.read_bytes(),
    )
    return grpc.aio.secure_channel(
        f"127.0.0.1:{port}", credentials, options=[("grpc.ssl_target_name_override", sni(service))]
    )
