"""svc_auth and svc_billing in process, sharing one NATS and nothing else: billing
learns of tenants and users only from auth's events, and auth asks billing for
entitlements the way the mesh does (GetTenantEntitlements as a mesh service)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import grpc
from auth_harness import Auth, new_home, settings_for  # type: ignore[import-not-found]

from erp.billing.v1 import billing_pb2, billing_service_pb2_grpc
from erp.billing.v1 import billing_service_pb2 as bpb
from mesh.config import spiffe_id
from mesh.entitlements import Fetch
from mesh.server import RunningService, start
from svc_billing.app import cycle
from svc_billing.config import BillingConfig
from svc_billing.payments import PaymentProvider
from svc_billing.service import BillingService

T = TypeVar("T")
# What auth's sidecar would add to its calls: billing admits mesh services only.
AS_AUTH = (("x-forwarded-client-cert", f"By=x;URI={spiffe_id('auth')}"),)


@dataclass
class Clock:
    """The billing clock tests move by hand."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Billing:
    service: BillingService
    running: RunningService
    channel: grpc.aio.Channel
    stub: billing_service_pb2_grpc.BillingServiceStub
    clock: Clock
    config: BillingConfig

    async def run_cycle(self, *tenants: str) -> int:
        """The billing clock's work, for these tenants only (others share the service)."""
        return await cycle.run(self.service.deps, only=set(tenants))

    async def close(self) -> None:
        await self.channel.close()
        await self.running.stop(grace=0.5)


def fetch_from(stub: billing_service_pb2_grpc.BillingServiceStub) -> Fetch:
    async def fetch(tenant_id: str) -> billing_pb2.Entitlements:
        answer = await stub.GetTenantEntitlements(
            bpb.GetTenantEntitlementsRequest(tenant_id=tenant_id), metadata=AS_AUTH
        )
        entitlements: billing_pb2.Entitlements = answer.entitlements
        return entitlements

    return fetch


async def start_billing(
    auth: Auth,
    database_url: str,
    *,
    config: BillingConfig | None = None,
    providers: dict[str, PaymentProvider] | None = None,
) -> Billing:
    clock = Clock()
    config = config or BillingConfig()
    config.clock = clock
    config.cycle_seconds = 3600.0  # tests run the cycle themselves
    service = BillingService(config, keys=auth.service.keys, providers=providers)
    home = new_home()
    settings = settings_for(home, database_url, auth.nats_url, service="billing")
    running = await start(service.definition(), settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.tcp_port}")
    stub = billing_service_pb2_grpc.BillingServiceStub(channel)
    await running.runtime.bus.ready.wait()
    return Billing(service, running, channel, stub, clock, config)


def gate_auth_by(auth: Auth, billing: Billing) -> None:
    """From now on auth's interceptor checks plans against billing."""
    cache = auth.running.runtime.entitlements
    cache.fetch = fetch_from(billing.stub)
    cache.clear()


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 10.0) -> T:
    """Poll until `probe` returns something (events take a moment to arrive)."""
    deadline = time.monotonic() + within
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            found = await probe()
            if found is not None:
                return found
        except grpc.aio.AioRpcError as error:
            last_error = error
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {within}s (last error: {last_error})")
