"""svc_auth in process on a real database (SQLite, and PostgreSQL when one answers on
127.0.0.1:5432) with a throwaway NATS JetStream server from the nats-server wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from auth_harness import (  # type: ignore[import-not-found]
    BACKENDS,
    Auth,
    DatabaseFactory,
    answers,
    new_home,
    settings_for,
    start_auth,
)

from mesh.ports import free_port


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """A private JetStream server (never the system one on 4222)."""
    binary = Path(sys.executable).parent / "nats-server"
    store = Path(tempfile.mkdtemp(prefix="erp-nats-", dir="/tmp"))
    port = free_port()
    log = open(store / "nats.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(binary), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while not answers("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((store / "nats.log").read_text()[-2000:])
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(store, ignore_errors=True)


@pytest.fixture(scope="session")
def databases() -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory()
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


@pytest.fixture(params=BACKENDS)
def fresh_database(request: pytest.FixtureRequest, databases: DatabaseFactory) -> tuple[str, str]:
    """(backend, url) of an empty database of its own, for tests that restart the service."""
    return request.param, databases.make(request.param)
