"""Mesh-tier fixtures: mesh PKI, a stand-in service on its unix socket, its sidecar Envoy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# pytest puts this folder on sys.path (no __init__.py here), so the helper imports.
from standin import Sidecar, start_standin  # type: ignore[import-not-found]

from mesh.config import MeshPaths
from mesh.envoy import SidecarPorts, sidecar_bootstrap, write_bootstrap
from mesh.pki import CertFiles, ensure_pki
from mesh.ports import free_ports


@pytest.fixture
def mesh_certs(mesh_home: MeshPaths) -> dict[str, CertFiles]:
    return ensure_pki(mesh_home, ["auth", "edge", "crm"])


@pytest.fixture
def auth_sidecar(
    mesh_home: MeshPaths, mesh_certs: dict[str, CertFiles], run_envoy: object
) -> Iterator[Sidecar]:
    server, servicer = start_standin(mesh_home.socket("auth"))
    numbers = free_ports(6)
    ports, crm = SidecarPorts(*numbers[:3]), SidecarPorts(*numbers[3:])
    inbound = {"auth": ports.inbound, "crm": crm.inbound}
    config = sidecar_bootstrap(
        "auth", mesh_home.socket("auth"), ports, mesh_certs, inbound, services=("auth", "crm")
    )
    path = write_bootstrap(mesh_home.envoy / "auth-sidecar.json", config)
    run_envoy(path, ports.admin)  # type: ignore[operator]
    try:
        yield Sidecar(mesh_home, mesh_certs, ports, servicer, crm)
    finally:
        server.stop(grace=None).wait()
