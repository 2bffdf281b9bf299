"""svc_crm in process beside the backend's svc_auth, sharing its NATS: crm checks
tokens with auth's keys, and (when a test gates it) plans with billing."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from auth_harness import Auth, new_home, settings_for  # type: ignore[import-not-found]
from billing_harness import Billing, Clock, fetch_from  # type: ignore[import-not-found]

from erp.crm.v1 import crm_service_pb2_grpc
from mesh.server import RunningService, start
from svc_crm.config import CrmConfig
from svc_crm.service import CrmService


@dataclass
class Crm:
    service: CrmService
    running: RunningService
    channel: grpc.aio.Channel
    stub: crm_service_pb2_grpc.CrmServiceStub
    clock: Clock
    config: CrmConfig

    async def close(self) -> None:
        await self.channel.close()
        await self.running.stop(grace=0.5)


async def start_crm(auth: Auth, database_url: str, config: CrmConfig | None = None) -> Crm:
    clock = Clock()
    config = config or CrmConfig()
    config.clock = clock
    service = CrmService(config, keys=auth.service.keys)
    home = new_home()
    settings = settings_for(home, database_url, auth.nats_url, service="crm")
    running = await start(service.definition(), settings)
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{running.tcp_port}",
        options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
    )
    stub = crm_service_pb2_grpc.CrmServiceStub(channel)
    await running.runtime.bus.ready.wait()
    return Crm(service, running, channel, stub, clock, config)


def gate_crm_by(crm: Crm, billing: Billing) -> None:
    """From now on crm's interceptor checks plans (features, limits) against billing."""
    cache = crm.running.runtime.entitlements
    cache.fetch = fetch_from(billing.stub)
    cache.clear()
