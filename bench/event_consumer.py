"""The consuming side of the event benchmark, in a process of its own, as in the mesh
(svc_billing consumes svc_auth's events in another process, with its own database).

`python -m bench.event_consumer NATS_URL DATABASE_URL EXPECTED OUT` prints "ready"
once its durable consumer exists, handles EXPECTED events with a trivial handler,
then writes {event_id: time.perf_counter() when handled} to OUT as JSON. perf_counter
is CLOCK_MONOTONIC on Linux: the producer's timestamps compare with these.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from pathlib import Path

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth.v1 import auth_pb2
from erp.common.v1 import event_pb2
from mesh.bus import Bus
from mesh.consumer import Consumer, ConsumerRunner, On, ensure_consumer
from mesh.db import Database
from mesh.tables import mesh_tables

EVENT_TYPE = "auth.user.created"
CONSUMER = "bench-latency"
WAIT_SECONDS = 120.0


async def consume(nats_url: str, database_url: str, expected: int) -> dict[str, float]:
    metadata = MetaData()
    tables = mesh_tables(metadata)
    db = Database(database_url)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    handled: dict[str, float] = {}
    done = asyncio.Event()

    async def handle(
        session: AsyncSession, envelope: event_pb2.EventEnvelope, payload: auth_pb2.UserCreated
    ) -> None:
        handled.setdefault(envelope.event_id, time.perf_counter())
        if len(handled) >= expected:
            done.set()

    consumer = Consumer(CONSUMER, [On(EVENT_TYPE, auth_pb2.UserCreated, handle)])
    bus = Bus(nats_url, "bench")
    bus.start()
    await bus.ready.wait()
    assert bus.js is not None
    await bus.ensure_stream("auth")
    await ensure_consumer(bus.js, consumer)
    runner = ConsumerRunner("bench", consumer, db, bus, tables)
    runner.start()
    print("ready", flush=True)
    try:
        await asyncio.wait_for(done.wait(), WAIT_SECONDS)
    finally:
        await runner.stop()
        await bus.close()
        await db.close()
    return handled


def main() -> None:
    logging.getLogger("mesh.bus").setLevel(logging.ERROR)
    nats_url, database_url, expected, out = sys.argv[1:5]
    handled = asyncio.run(consume(nats_url, database_url, int(expected)))
    Path(out).write_text(json.dumps(handled))


if __name__ == "__main__":
    main()
