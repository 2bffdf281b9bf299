"""svc_finance in process beside the backend's svc_auth, sharing its NATS: finance
checks tokens with auth's keys and consumes auth's and crm's events."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from auth_harness import Auth, new_home, settings_for  # type: ignore[import-not-found]
from billing_harness import Clock  # type: ignore[import-not-found]

from erp.finance.v1 import finance_service_pb2_grpc
from mesh.server import RunningService, start
from svc_finance.config import FinanceConfig
from svc_finance.service import FinanceService


@dataclass
class Finance:
    service: FinanceService
    running: RunningService
    channel: grpc.aio.Channel
    stub: finance_service_pb2_grpc.FinanceServiceStub
    clock: Clock
    config: FinanceConfig
    database_url: str

    async def close(self) -> None:
        await self.channel.close()
        await self.running.stop(grace=0.5)


async def start_finance(
    auth: Auth, database_url: str, config: FinanceConfig | None = None
) -> Finance:
    clock = Clock()
    config = config or FinanceConfig(default_currency="EUR")
    config.clock = clock
    service = FinanceService(config, keys=auth.service.keys)
    home = new_home()
    settings = settings_for(home, database_url, auth.nats_url, service="finance")
    running = await start(service.definition(), settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.tcp_port}")
    stub = finance_service_pb2_grpc.FinanceServiceStub(channel)
    await running.runtime.bus.ready.wait()
    return Finance(service, running, channel, stub, clock, config, database_url)
