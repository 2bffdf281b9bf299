"""A poison event goes to the dead letters after `max_deliver` tries; the rest flow on.

A tiny consumer built from the real mesh parts (outbox, relay, Bus, ConsumerRunner,
inbox) in a domain of its own on the session's NATS, on SQLite and PostgreSQL. Its
handler writes a row per event and fails for one event while "broken". After the fix,
`erp events dlq replay` feeds the dead letter back and it is handled once; replaying
the whole stream to the consumer (`erp events replay`) has no second effect.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from auth_harness import BACKENDS, DatabaseFactory  # type: ignore[import-not-found]
from billing_harness import eventually  # type: ignore[import-not-found]
from nats.aio.msg import Msg
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth.v1 import auth_pb2
from erp.common.v1 import event_pb2
from mesh import events_cli
from mesh.bus import Bus
from mesh.consumer import Consumer, ConsumerRunner, On
from mesh.db import Database
from mesh.events import make_envelope, record, stream_name
from mesh.relay import OutboxRelay
from mesh.tables import MeshTables, mesh_tables

MAX_DELIVER = 3
TENANT = "t-dead-letters"


@dataclass
class Spy:
    """What the handler and the runner saw."""

    broken: bool = True
    poison: str = ""  # the value whose event fails while broken
    calls: Counter[str] = field(default_factory=Counter)  # handler calls per value
    # (value, num_delivered) of every message the runner was given.
    deliveries: list[tuple[str, int]] = field(default_factory=list)


class SpyingRunner(ConsumerRunner):
    """The real runner; notes each message's delivery count before handling it."""

    spy: Spy

    async def handle_batch(self, msgs: Sequence[Msg]) -> None:
        for msg in msgs:
            envelope = event_pb2.EventEnvelope.FromString(msg.data)
            payload = auth_pb2.UserCreated()
            envelope.payload.Unpack(payload)
            self.spy.deliveries.append((payload.user.user_id, msg.metadata.num_delivered))
        await super().handle_batch(msgs)


@dataclass
class Rig:
    domain: str
    consumer: Consumer
    db: Database
    tables: MeshTables
    handled: Table
    bus: Bus
    relay: OutboxRelay
    runner: SpyingRunner
    spy: Spy

    @property
    def event_type(self) -> str:
        return f"{self.domain}.thing.happened"

    async def publish(self, *values: str) -> list[str]:
        """Write one event per value through the outbox (one transaction); their ids."""
        ids = []
        async with self.db.transaction() as session:
            for value in values:
                payload = auth_pb2.UserCreated(user=auth_pb2.User(user_id=value))
                envelope = make_envelope(
                    self.event_type, payload, source="test", aggregate_id=value, tenant_id=TENANT
                )
                await record(session, self.tables, envelope)
                ids.append(envelope.event_id)
        return ids

    async def handled_rows(self) -> list[tuple[str, str]]:
        """(event id, value) of each row the handler committed, in commit order."""
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(self.handled.c.event_id, self.handled.c.value).order_by(self.handled.c.n)
            )
        return [(r[0], r[1]) for r in rows]

    async def inbox_ids(self) -> list[str]:
        inbox = self.tables.inbox
        async with self.db.sessions() as session:
            rows = await session.execute(
                select(inbox.c.event_id).where(inbox.c.consumer == self.consumer.name)
            )
        return [r[0] for r in rows]

    async def unpublished(self) -> int:
        outbox = self.tables.outbox
        async with self.db.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
        return int(count or 0)


@pytest.fixture(params=BACKENDS)
async def rig(
    request: pytest.FixtureRequest, databases: DatabaseFactory, nats_url: str
) -> AsyncIterator[Rig]:
    domain = f"dl{uuid.uuid4().hex[:10]}"
    metadata = MetaData()
    tables = mesh_tables(metadata)
    # No unique key on event_id: a second effect would show as a second row.
    handled = Table(
        "handled",
        metadata,
        Column("n", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False),
        Column("value", String(64), nullable=False),
    )
    db = Database(databases.make(request.param, "deadletters"))
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    spy = Spy()

    async def handle(
        session: AsyncSession, envelope: event_pb2.EventEnvelope, payload: auth_pb2.UserCreated
    ) -> None:
        value = payload.user.user_id
        spy.calls[value] += 1
        await session.execute(handled.insert().values(event_id=envelope.event_id, value=value))
        if spy.broken and value == spy.poison:
            raise RuntimeError(f"cannot handle {value}")

    consumer = Consumer(
        name=f"{domain}-c",
        handlers=[On(f"{domain}.thing.happened", auth_pb2.UserCreated, handle)],
        max_deliver=MAX_DELIVER,
    )
    bus = Bus(nats_url, domain)
    relay = OutboxRelay(db, bus, tables)
    runner = SpyingRunner("deadletters", consumer, db, bus, tables)
    runner.spy = spy
    bus.start()
    relay.start()
    runner.start()
    try:
        await asyncio.wait_for(bus.ready.wait(), 10)
        yield Rig(domain, consumer, db, tables, handled, bus, relay, runner, spy)
    finally:
        await runner.stop()
        await relay.stop()
        if bus.js is not None:
            # Leave the session's NATS as we found it: our stream and dead letters go.
            letters = await events_cli.dead_letters(bus.js, consumer=consumer.name)
            for letter in letters:
                await bus.js.delete_msg("ERP_DLQ", letter.seq)
            await bus.js.delete_stream(stream_name(domain))
        await bus.close()
        await db.close()


