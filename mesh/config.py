"""Where the mesh keeps its state and how a process learns its settings.

Everything lives under ERP_HOME (default ./var): certs/, run/ (sockets, pids,
ports.json), data/ (SQLite files), nats/ (JetStream store), logs/, bench/.
A service process is configured only through environment variables that the
launcher sets; the same variables let an operator run a service by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Every business service the mesh knows, in start order. A name maps to the
# package svc_<name>, the contract package erp.<name>.v1, the socket run/<name>.sock
# and the SPIFFE id spiffe://erp.local/svc/<name>.
SERVICES: tuple[str, ...] = ("auth", "billing", "crm", "finance")
TRUST_DOMAIN = "erp.local"
DEFAULT_EDGE_PORT = 8080


def spiffe_id(name: str) -> str:
    """SPIFFE id of a service ('auth') or of the edge ('edge')."""
    return f"spiffe://{TRUST_DOMAIN}/svc/{name}"


def erp_home() -> Path:
    return Path(os.environ.get("ERP_HOME", "var")).resolve()


@dataclass(frozen=True)
class MeshPaths:
    """The folders under ERP_HOME; `ensure()` creates them with safe modes."""

    home: Path

    @property
    def certs(self) -> Path:
        return self.home / "certs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def nats(self) -> Path:
        return self.home / "nats"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def envoy(self) -> Path:
        return self.home / "envoy"

    @property
    def bench(self) -> Path:
        return self.home / "bench"

    def socket(self, service: str) -> Path:
        return self.run / f"{service}.sock"

    def outbound_socket(self, service: str) -> Path:
        """Where `service` reaches the rest of the mesh: its sidecar's outbound listener."""
        return self.run / f"{service}-out.sock"

    def ensure(self) -> MeshPaths:
        for folder in (self.home, self.data, self.nats, self.logs, self.envoy, self.bench):
            folder.mkdir(parents=True, exist_ok=True)
        # Keys and sockets: nobody but the mesh's own user may even list them.
        for private in (self.certs, self.run):
            private.mkdir(parents=True, exist_ok=True)
            private.chmod(0o700)
        return self


def mesh_paths() -> MeshPaths:
    return MeshPaths(erp_home())


def database_url(service: str, home: Path | None = None) -> str:
    """ERP_DATABASE_URL, with `{service}` replaced; default a SQLite file per service.

    Example for PostgreSQL: ERP_DATABASE_URL=postgresql+psycopg://127.0.0.1/erp_{service}
    """
    url = os.environ.get("ERP_DATABASE_URL")
    if url:
        return url.replace("{service}", service)
    data = (home or erp_home()) / "data"
    return f"sqlite+aiosqlite:///{data / f'{service}.db'}"


@dataclass(frozen=True)
class ServiceSettings:
    """What one service process needs; read from the environment the launcher sets."""

    name: str
    home: Path
    socket: Path
    database_url: str
    nats_url: str | None
    tcp_port: int | None  # tests and benchmarks only; production is the unix socket
    outbound: str | None  # host:port of the sidecar's outbound listener
    metrics_port: int | None

    @classmethod
    def from_env(cls, name: str) -> ServiceSettings:
        paths = mesh_paths()

        def opt_int(var: str) -> int | None:
            value = os.environ.get(var)
            return int(value) if value else None

        return cls(
            name=name,
            home=paths.home,
            socket=Path(os.environ.get("ERP_SOCKET", str(paths.socket(name)))),
            database_url=database_url(name, paths.home),
            nats_url=os.environ.get("ERP_NATS_URL") or None,
            tcp_port=opt_int("ERP_GRPC_PORT"),
            outbound=os.environ.get("ERP_OUTBOUND") or None,
            metrics_port=opt_int("ERP_METRICS_PORT"),
        )
