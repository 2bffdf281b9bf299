"""The bootstrap of one service's sidecar Envoy.

Inbound: mTLS-only listener that admits the callers the topology names and hands
the caller's SPIFFE id to the service in x-forwarded-client-cert, then forwards
over the service's unix socket. Outbound: a plaintext h2c listener for the local
service only, routing `/erp.<domain>.v1.` to the owning service's inbound over mTLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mesh.config import SERVICES, spiffe_id
from mesh.envoy.common import (
    Json,
    access_log,
    bootstrap,
    cluster,
    downstream_mtls,
    grpc_route,
    http_connection_manager,
    listener,
    pipe_address,
    socket_address,
    upstream_mtls,
)
from mesh.pki import CertFiles, sni
from mesh.topology import allowed_spiffe_ids

LOCAL_CLUSTER = "local_service"


@dataclass(frozen=True)
class SidecarPorts:
    """The TCP ports of one sidecar, on 127.0.0.1. Its outbound listener is a unix
    socket instead (mode 0600): no other local user may borrow the service's identity."""

    inbound: int
    admin: int


def service_cluster(service: str) -> str:
    return f"svc_{service}"


def mesh_cluster(service: str, inbound_port: int, own: CertFiles) -> Json:
    """A cluster reaching `service`'s sidecar inbound listener over mTLS with `own` cert."""
    tls = upstream_mtls(own, sni(service), spiffe_id(service))
    return cluster(service_cluster(service), socket_address(inbound_port), tls=tls)


def _inbound(service: str, port: int, certs: CertFiles, services: tuple[str, ...]) -> Json:
    routes = {
        "name": "inbound",
        "virtual_hosts": [
            {"name": service, "domains": ["*"], "routes": [grpc_route("/", LOCAL_CLUSTER)]}
        ],
    }
    hcm = http_connection_manager(
        f"{service}_inbound",
        routes,
        [],
        codec_type="HTTP2",
        # Drop any x-forwarded-client-cert the caller made up; set the verified one.
        forward_client_cert_details="SANITIZE_SET",
        set_current_client_cert_details={"uri": True},
        access_log=access_log(f"{service}-sidecar"),
    )
    return listener(
        "inbound",
        socket_address(port),
        hcm,
        downstream_mtls(certs, allowed_spiffe_ids(service, services)),
    )


def _outbound(service: str, socket: Path, peers: list[str]) -> Json:
    routes = [grpc_route(f"/erp.{peer}.v1.", service_cluster(peer)) for peer in peers]
    route_config = {
        "name": "outbound",
        "virtual_hosts": [{"name": "mesh", "domains": ["*"], "routes": routes}],
    }
    hcm = http_connection_manager(f"{service}_outbound", route_config, [], codec_type="HTTP2")
    return listener("outbound", pipe_address(socket, mode=0o600), hcm)


def sidecar_bootstrap(
    service: str,
    socket: Path,
    outbound_socket: Path,
    ports: SidecarPorts,
    certs: dict[str, CertFiles],
    inbound_ports: dict[str, int],
    services: tuple[str, ...] = SERVICES,
) -> Json:
    """Envoy bootstrap for `service`'s sidecar.

    `certs` must hold the service's own files; `inbound_ports` maps every mesh service
    to its sidecar's inbound port (the outbound listener routes to all the others).
    """
    peers = [s for s in services if s != service]
    return bootstrap(
        node=f"{service}-sidecar",
        admin_port=ports.admin,
        listeners=[
            _inbound(service, ports.inbound, certs[service], services),
            _outbound(service, outbound_socket, peers),
        ],
        clusters=[
            cluster(LOCAL_CLUSTER, pipe_address(socket)),
            *(mesh_cluster(peer, inbound_ports[peer], certs[service]) for peer in peers),
        ],
    )