async def test_poison_event_is_dead_lettered_and_replayed_once(rig: Rig, nats_url: str) -> None:
    spy = rig.spy
    spy.poison = "p"
    first = await rig.publish("a1", "a2", "p", "a3")

    # The poison event fails: the others of its batch and those after it flow on.
    async def tried_once() -> bool | None:
        return True if spy.calls["p"] >= 1 else None

    await eventually(tried_once)
    later = await rig.publish("b1", "b2")
    later += await rig.publish("b3")

    async def dead_lettered() -> list[events_cli.DeadLetter] | None:
        letters = await events_cli.dlq_list(nats_url, io.StringIO(), consumer=rig.consumer.name)
        return letters or None

    [letter] = await eventually(dead_lettered, within=15)
    poison_id = first[2]
    good = [(first[i], v) for i, v in [(0, "a1"), (1, "a2"), (3, "a3")]]
    good += list(zip(later, ["b1", "b2", "b3"], strict=True))

    async def all_good_handled() -> bool | None:
        return True if len(await rig.handled_rows()) >= len(good) else None

    await eventually(all_good_handled)
    # Every other event once, in the order published; nothing of the poison one.
    assert await rig.handled_rows() == good
    assert await rig.unpublished() == 0

    # The poison one was delivered exactly max_deliver times, then dead-lettered.
    assert [n for v, n in spy.deliveries if v == "p"] == list(range(1, MAX_DELIVER + 1))
    # Each failed delivery runs the handler (with its batch, then alone); never more.
    assert MAX_DELIVER <= spy.calls["p"] <= 2 * MAX_DELIVER
    assert letter.event_id == poison_id
    assert letter.consumer == rig.consumer.name
    assert letter.original_subject == f"erp.{rig.domain}.{TENANT}.thing.happened"
    assert letter.original_stream == stream_name(rig.domain)
    assert letter.deliveries == str(MAX_DELIVER)
    assert letter.error == "RuntimeError: cannot handle p"
    out = io.StringIO()
    await events_cli.dlq_list(nats_url, out, consumer=rig.consumer.name)
    assert poison_id in out.getvalue() and "RuntimeError: cannot handle p" in out.getvalue()
    # It is not retried any more.
    tries = spy.calls["p"]
    await asyncio.sleep(1.5)
    assert spy.calls["p"] == tries

    # The fix, then the dead letter goes back: handled once.
    spy.broken = False
    done, failed = await events_cli.dlq_replay(nats_url, io.StringIO(), consumer=rig.consumer.name)
    assert failed == [] and [d.dlq_seq for d in done] == [letter.seq]

    async def poison_handled() -> bool | None:
        return True if any(v == "p" for _, v in await rig.handled_rows()) else None

    await eventually(poison_handled)
    assert await events_cli.dlq_list(nats_url, io.StringIO(), consumer=rig.consumer.name) == []

    # The whole stream again, poison's original and its re-published copy included:
    # the inbox skips everything.
    seen = len(spy.deliveries)
    replayed = await events_cli.replay(nats_url, io.StringIO(), rig.consumer.name, 1)
    assert replayed.pending == len(good) + 2

    async def redelivered() -> bool | None:
        return True if len(spy.deliveries) >= seen + len(good) + 2 else None

    await eventually(redelivered, within=15)
    await asyncio.sleep(0.5)  # anything that would be handled a second time, would be now
    rows = await rig.handled_rows()
    assert Counter(event_id for event_id, _ in rows) == Counter(
        [event_id for event_id, _ in good] + [poison_id]
    )
    assert rows == [*good, (poison_id, "p")]
    inbox = await rig.inbox_ids()
    assert sorted(inbox) == sorted([event_id for event_id, _ in good] + [poison_id])
