"""Mesh-tier fixtures: mesh PKI, a stand-in service on its unix socket, its sidecar Envoy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# pytest puts this folder on sys.path (no __init__.py here), so the helper imports.
from pg_support import PostgresDatabases  # type: ignore[import-not-found]
from real_mesh import RunningMesh  # type: ignore[import-not-found]
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
    numbers = free_ports(4)
    ports, crm = SidecarPorts(*numbers[:2]), SidecarPorts(*numbers[2:])
    inbound = {"auth": ports.inbound, "crm": crm.inbound}
    config = sidecar_bootstrap(
        "auth",
        mesh_home.socket("auth"),
        mesh_home.outbound_socket("auth"),
        ports,
        mesh_certs,
        inbound,
        services=("auth", "crm"),
    )
    path = write_bootstrap(mesh_home.envoy / "auth-sidecar.json", config)
    run_envoy(path, ports.admin)  # type: ignore[operator]
    try:
        yield Sidecar(mesh_home, mesh_certs, ports, servicer, crm)
    finally:
        server.stop(grace=None).wait()


# ---- the real mesh: svc_auth, its sidecar, the edge and NATS, as `erp up` starts them ----

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=BACKENDS)
def running_mesh(
    request: pytest.FixtureRequest, postgres_databases: PostgresDatabases
) -> Iterator[RunningMesh]:
    """One mesh per backend for the whole session; tests sign up their own tenants."""
    import shutil
    import tempfile
    import uuid
    from pathlib import Path

    from mesh.config import SERVICES
    from mesh.launcher import Mesh

    backend: str = request.param
    home = Path(tempfile.mkdtemp(prefix="erp-mesh-", dir="/tmp"))
    with pytest.MonkeyPatch.context() as env:
        env.delenv("ERP_NATS_URL", raising=False)  # the fresh-machine path: NATS from the wheel
        env.delenv("ERP_DATABASE_URL", raising=False)
        template = None
        if backend == "postgresql":
            prefix = f"erp_test_{uuid.uuid4().hex[:10]}"
            for service in SERVICES:
                postgres_databases.create(f"{prefix}_{service}")
            template = postgres_databases.url(f"{prefix}_{{service}}")
            env.setenv("ERP_DATABASE_URL", template)
        mesh = Mesh(paths=MeshPaths(home), edge_port=0)
        mesh.start()
    try:
        yield RunningMesh(mesh, MeshPaths(home), backend, template)
    finally:
        mesh.stop()
        shutil.rmtree(home, ignore_errors=True)
