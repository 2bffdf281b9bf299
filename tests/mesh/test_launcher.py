"""The launcher: start, status, double start, stale pid files, stop.

These run the real NATS and Envoys with a stand-in in place of `python -m svc_auth`;
the last test runs the real service once it exists.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jetstream_probe import read_event  # type: ignore[import-not-found]

from erp.auth.v1 import auth_pb2
from mesh import nats_server, process
from mesh.config import SERVICES, MeshPaths
from mesh.launcher import AlreadyRunning, Mesh, healthy
from mesh.ports import free_port, port_open

STANDIN = str(Path(__file__).parent / "standin.py")


def _standin_argv(name: str) -> list[str]:
    return [sys.executable, STANDIN]


@pytest.fixture
def mesh(mesh_home: MeshPaths, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mesh]:
    monkeypatch.delenv("ERP_NATS_URL", raising=False)
    m = Mesh(paths=mesh_home, edge_port=0, service_argv=_standin_argv)
    try:
        yield m
    finally:
        m.stop()


def test_start_status_stop(mesh: Mesh) -> None:
    seen: list[str] = []
    ports = mesh.start(progress=lambda name, address, took: seen.append(name))
    started = [name for service in SERVICES for name in (service, f"{service}-sidecar")]
    assert seen == ["nats", *started, "edge"]
    assert json.loads((mesh.paths.run / "ports.json").read_text()) == ports
    rows = mesh.status()
    assert healthy(rows), rows
    jwks = f"http://127.0.0.1:{ports['edge']}/v1/auth/jwks"
    with urllib.request.urlopen(jwks, timeout=5) as reply:  # noqa: S310
        assert json.loads(reply.read())["keys"]
    pids = [r.pid for r in rows]
    assert mesh.stop() == ["edge", *reversed(started), "nats"]
    assert not list(mesh.paths.run.glob("*.pid"))
    assert all(p is not None and process.cmdline(p) is None for p in pids)
    assert not port_open(ports["edge"])
    assert not healthy(mesh.status())


def test_second_start_says_already_running_and_changes_nothing(mesh: Mesh) -> None:
    mesh.start()
    before = {p.name: p.read_text() for p in mesh.paths.run.glob("*.p*")}
    again = Mesh(paths=mesh.paths, edge_port=0, service_argv=_standin_argv)
    with pytest.raises(AlreadyRunning, match="already running"):
        again.start()
    assert {p.name: p.read_text() for p in mesh.paths.run.glob("*.p*")} == before
    assert healthy(mesh.status())


def test_stale_pid_files_are_cleaned_and_do_not_block_a_start(mesh: Mesh) -> None:
    run = mesh.paths.run
    dead = subprocess.Popen(["true"])
    dead.wait()
    process.write_pid(run, "nats", dead.pid, ["nats-server"])  # the process is gone
    # A live pid that now runs something else (a reused pid): not ours to signal.
    process.write_pid(run, "edge", os.getpid(), ["envoy", "-c", "edge.json"])
    assert mesh.running() == []
    assert not (run / "nats.pid").exists()
    assert not (run / "edge.pid").exists()
    mesh.start()
    assert healthy(mesh.status())


def test_stop_with_nothing_running_is_harmless(mesh: Mesh) -> None:
    assert mesh.stop() == []


def test_failed_part_stops_what_started(mesh: Mesh) -> None:
    broken = Mesh(
        paths=mesh.paths,
        edge_port=0,
        start_timeout=10,
        service_argv=lambda name: [sys.executable, "-c", "raise SystemExit(3)"],
    )
    with pytest.raises(Exception, match="auth exited"):
        broken.start()
    assert mesh.running() == []


def _post(port: int, path: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body)
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - loopback
        answer: dict[str, Any] = json.loads(reply.read())
    return answer


async def test_real_mesh_on_an_operators_nats(
    mesh_home: MeshPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ERP_NATS_URL the mesh starts no NATS of its own and publishes to that one."""
    store = MeshPaths(mesh_home.home / "operator").ensure()
    port = free_port()
    nats = await asyncio.create_subprocess_exec(
        *nats_server.nats_command(store, port), stdout=asyncio.subprocess.DEVNULL
    )
    monkeypatch.setenv("ERP_NATS_URL", nats_server.url(port))
    real = Mesh(paths=mesh_home, edge_port=0)
    try:
        assert "nats" not in real.part_names()
        ports = await asyncio.to_thread(real.start)
        assert healthy(real.status())
        for sock in (mesh_home.socket("auth"), mesh_home.outbound_socket("auth")):
            assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(mesh_home.run.stat().st_mode) == 0o700
        body = json.dumps(
            {"tenant_name": "Ops", "email": "ops@ops.test", "password": "correct horse battery"}
        ).encode()
        tenant_id = (await asyncio.to_thread(_post, ports["edge"], "/v1/auth/signup", body))[
            "tenant"
        ]["tenant_id"]
        created = auth_pb2.TenantCreated()
        await read_event(
            nats_server.url(port),
            f"erp.auth.{tenant_id}.tenant.created",
            created,
            match=lambda e: e.tenant.tenant_id == tenant_id,
        )
    finally:
        await asyncio.to_thread(real.stop)
        nats.terminate()
        await nats.wait()
