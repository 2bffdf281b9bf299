"""The mesh CA and member certificates: SANs, reuse across starts, file modes."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509

from mesh.config import MeshPaths, spiffe_id
from mesh.pki import ensure_pki


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sans(path: Path) -> tuple[list[str], list[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        san.get_values_for_type(x509.UniformResourceIdentifier),
        san.get_values_for_type(x509.DNSName),
    )


def test_each_member_gets_its_spiffe_id_and_sni_name(mesh_home: MeshPaths) -> None:
    files = ensure_pki(mesh_home, ["auth", "edge"])
    ca = x509.load_pem_x509_certificate(files["auth"].ca.read_bytes())
    for name in ("auth", "edge"):
        uris, dns = _sans(files[name].cert)
        assert uris == [spiffe_id(name)]
        assert dns == [f"{name}.erp.local"]
        x509.load_pem_x509_certificate(files[name].cert.read_bytes()).verify_directly_issued_by(ca)


def test_second_run_reuses_everything(mesh_home: MeshPaths) -> None:
    first = ensure_pki(mesh_home, ["auth", "edge"])
    before = {p: p.read_bytes() for f in first.values() for p in (f.cert, f.key, f.ca)}
    ensure_pki(mesh_home, ["auth", "edge"])
    assert {p: p.read_bytes() for p in before} == before


def test_new_member_is_signed_by_the_existing_ca(mesh_home: MeshPaths) -> None:
    first = ensure_pki(mesh_home, ["auth"])
    ca_before = first["auth"].ca.read_bytes()
    auth_before = first["auth"].cert.read_bytes()
    second = ensure_pki(mesh_home, ["auth", "crm"])
    assert second["crm"].ca.read_bytes() == ca_before
    assert second["auth"].cert.read_bytes() == auth_before


def test_missing_key_reissues_only_that_member(mesh_home: MeshPaths) -> None:
    first = ensure_pki(mesh_home, ["auth", "edge"])
    edge_before = first["edge"].cert.read_bytes()
    auth_before = first["auth"].cert.read_bytes()
    first["auth"].key.unlink()
    again = ensure_pki(mesh_home, ["auth", "edge"])
    assert again["auth"].key.exists()
    assert again["auth"].cert.read_bytes() != auth_before
    assert again["edge"].cert.read_bytes() == edge_before


def test_keys_are_private(mesh_home: MeshPaths) -> None:
    files = ensure_pki(mesh_home, ["auth"])
    assert _mode(mesh_home.certs) == 0o700
    assert _mode(files["auth"].key) == 0o600
    assert _mode(mesh_home.certs / "ca-key.pem") == 0o600
