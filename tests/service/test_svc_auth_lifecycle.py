"""Start and stop as an operator meets them: NOT_SERVING until NATS is there (writes
still work, their events wait in the outbox), and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from auth_client import signup, unique_email  # type: ignore[import-not-found]
from auth_harness import new_home, settings_for, start_auth  # type: ignore[import-not-found]
from grpc_health.v1 import health_pb2, health_pb2_grpc
from jetstream_probe import read_event  # type: ignore[import-not-found]

from erp.auth.v1 import auth_pb2
from mesh import nats_server
from mesh.config import MeshPaths
from mesh.ports import free_port

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(target: str) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        return int(answer.status)


async def _wait_for(target: str, status: int, seconds: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            if await _health(target) == status:
                return
        except grpc.aio.AioRpcError:
            pass  # not listening yet
        assert asyncio.get_running_loop().time() < deadline, f"health never became {status}"
        await asyncio.sleep(0.1)


@pytest.fixture
def late_nats() -> Iterator[tuple[str, MeshPaths, int]]:
    """A NATS address with nothing on it yet; the test starts the server when it wants."""
    home = new_home()
    yield nats_server.url(port := free_port()), home, port
    shutil.rmtree(home.home, ignore_errors=True)


async def test_not_serving_until_nats_then_outbox_drains(
    late_nats: tuple[str, MeshPaths, int],
) -> None:
    url, home, port = late_nats
    database = f"sqlite+aiosqlite:///{home.data / 'auth.db'}"
    running = await start_auth("sqlite", settings_for(home, database, url))
    nats = None
    try:
        target = f"127.0.0.1:{running.running.tcp_port}"
        assert await _health(target) == NOT_SERVING
        email = unique_email("early")
        up = await signup(running.stub, email=email)  # writes work without NATS
        assert up.tenant.tenant_id

        nats = await asyncio.create_subprocess_exec(
            *nats_server.nats_command(home, port), stdout=subprocess.DEVNULL
        )
        await _wait_for(target, SERVING)
        created = auth_pb2.UserCreated()
        envelope = await read_event(
            url,
            f"erp.auth.{up.tenant.tenant_id}.user.created",
            created,
            match=lambda e: e.user.email == email,
        )
        assert envelope.aggregate_id == up.user.user_id
    finally:
        await running.close()
        if nats is not None:
            nats.terminate()
            await asyncio.wait_for(nats.wait(), 10)


async def test_sigterm_stops_the_service_cleanly(nats_url: str) -> None:
    home = new_home()
    socket = home.socket("auth")
    env = {
        **os.environ,
        "ERP_HOME": str(home.home),
        "ERP_SOCKET": str(socket),
        "ERP_NATS_URL": nats_url,
        "ERP_DATABASE_URL": f"sqlite+aiosqlite:///{home.data / 'auth.db'}",
    }
    env.pop("ERP_GRPC_PORT", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "svc_auth", env=env, stderr=subprocess.PIPE
    )
    try:
        await _wait_for(f"unix:{socket}", SERVING)
        assert socket.stat().st_mode & 0o777 == 0o600
        proc.send_signal(signal.SIGTERM)
        _, raw = await asyncio.wait_for(proc.communicate(), 15)
        stderr = raw.decode(errors="replace")
        assert proc.returncode == 0, stderr[-2000:]
        assert not socket.exists()  # nothing left for the next start to trip on
        assert "shutting down" in stderr and "Traceback" not in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        shutil.rmtree(home.home, ignore_errors=True)
