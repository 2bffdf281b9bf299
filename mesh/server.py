"""Bootstrap of every service: `run(definition)` is all a service's __main__ calls.

It migrates the database, connects to NATS in the background, starts the outbox
relay and the service's event consumers, follows entitlement changes, and serves
gRPC on a unix socket (mode 0600) with health, reflection and the mesh interceptor.
SIGTERM drains in-flight calls and shuts down cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy import MetaData

from mesh import contracts, logs, metrics, tracing
from mesh.bus import Bus
from mesh.config import ServiceSettings
from mesh.consumer import Consumer, ConsumerRunner
from mesh.db import Database
from mesh.entitlements import EntitlementCache, follow_changes, remote_fetch
from mesh.interceptor import MeshInterceptor
from mesh.relay import OutboxRelay
from mesh.tables import MeshTables
from mesh.tokens import KeyProvider, TokenVerifier

log = logging.getLogger("mesh.server")

# grpcio reuses ports by default: a second server could "bind" a taken port.
SERVER_OPTIONS = [
    ("grpc.so_reuseport", 0),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_permit_without_calls", 1),
]
SHUTDOWN_GRACE_SECONDS = 5.0


@dataclass
class Runtime:
    """What a service's setup gets to build its servicers."""

    settings: ServiceSettings
    db: Database
    bus: Bus
    tables: MeshTables
    server: grpc.aio.Server
    # What the interceptor checks plans against; setup may give it another source
    # (svc_billing reads its own database).
    entitlements: EntitlementCache


@dataclass
class ServiceDefinition:
    name: str  # "auth"
    metadata: MetaData
    tables: MeshTables
    migrations: Path
    # Adds the servicers to runtime.server; returns where access-token keys come from.
    setup: Callable[[Runtime], Awaitable[KeyProvider]]
    background: list[Callable[[Runtime], Coroutine[Any, Any, None]]] = field(default_factory=list)
    # Events it consumes (durable consumers with inbox and dead-letter subject).
    consumers: list[Consumer] = field(default_factory=list)


@dataclass
class RunningService:
    runtime: Runtime
    health: health.aio.HealthServicer
    relay: OutboxRelay
    consumers: list[ConsumerRunner]
    tcp_port: int | None
    tasks: list[asyncio.Task[None]]

    async def stop(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        await self.health.enter_graceful_shutdown()
        await self.runtime.server.stop(grace)
        for task in self.tasks:
            task.cancel()
        for consumer in self.consumers:
            await consumer.stop()
        await self.relay.stop()
        await self.runtime.bus.close()
        await self.runtime.db.close()
        with contextlib.suppress(FileNotFoundError):
            self.runtime.settings.socket.unlink()


async def start(definition: ServiceDefinition, settings: ServiceSettings) -> RunningService:
    """Start a service in this event loop; tests use it directly (with a TCP port)."""
    db = Database(settings.database_url)
    await db.migrate(definition.migrations)
    bus = Bus(settings.nats_url or "nats://127.0.0.1:4222", definition.name)
    # Interceptors are fixed when the server is built; the keys arrive from setup().
    verifier = TokenVerifier(_NoKeysYet())
    entitlements = EntitlementCache(remote_fetch(settings.outbound) if settings.outbound else None)
    provider = tracing.configure(definition.name)
    server = grpc.aio.server(
        interceptors=[
            *tracing.server_interceptors(provider),
            MeshInterceptor(verifier, contracts.methods(), entitlements),
        ],
        options=SERVER_OPTIONS,
    )
    runtime = Runtime(
        settings=settings,
        db=db,
        bus=bus,
        tables=definition.tables,
        server=server,
        entitlements=entitlements,
    )

    verifier.keys = await definition.setup(runtime)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    contracts.load_modules()  # reflection describes every contract service, not only ours
    names = [*contracts.service_names(), health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    await _not_serving(health_servicer)

    tcp_port = _listen(server, settings)
    await server.start()
    if settings.socket.exists():
        settings.socket.chmod(0o600)
    metrics.serve(settings.metrics_port)

    relay = OutboxRelay(db, bus, definition.tables)
    relay.start()
    consumers = [
        ConsumerRunner(definition.name, c, db, bus, definition.tables) for c in definition.consumers
    ]
    for consumer in consumers:
        consumer.start()

    async def on_ready() -> None:
        assert bus.nc is not None
        await follow_changes(entitlements, bus.nc)
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    bus.on_ready(lambda: _spawn(on_ready()))
    bus.on_reconnected(entitlements.clear)  # changes published meanwhile were missed
    bus.start()
    tasks = [asyncio.create_task(job(runtime)) for job in definition.background]
    log.info("serving", extra={"socket": str(settings.socket), "tcp_port": tcp_port})
    return RunningService(runtime, health_servicer, relay, consumers, tcp_port, tasks)


_spawned: set[asyncio.Task[None]] = set()


def _spawn(job: Coroutine[Any, Any, None]) -> None:
    # Keep a reference: the loop holds tasks only weakly.
    task = asyncio.get_running_loop().create_task(job)
    _spawned.add(task)
    task.add_done_callback(_spawned.discard)


def _listen(server: grpc.aio.Server, settings: ServiceSettings) -> int | None:
    settings.socket.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        settings.socket.unlink()  # a socket left by a killed process
    previous = os.umask(0o177)  # the socket is born 0600: no window where others can connect
    try:
        server.add_insecure_port(f"unix:{settings.socket}")
    finally:
        os.umask(previous)
    if settings.tcp_port is None:
        return None
    return int(server.add_insecure_port(f"127.0.0.1:{settings.tcp_port}"))


class _NoKeysYet:
    async def public_key(self, kid: str) -> None:
        return None


async def _not_serving(servicer: health.aio.HealthServicer) -> None:
    await servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)


async def serve(definition: ServiceDefinition) -> None:
    settings = ServiceSettings.from_env(definition.name)
    running = await start(definition, settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("shutting down")
    await running.stop()


def run(definition: ServiceDefinition) -> None:
    logs.configure(definition.name)
    asyncio.run(serve(definition))
