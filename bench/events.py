"""Figures for events: outbox -> JetStream -> consumer.

- the ceiling: nats-py JetStream publishes of the same envelopes, gathered in batches
  of the relay's size with the acks awaited (and the same `Nats-Msg-Id` header);
- the relay: N events pre-filled into a real outbox with `mesh.events.record`, then
  only the OutboxRelay draining it is timed (published and marked sent);
- end to end: a producer commits events at a steady rate with the relay running in
  its event loop (one service), while a ConsumerRunner with a trivial handler runs in
  another process with its own database (another service, bench.event_consumer); the
  latency is from just after the commit to the handler being called.

`python -m bench.events` runs it alone (ERP_BENCH_EVENTS, ERP_BENCH_EVENT_RATE and
ERP_BENCH_EVENTS_PER_COMMIT change the sizes).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nats.js.api import StreamConfig
from sqlalchemy import MetaData, func, select

from bench import support
from erp.auth.v1 import auth_pb2
from erp.common.v1 import event_pb2
from mesh import relay as relay_module
from mesh.bus import DUPLICATE_WINDOW_SECONDS, Bus
from mesh.db import Database
from mesh.events import make_envelope, record, record_many, stream_name
from mesh.ids import new_id
from mesh.relay import OutboxRelay
from mesh.tables import MeshTables, mesh_tables

EVENTS = int(os.environ.get("ERP_BENCH_EVENTS", "20000"))
RATE = float(os.environ.get("ERP_BENCH_EVENT_RATE", "1000"))
PER_COMMIT = int(os.environ.get("ERP_BENCH_EVENTS_PER_COMMIT", "5"))
FILL_PER_COMMIT = 100  # pre-filling the outbox is not timed
WARMUP_EVENTS = 500
EVENT_TYPE = "auth.user.created"
DOMAIN = "auth"
RAW_STREAM = "ERP_BENCHRAW"
RELAY_TARGET = 0.5  # relay >= 0.5 x the raw publish rate
P99_TARGET_MS = 100.0


def envelopes(count: int, tenant_id: str) -> list[event_pb2.EventEnvelope]:
    """Real `auth.user.created` envelopes, as svc_auth writes them."""
    made = []
    for i in range(count):
        user = auth_pb2.User(
            user_id=new_id(),
            tenant_id=tenant_id,
            email=f"user{i}@bench.test",
            display_name=f"Bench User {i}",
            roles=["member"],
        )
        made.append(
            make_envelope(
                EVENT_TYPE,
                auth_pb2.UserCreated(user=user),
                source=DOMAIN,
                aggregate_id=user.user_id,
                tenant_id=tenant_id,
                actor=event_pb2.Actor(kind=event_pb2.ACTOR_KIND_USER, id=new_id()),
            )
        )
    return made


async def raw_publish_rates(bus: Bus, batch: list[event_pb2.EventEnvelope]) -> dict[str, float]:
    """The ceiling: the same bytes and headers, published in batches of the relay's size
    with every ack awaited, two ways: gathered `js.publish` (what the relay does) and
    nats-py's pipelined `publish_async`. Events/s of each."""
    js = bus.js
    assert js is not None
    payloads = [
        (f"erp.benchraw.{e.tenant_id}.user.created", e.SerializeToString(), e.event_id)
        for e in batch
    ]
    chunks = [
        payloads[at : at + relay_module.BATCH] for at in range(0, len(payloads), relay_module.BATCH)
    ]
    rates: dict[str, float] = {}
    for way in ("gathered", "publish_async"):
        await js.add_stream(
            StreamConfig(
                name=RAW_STREAM,
                subjects=["erp.benchraw.>"],
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
            )
        )
        started = time.perf_counter()
        for chunk in chunks:
            if way == "gathered":
                await asyncio.gather(
                    *(js.publish(s, data, headers={"Nats-Msg-Id": i}) for s, data, i in chunk)
                )
            else:
                acks = [
                    await js.publish_async(s, data, headers={"Nats-Msg-Id": i})
                    for s, data, i in chunk
                ]
                await asyncio.gather(*acks)
        rates[way] = len(payloads) / (time.perf_counter() - started)
        await js.delete_stream(RAW_STREAM)
    return rates


