"""svc_auth in process on a real database (SQLite, and PostgreSQL when one answers on
127.0.0.1:5432) with a throwaway NATS JetStream server from the nats-server wheel."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from auth_harness import (  # type: ignore[import-not-found]
    BACKENDS,
    Auth,
    DatabaseFactory,
    new_home,
    settings_for,
    start_auth,
)
from billing_harness import Billing, gate_auth_by, start_billing  # type: ignore[import-not-found]
from crm_harness import Crm, start_crm  # type: ignore[import-not-found]
from finance_harness import Finance, start_finance  # type: ignore[import-not-found]
from pg_support import PostgresDatabases  # type: ignore[import-not-found]
from processes import start_until_ready, stop  # type: ignore[import-not-found]

from mesh import nats_server
from mesh.config import MeshPaths
from mesh.ports import free_port, port_open


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """A private JetStream server from the wheel (never the system one on 4222)."""
    home = MeshPaths(Path(tempfile.mkdtemp(prefix="erp-nats-", dir="/tmp"))).ensure()
    port = free_port()
    proc = start_until_ready(
        nats_server.nats_command(home, port), home.logs / "nats.log", lambda: port_open(port)
    )
    try:
        yield nats_server.url(port)
    finally:
        stop(proc)
        shutil.rmtree(home.home, ignore_errors=True)


@pytest.fixture(scope="session")
def databases(postgres_databases: PostgresDatabases) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(postgres_databases)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture(scope="session", params=BACKENDS)
async def auth(
    request: pytest.FixtureRequest, nats_url: str, databases: DatabaseFactory
) -> AsyncIterator[Auth]:
    """A service per backend, shared by the tests (each signs up its own tenants)."""
    url = databases.make(request.param)
    home = new_home()
    running = await start_auth(request.param, settings_for(home, url, nats_url))
    try:
        yield running
    finally:
        await running.close()
        shutil.rmtree(home.home, ignore_errors=True)


@pytest.fixture(scope="session")
async def billing(auth: Auth, databases: DatabaseFactory) -> AsyncIterator[Billing]:
    """svc_billing beside the backend's svc_auth; from now on auth is gated by plans."""
    running = await start_billing(auth, databases.make(auth.backend, "billing"))
    gate_auth_by(auth, running)
    try:
        yield running
    finally:
        auth.running.runtime.entitlements.fetch = None
        await running.close()


@pytest.fixture(scope="session")
async def crm(auth: Auth, databases: DatabaseFactory) -> AsyncIterator[Crm]:
    """svc_crm beside the backend's svc_auth (plans not checked unless a test gates it)."""
    running = await start_crm(auth, databases.make(auth.backend, "crm"))
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture(scope="session")
async def finance(auth: Auth, databases: DatabaseFactory) -> AsyncIterator[Finance]:
    """svc_finance beside the backend's svc_auth; company currency EUR by default."""
    running = await start_finance(auth, databases.make(auth.backend, "finance"))
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture(params=BACKENDS)
def fresh_database(request: pytest.FixtureRequest, databases: DatabaseFactory) -> tuple[str, str]:
    """(backend, url) of an empty database of its own, for tests that restart the service."""
    return request.param, databases.make(request.param)
