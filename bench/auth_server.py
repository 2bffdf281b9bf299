"""svc_auth in its own process for the entitlement benchmark, like a real service
(`python -m bench.auth_server HOME DATABASE_URL NATS_URL`), with its interceptor's
entitlement cache switched from stdin:

- `unused`: no source to ask (fetch None), cache empty: no check, as before plans;
- `warm`: a source that answers the tenant's plan (with the `core` feature), so after
  the first call every check is the hot path: a dict lookup and a feature test.

It answers `ok <mode>` on stdout once the mode is in force; `ready` once serving.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from erp.billing.v1 import billing_pb2
from mesh import logs
from mesh.config import MeshPaths, ServiceSettings
from mesh.entitlements import EntitlementCache
from mesh.server import start
from svc_auth.service import AuthService

FEATURES = ["core", "crm", "billing", "ai"]


async def plan_of(tenant_id: str) -> billing_pb2.Entitlements:
    return billing_pb2.Entitlements(
        tenant_id=tenant_id,
        plan_id="bench",
        features=FEATURES,
        limits={"users": 1000},
        writes_allowed=True,
        version=1,
    )


def switch(cache: EntitlementCache, mode: str) -> None:
    if mode == "unused":
        cache.fetch = None
    elif mode == "warm":
        cache.fetch = plan_of
    else:
        raise ValueError(f"unknown mode {mode!r}")
    cache.clear()


async def serve(home: Path, database_url: str, nats_url: str) -> None:
    paths = MeshPaths(home).ensure()
    settings = ServiceSettings(
        name="auth",
        home=paths.home,
        socket=paths.socket("auth"),
        database_url=database_url,
        nats_url=nats_url,
        tcp_port=None,
        outbound=None,
        metrics_port=None,
    )
    running = await start(AuthService().definition(), settings)
    cache = running.runtime.entitlements
    await running.runtime.bus.ready.wait()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("ready", flush=True)
    try:
        while line := (await reader.readline()).decode().strip():
            if line == "quit":
                break
            switch(cache, line)
            print(f"ok {line}", flush=True)
    finally:
        await running.stop(grace=0.5)


if __name__ == "__main__":
    logs.configure("auth")
    asyncio.run(serve(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
