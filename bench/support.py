"""What the event and entitlement benchmarks share: a private NATS JetStream server
from the wheel (never the system one on 4222), throwaway databases (SQLite, and
PostgreSQL when it answers on 127.0.0.1:5432), percentiles and the JSON figures."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg

from mesh import nats_server
from mesh.config import MeshPaths
from mesh.ports import free_port, port_open

PG_HOST, PG_PORT = "127.0.0.1", 5432


def results_dir() -> Path:
    """Where figures go: the user's ERP_HOME, not the throwaway one a benchmark runs in."""
    return MeshPaths(Path(os.environ.get("ERP_HOME", "var")).resolve()).bench


def write_figures(benchmark: str, figures: dict[str, float]) -> Path:
    out = results_dir()
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{benchmark}.json"
    target.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return target


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    cuts = statistics.quantiles(seconds, n=100)
    return {
        "p50_ms": cuts[49] * 1000,
        "p95_ms": cuts[94] * 1000,
        "p99_ms": cuts[98] * 1000,
        "max_ms": max(seconds) * 1000,
    }


def load_average() -> str:
    """How busy the machine was (other work skews every figure on 2 cores)."""
    one, _, _ = os.getloadavg()
    return f"load average {one:.2f} on {os.cpu_count()} cores"


@contextmanager
def private_nats() -> Iterator[str]:
    """A JetStream server of our own on a free port with a temporary store; its URL."""
    home = MeshPaths(Path(tempfile.mkdtemp(prefix="erp-bench-nats-", dir="/tmp"))).ensure()
    port = free_port()
    with (home.logs / "nats.log").open("wb") as log:
        proc = subprocess.Popen(
            nats_server.nats_command(home, port), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not start; see {home.logs / 'nats.log'}")
            time.sleep(0.02)
        yield nats_server.url(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(home.home, ignore_errors=True)


def postgres_available() -> bool:
    return port_open(PG_PORT, PG_HOST)


def _postgres_user() -> str:
    return os.environ.get("PGUSER") or os.environ.get("USER") or "postgres"


@contextmanager
def database(backend: str, name: str = "") -> Iterator[str]:
    """The SQLAlchemy URL of an empty database, removed afterwards (on PostgreSQL
    `name`, else erp_bench_<hex>)."""
    if backend == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="erp-bench-db-", dir="/tmp"))
        try:
            yield f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = name or f"erp_bench_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://{_postgres_user()}@{PG_HOST}:{PG_PORT}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{_postgres_user()}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_mesh(services: Sequence[str]) -> Iterator[str]:
    """ERP_DATABASE_URL for a whole mesh on PostgreSQL: an empty database per service
    (erp_bench_<hex>_<service>, `{service}` in the URL), all dropped afterwards."""
    prefix = f"erp_bench_{uuid.uuid4().hex[:12]}"
    with ExitStack() as stack:
        for service in services:
            stack.enter_context(database("postgresql", f"{prefix}_{service}"))
        yield f"postgresql+psycopg://{_postgres_user()}@{PG_HOST}:{PG_PORT}/{prefix}_{{service}}"


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if postgres_available() else ["sqlite"]
