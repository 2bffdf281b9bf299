"""The launcher: start, status, double start, stale pid files, stop.

These run the real NATS and Envoys with a stand-in in place of `python -m svc_auth`;
the last test runs the real service once it exists.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh import process
from mesh.config import MeshPaths
from mesh.launcher import AlreadyRunning, Mesh, healthy
from mesh.ports import port_open

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
    assert seen == ["nats", "auth", "auth-sidecar", "edge"]
    assert json.loads((mesh.paths.run / "ports.json").read_text()) == ports
    rows = mesh.status()
    assert healthy(rows), rows
    jwks = f"http://127.0.0.1:{ports['edge']}/v1/auth/jwks"
    with urllib.request.urlopen(jwks, timeout=5) as reply:  # noqa: S310
        assert json.loads(reply.read())["keys"]
    pids = [r.pid for r in rows]
    assert mesh.stop() == ["edge", "auth-sidecar", "auth", "nats"]
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


def test_real_mesh_up(mesh_home: MeshPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    # find_spec, not import: importing svc_auth.__main__ could start the service.
    if importlib.util.find_spec("svc_auth.__main__") is None:
        pytest.skip("svc_auth is not written yet")
    monkeypatch.delenv("ERP_NATS_URL", raising=False)
    real = Mesh(paths=mesh_home, edge_port=0)
    try:
        ports = real.start()
        assert healthy(real.status())
        sock = mesh_home.socket("auth")
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
        jwks = f"http://127.0.0.1:{ports['edge']}/v1/auth/jwks"
        with urllib.request.urlopen(jwks, timeout=5) as reply:  # noqa: S310
            assert "keys" in json.loads(reply.read())
    finally:
        real.stop()
