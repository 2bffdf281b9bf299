"""Fixtures every tier may use: a private ERP_HOME and a bounded Envoy runner."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg_support import PostgresDatabases

from mesh.config import MeshPaths
from mesh.envoy.common import envoy_command


@pytest.fixture
def mesh_home() -> Iterator[MeshPaths]:
    """A fresh ERP_HOME under /tmp (short: unix socket paths are limited to 107 bytes)."""
    home = Path(tempfile.mkdtemp(prefix="erp-", dir="/tmp"))
    try:
        yield MeshPaths(home).ensure()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def admin_ready(admin_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/ready", timeout=0.5) as r:  # noqa: S310
            return bool(r.read().decode().strip() == "LIVE")
    except OSError:
        return False


EnvoyRunner = Callable[[Path, int], subprocess.Popen[bytes]]


@pytest.fixture
def run_envoy() -> Iterator[EnvoyRunner]:
    """Start Envoy from a bootstrap file and wait for /ready; every one is stopped after."""
    started: list[subprocess.Popen[bytes]] = []

    def start(config: Path, admin_port: int) -> subprocess.Popen[bytes]:
        log = open(config.with_suffix(".log"), "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(envoy_command(config), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        started.append(proc)
        deadline = time.monotonic() + 15
        while not admin_ready(admin_port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"envoy failed: {config.with_suffix('.log').read_text()[-2000:]}"
                )
            time.sleep(0.05)
        return proc

    yield start
    for proc in started:
        proc.terminate()
    for proc in started:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """Throwaway PostgreSQL databases, all dropped when the session ends."""
    databases = PostgresDatabases()
    try:
        yield databases
    finally:
        databases.drop_all()
