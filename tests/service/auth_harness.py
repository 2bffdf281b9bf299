"""Starting svc_auth in process for a test: databases (SQLite or a fresh PostgreSQL
database), settings, and the client bundle the tests use."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import grpc
from pg_support import PostgresDatabases  # type: ignore[import-not-found]

from erp.auth.v1 import auth_service_pb2_grpc
from mesh.config import MeshPaths, ServiceSettings
from mesh.server import RunningService, start
from svc_auth.config import AuthConfig
from svc_auth.service import AuthService

BACKENDS = ["sqlite", "postgresql"]


class DatabaseFactory:
    """Empty databases on demand: a SQLite file, or a PostgreSQL database (dropped by
    the session's `postgres_databases`)."""

    def __init__(self, postgres: PostgresDatabases) -> None:
        self.postgres = postgres
        self.dirs: list[Path] = []

    def make(self, backend: str, service: str = "auth") -> str:
        """The SQLAlchemy URL of a new, empty database for `service`."""
        if backend == "sqlite":
            folder = Path(tempfile.mkdtemp(prefix="erp-db-", dir="/tmp"))
            self.dirs.append(folder)
            return f"sqlite+aiosqlite:///{folder / f'{service}.db'}"
        return self.postgres.create(f"erp_test_{uuid.uuid4().hex[:12]}_{service}")

    def cleanup(self) -> None:
        for folder in self.dirs:
            shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Auth:
    """One running svc_auth and a client to it."""

    backend: str
    service: AuthService
    running: RunningService
    settings: ServiceSettings
    channel: grpc.aio.Channel
    stub: auth_service_pb2_grpc.AuthServiceStub
    nats_url: str

    async def close(self) -> None:
        await self.channel.close()
        await self.running.stop(grace=0.5)


def settings_for(
    home: MeshPaths, database_url: str, nats_url: str, service: str = "auth"
) -> ServiceSettings:
    return ServiceSettings(
        name=service,
        home=home.home,
        socket=home.socket(service),
        database_url=database_url,
        nats_url=nats_url,
        tcp_port=0,
        outbound=None,
        metrics_port=None,
    )


async def start_auth(
    backend: str, settings: ServiceSettings, config: AuthConfig | None = None
) -> Auth:
    service = AuthService(config or AuthConfig())
    running = await start(service.definition(), settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.tcp_port}")
    stub = auth_service_pb2_grpc.AuthServiceStub(channel)
    return Auth(backend, service, running, settings, channel, stub, settings.nats_url or "")


def new_home() -> MeshPaths:
    # Short path: unix socket paths are limited to 107 bytes.
    return MeshPaths(Path(tempfile.mkdtemp(prefix="erp-", dir="/tmp"))).ensure()