async def fill_outbox(
    db: Database, tables: MeshTables, batch: list[event_pb2.EventEnvelope]
) -> None:
    for at in range(0, len(batch), FILL_PER_COMMIT):
        async with db.transaction() as session:
            for envelope in batch[at : at + FILL_PER_COMMIT]:
                await record(session, tables, envelope)


async def pending(db: Database, tables: MeshTables) -> int:
    async with db.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(tables.outbox.c.published_at.is_(None))
        )
    return int(count or 0)


async def relay_rate(db: Database, bus: Bus, tables: MeshTables, count: int) -> float:
    """Events/s the relay publishes and marks sent, draining a full outbox."""
    relay = OutboxRelay(db, bus, tables)
    started = time.perf_counter()
    # The relay's own loop body: drain everything pending (and the last mark).
    await relay.drain()
    await relay.settle()
    elapsed = time.perf_counter() - started
    left = await pending(db, tables)
    if left:
        raise RuntimeError(f"{left} events still in the outbox after the drain")
    return count / elapsed


@dataclass
class Latency:
    events: int
    produced_per_second: float
    seconds: float
    percentiles: dict[str, float]


async def end_to_end(
    db: Database, bus: Bus, tables: MeshTables, tenant_id: str, count: int, consumer_db: str
) -> Latency:
    """The producer commits at RATE with the relay running beside it (one service);
    the consumer runs in another process with its own database (another service)."""
    committed: dict[str, float] = {}
    relay = OutboxRelay(db, bus, tables)
    relay.start()
    warmup = envelopes(WARMUP_EVENTS, tenant_id)
    batch = envelopes(count, tenant_id)
    with tempfile.TemporaryDirectory(prefix="erp-bench-") as scratch:
        out = Path(scratch) / "handled.json"
        consumer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.event_consumer",
            bus.url,
            consumer_db,
            str(len(warmup) + len(batch)),
            str(out),
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert consumer.stdout is not None
            line = await asyncio.wait_for(consumer.stdout.readline(), timeout=30)
            if line.strip() != b"ready":
                raise RuntimeError("the consumer process did not start")
            await produce(db, tables, warmup, committed)  # connections opened, code hot
            await asyncio.sleep(1.0)
            started = time.perf_counter()
            produced = await produce(db, tables, batch, committed)
            if await asyncio.wait_for(consumer.wait(), timeout=120) != 0:
                raise RuntimeError("the consumer process failed")
            elapsed = time.perf_counter() - started
        finally:
            if consumer.returncode is None:
                consumer.kill()
                await consumer.wait()
            await relay.stop()
        handled: dict[str, float] = json.loads(out.read_text())
    latencies = [handled[e.event_id] - committed[e.event_id] for e in batch]
    return Latency(count, produced, elapsed, support.percentiles_ms(latencies))


async def produce(
    db: Database,
    tables: MeshTables,
    batch: list[event_pb2.EventEnvelope],
    committed: dict[str, float],
) -> float:
    """Commit PER_COMMIT events per transaction at RATE events/s; events/s reached."""
    interval = PER_COMMIT / RATE
    started = time.perf_counter()
    for n, at in enumerate(range(0, len(batch), PER_COMMIT)):
        delay = started + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = batch[at : at + PER_COMMIT]
        async with db.transaction() as session:
            await record_many(session, tables, chunk)
        now = time.perf_counter()
        for envelope in chunk:
            committed[envelope.event_id] = now
    return len(batch) / (time.perf_counter() - started)


@dataclass
class BackendFigures:
    backend: str
    raw: dict[str, float]  # events/s by way of publishing, best of two tries
    relay_rps: float
    latency: Latency

    @property
    def raw_rps(self) -> float:
        return max(self.raw.values())

    def figures(self) -> dict[str, float]:
        b = self.backend
        figures: dict[str, float] = {
            f"{b}.raw_publish_events_per_s": round(self.raw_rps, 1),
            f"{b}.relay_events_per_s": round(self.relay_rps, 1),
            f"{b}.relay_over_raw": round(self.relay_rps / self.raw_rps, 3),
            f"{b}.e2e_events": self.latency.events,
            f"{b}.e2e_target_events_per_s": RATE,
            f"{b}.e2e_events_per_commit": PER_COMMIT,
            f"{b}.e2e_produced_events_per_s": round(self.latency.produced_per_second, 1),
        }
        for way, rate in self.raw.items():
            figures[f"{b}.raw_{way}_events_per_s"] = round(rate, 1)
        for name, value in self.latency.percentiles.items():
            figures[f"{b}.e2e_{name}"] = round(value, 3)
        return figures


