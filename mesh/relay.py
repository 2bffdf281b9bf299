"""The outbox relay: publishes committed events to JetStream, oldest first.

Each batch is sent without awaiting acks one by one (the acks are gathered), with
`Nats-Msg-Id` = event id so a re-sent event is dropped by the broker. Only the
unbroken prefix of acknowledged events is marked sent, so per-aggregate order holds
across a NATS outage: the rest is sent again, in order, when NATS is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from mesh.bus import Bus
from mesh.db import Database
from mesh.tables import MeshTables

log = logging.getLogger("mesh.relay")
BATCH = 512
ACK_TIMEOUT_SECONDS = 5.0
IDLE_POLL_SECONDS = 1.0
LINGER_SECONDS = 0.01
# JetStream keeps the events; the outbox keeps sent rows a day for inspection only.
KEEP_SENT = timedelta(days=1)
PURGE_EVERY_SECONDS = 600.0


class OutboxRelay:
    def __init__(self, db: Database, bus: Bus, tables: MeshTables) -> None:
        self.db = db
        self.bus = bus
        self.tables = tables
        self._task: asyncio.Task[None] | None = None
        # Streams known to exist. A service may publish into another domain's stream
        # (usage for billing): it makes sure that stream exists rather than wait for
        # its owner to start (JetStream would refuse the publish meanwhile).
        self._streams: set[str] = {bus.domain}
        bus.on_reconnected(self._forget_streams)
        self._marking: asyncio.Task[None] | None = None

    def _forget_streams(self) -> None:
        self._streams = {self.bus.domain}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.settle()

    async def _run(self) -> None:
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() - last_purge > PURGE_EVERY_SECONDS:
                last_purge = loop.time()
                try:
                    await self.purge_sent(datetime.now(UTC) - KEEP_SENT)
                except Exception:
                    log.exception("outbox purge failed; will try again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.db.committed.wait(), IDLE_POLL_SECONDS)
                # Let the commits of the next few milliseconds join this drain: under
                # load one select/publish/update then carries many events, not one.
                await asyncio.sleep(LINGER_SECONDS)
            self.db.committed.clear()
            if not self.bus.connected:
                continue
            try:
                await self.drain()
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(IDLE_POLL_SECONDS)

    async def drain(self) -> int:
        """Publish everything pending, oldest first; returns how many were published.

        Pipelined: while a batch is in flight the next one is read and the previous
        one marked sent, so the database and NATS work at the same time; the last
        mark finishes while the relay waits for the next commits (`settle` waits for
        it). Rows that commit late with a lower sequence are picked up by the next
        drain.
        """
        await self.settle()  # never select rows whose mark is still on its way
        total = 0
        rows = await self._pending(after=None)
        reading: asyncio.Task[list[Any]] | None = None
        try:
            while rows:
                if len(rows) == BATCH:
                    reading = asyncio.create_task(self._pending(after=rows[-1].seq))
                sent = await self._publish(rows)
                await self.settle()
                if sent:
                    self._marking = asyncio.create_task(self._mark_sent(sent))
                total += len(sent)
                if len(sent) < len(rows) or reading is None:
                    break
                rows, reading = await reading, None
        finally:
            if reading is not None and not reading.done():
                reading.cancel()
                with contextlib.suppress(BaseException):
                    await reading
        return total

    async def settle(self) -> None:
        """Wait for the last batch to be marked sent (a failed mark only re-sends it)."""
        marking, self._marking = self._marking, None
        if marking is not None:
            try:
                await marking
            except Exception:
                log.exception("marking events sent failed; they will be sent again")

    async def _pending(self, after: int | None) -> list[Any]:
        outbox = self.tables.outbox
        stmt = (
            select(outbox.c.seq, outbox.c.event_id, outbox.c.subject, outbox.c.envelope)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(BATCH)
        )
        if after is not None:
            stmt = stmt.where(outbox.c.seq > after)
        async with self.db.sessions() as session:
            return list((await session.execute(stmt)).all())

    async def _publish(self, rows: list[Any]) -> list[int]:
        """Send the rows; the sequences of the acknowledged prefix."""
        js = self.bus.js
        assert js is not None
        for domain in {row.subject.split(".")[1] for row in rows} - self._streams:
            await self.bus.ensure_stream(domain)
            self._streams.add(domain)
        # publish_async sends without a round trip per event; its acks come back as
        # futures, which never resolve if the connection drops: bounded wait.
        acks = [
            await js.publish_async(row.subject, row.envelope, headers={"Nats-Msg-Id": row.event_id})
            for row in rows
        ]
        await asyncio.wait(acks, timeout=ACK_TIMEOUT_SECONDS)
        for ack in acks:
            ack.cancel()  # no-op for the answered; the rest are sent again, in order
        sent = []
        for row, ack in zip(rows, acks, strict=True):
            error = _failure(ack)
            if error:
                log.warning("event not acknowledged; will retry", extra={"error": error})
                break
            sent.append(row.seq)
        return sent

    async def _mark_sent(self, seqs: list[int]) -> None:
        outbox = self.tables.outbox
        async with self.db.transaction() as session:
            if self.db.dialect == "postgresql":
                # Losing this mark in a crash only re-sends the events, which the broker
                # (Nats-Msg-Id) and the consumers' inboxes drop: no need to wait for
                # the WAL flush.
                await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            await session.execute(
                outbox.update().where(outbox.c.seq.in_(seqs)).values(published_at=datetime.now(UTC))
            )

    async def purge_sent(self, before: datetime) -> int:
        """Delete rows published before `before`; returns how many went."""
        outbox = self.tables.outbox
        async with self.db.transaction() as session:
            result = await session.execute(
                outbox.delete().where(
                    outbox.c.published_at.is_not(None), outbox.c.published_at < before
                )
            )
        return int(getattr(result, "rowcount", 0) or 0)


def _failure(ack: asyncio.Future[Any]) -> str:
    """Why an event was not acknowledged; "" when it was."""
    if ack.cancelled():
        return "no ack in time"
    error = ack.exception()
    return f"{type(error).__name__}: {error}" if error is not None else ""
