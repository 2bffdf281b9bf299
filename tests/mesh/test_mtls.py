"""A sidecar's inbound listener admits only mesh certificates its policy names.

Real Envoy in front of a stand-in service on a unix socket; the TLS clients are
Python's ssl module (to present odd certificates) and grpc (for a real call).
"""

from __future__ import annotations

import socket
import ssl
import stat
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_health.v1 import health_pb2, health_pb2_grpc
from standin import Sidecar  # type: ignore[import-not-found]

from erp.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from mesh.config import spiffe_id
from mesh.envoy import sidecar_bootstrap, write_bootstrap
from mesh.pki import CertFiles, ensure_pki, issue_leaf, mesh_channel, write_pair

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["h2"])
    if cert is not None and key is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _talk(port: int, ctx: ssl.SSLContext) -> bytes:
    """Handshake, send the HTTP/2 preface, read the first bytes back.

    With TLS 1.3 the server judges the client certificate after the client's
    handshake has finished, so a refusal shows up on the first read.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="auth.erp.local") as tls:
            tls.sendall(H2_PREFACE)
            return tls.recv(64)


def _refused(port: int, ctx: ssl.SSLContext) -> bool:
    try:
        return _talk(port, ctx) == b""
    except (ssl.SSLError, ConnectionError):
        return True


def _foreign_pair(tmp: Path) -> tuple[Path, Path]:
    """A certificate naming the edge's SPIFFE id, signed by some other CA."""
    other = ensure_pki_like(tmp)
    return other.cert, other.key


def ensure_pki_like(folder: Path) -> CertFiles:
    from mesh.config import MeshPaths

    return ensure_pki(MeshPaths(folder).ensure(), ["edge"])["edge"]


def _mesh_leaf(sidecar: Sidecar, name: str, folder: Path) -> tuple[Path, Path]:
    """A mesh-CA certificate for a member the auth policy does not name."""
    certs = sidecar.paths.certs
    ca_cert = x509.load_pem_x509_certificate((certs / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((certs / "ca-key.pem").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    cert, key = issue_leaf(name, ca_cert, ca_key)
    folder.mkdir(parents=True, exist_ok=True)
    write_pair(folder, name, cert, key)
    return folder / f"{name}.pem", folder / f"{name}-key.pem"


def test_no_client_certificate_is_refused(auth_sidecar: Sidecar) -> None:
    ctx = _client_context(auth_sidecar.certs["edge"].ca)
    assert _refused(auth_sidecar.ports.inbound, ctx)


def test_certificate_from_another_ca_is_refused(auth_sidecar: Sidecar, tmp_path: Path) -> None:
    cert, key = _foreign_pair(tmp_path / "other")
    ctx = _client_context(auth_sidecar.certs["edge"].ca, cert, key)
    assert _refused(auth_sidecar.ports.inbound, ctx)


def test_mesh_certificate_with_unlisted_spiffe_id_is_refused(
    auth_sidecar: Sidecar, tmp_path: Path
) -> None:
    cert, key = _mesh_leaf(auth_sidecar, "intruder", tmp_path)
    ctx = _client_context(auth_sidecar.certs["edge"].ca, cert, key)
    assert _refused(auth_sidecar.ports.inbound, ctx)


def test_tls_1_2_is_refused_even_with_a_good_certificate(auth_sidecar: Sidecar) -> None:
    edge = auth_sidecar.certs["edge"]
    ctx = _client_context(edge.ca, edge.cert, edge.key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    assert _refused(auth_sidecar.ports.inbound, ctx)


def test_edge_certificate_is_admitted(auth_sidecar: Sidecar) -> None:
    edge = auth_sidecar.certs["edge"]
    reply = _talk(auth_sidecar.ports.inbound, _client_context(edge.ca, edge.cert, edge.key))
    assert reply[3:4] == b"\x04"  # the server's HTTP/2 SETTINGS frame


async def test_grpc_through_the_sidecar_carries_the_callers_spiffe_id(
    auth_sidecar: Sidecar,
) -> None:
    edge = auth_sidecar.certs["edge"]
    async with mesh_channel(edge, "auth", auth_sidecar.ports.inbound) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        # A caller cannot forge its identity: SANITIZE_SET replaces this header.
        forged = (("x-forwarded-client-cert", f"URI={spiffe_id('admin')}"),)
        auth = auth_service_pb2_grpc.AuthServiceStub(channel)
        await auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=forged, timeout=5)
    xfcc = auth_sidecar.service.last_metadata["x-forwarded-client-cert"]
    assert f"URI={spiffe_id('edge')}" in xfcc
    assert spiffe_id("admin") not in xfcc


async def test_outbound_listener_reaches_a_peer_with_its_own_identity(
    auth_sidecar: Sidecar, run_envoy: object
) -> None:
    """crm's sidecar routes /erp.auth.v1.* from plaintext h2c to auth's inbound over mTLS."""
    crm = auth_sidecar.crm_ports
    outbound = auth_sidecar.paths.outbound_socket("crm")
    config = sidecar_bootstrap(
        "crm",
        auth_sidecar.paths.socket("crm"),
        outbound,
        crm,
        auth_sidecar.certs,
        {"auth": auth_sidecar.ports.inbound, "crm": crm.inbound},
        services=("auth", "crm"),
    )
    run_envoy(write_bootstrap(auth_sidecar.paths.envoy / "crm.json", config), crm.admin)  # type: ignore[operator]
    assert outbound.stat().st_mode & 0o777 == 0o600  # only the service's user may use it
    async with grpc.aio.insecure_channel(f"unix:{outbound}") as channel:
        auth = auth_service_pb2_grpc.AuthServiceStub(channel)
        await auth.GetMe(auth_service_pb2.GetMeRequest(), timeout=5)
    assert (
        f"URI={spiffe_id('crm')}" in auth_sidecar.service.last_metadata["x-forwarded-client-cert"]
    )


def test_service_socket_is_private(auth_sidecar: Sidecar) -> None:
    sock = auth_sidecar.paths.socket("auth")
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
