"""Fixtures every tier may use: a private ERP_HOME and a bounded Envoy runner."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg_support import PostgresDatabases
from processes import start_until_ready, stop

from mesh.config import MeshPaths
from mesh.envoy.common import envoy_command
from mesh.probes import envoy_ready


@pytest.fixture
def mesh_home() -> Iterator[MeshPaths]:
    """A fresh ERP_HOME under /tmp (short: unix socket paths are limited to 107 bytes)."""
    home = Path(tempfile.mkdtemp(prefix="erp-", dir="/tmp"))
    try:
        yield MeshPaths(home).ensure()
    finally:
        shutil.rmtree(home, ignore_errors=True)


EnvoyRunner = Callable[[Path, int], subprocess.Popen[bytes]]


@pytest.fixture
def run_envoy() -> Iterator[EnvoyRunner]:
    """Start Envoy from a bootstrap file and wait for /ready; every one is stopped after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(config: Path, admin_port: int) -> subprocess.Popen[bytes]:
        proc = start_until_ready(
            envoy_command(config), config.with_suffix(".log"), lambda: envoy_ready(admin_port)
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        stop(proc)


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """Throwaway PostgreSQL databases, all dropped when the session ends."""
    databases = PostgresDatabases()
    try:
        yield databases
    finally:
        databases.drop_all()