async def fresh(url: str) -> tuple[Database, MeshTables]:
    metadata = MetaData()
    tables = mesh_tables(metadata)
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return db, tables


async def measure(backend: str, urls: tuple[str, str, str], nats_url: str) -> BackendFigures:
    """`urls`: the relay's database, the latency run's producer and its consumer."""
    relay_url, producer_url, consumer_url = urls
    db, tables = await fresh(relay_url)
    bus = Bus(nats_url, DOMAIN)
    bus.start()
    try:
        await asyncio.wait_for(bus.ready.wait(), timeout=10)
        assert bus.js is not None
        tenant_id = new_id()
        batch = envelopes(EVENTS, tenant_id)
        raw = await raw_publish_rates(bus, batch)
        await fill_outbox(db, tables, batch)
        relay = await relay_rate(db, bus, tables, len(batch))
        info = await bus.js.stream_info(stream_name(DOMAIN))
        if info.state.messages < len(batch):
            raise RuntimeError(f"stream holds {info.state.messages} of {len(batch)} events")
        # The ceiling again, after the relay: the better of the two tries counts.
        again = await raw_publish_rates(bus, envelopes(EVENTS, tenant_id))
        raw = {way: max(rate, again[way]) for way, rate in raw.items()}
        # The latency run starts from an empty stream and a fresh database (the
        # drained outbox left 20k dead rows that PostgreSQL would vacuum meanwhile).
        await bus.js.purge_stream(stream_name(DOMAIN))
        producer, producer_tables = await fresh(producer_url)
        try:
            latency = await end_to_end(
                producer, bus, producer_tables, tenant_id, EVENTS, consumer_url
            )
        finally:
            await producer.close()
    finally:
        await bus.close()
        await db.close()
    return BackendFigures(backend, raw, relay, latency)


def envelope_size() -> int:
    return len(envelopes(1, new_id())[0].SerializeToString())


def main() -> None:
    # The bus says "nats disconnected" when it closes: not news here.
    logging.getLogger("mesh.bus").setLevel(logging.ERROR)
    results = []
    with support.private_nats() as nats_url:
        for backend in support.backends():
            with (
                support.database(backend) as relay_db,
                support.database(backend) as producer_db,
                support.database(backend) as consumer_db,
            ):
                urls = (relay_db, producer_db, consumer_db)
                results.append(asyncio.run(measure(backend, urls, nats_url)))
    print(
        f"Events: {EVENTS:,} envelopes of {envelope_size()} bytes ({EVENT_TYPE}), private "
        f"nats-server, relay batch {relay_module.BATCH}; {support.load_average()}"
    )
    figures: dict[str, float] = {"envelope_bytes": envelope_size(), "events": EVENTS}
    for r in results:
        ratio = r.relay_rps / r.raw_rps
        p = r.latency.percentiles
        ways = ", ".join(f"{way} {rate:,.0f}" for way, rate in r.raw.items())
        print(f"  {r.backend}:")
        print(
            f"    {'raw nats-py JetStream publish (ceiling)':<42} {r.raw_rps:>9,.0f} events/s"
            f"   ({ways})"
        )
        print(
            f"    {'outbox relay: publish + mark sent':<42} {r.relay_rps:>9,.0f} events/s"
            f"   {ratio:.2f} x raw   target >= {RELAY_TARGET}"
        )
        print(
            f"    commit -> handled, {RATE:,.0f} events/s asked ({PER_COMMIT} per commit), "
            f"{r.latency.produced_per_second:,.0f}/s achieved; producer and relay in one "
            f"process, the consumer in another with its own database:"
        )
        print(
            f"      p50 {p['p50_ms']:6.1f} ms   p95 {p['p95_ms']:6.1f} ms   "
            f"p99 {p['p99_ms']:6.1f} ms   max {p['max_ms']:6.1f} ms   "
            f"target p99 <= {P99_TARGET_MS:.0f} ms"
        )
        figures.update(r.figures())
    written = support.write_figures("events", figures)
    print(f"figures written to {written}")


if __name__ == "__main__":
    main()
