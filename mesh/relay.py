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

from sqlalchemy import select

from mesh.bus import Bus
from mesh.db import Database
from mesh.tables import MeshTables

log = logging.getLogger("mesh.relay")
BATCH = 256
IDLE_POLL_SECONDS = 1.0
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

    def _forget_streams(self) -> None:
        self._streams = {self.bus.domain}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
            self.db.committed.clear()
            if not self.bus.connected:
                continue
            try:
                while await self.publish_batch() == BATCH:
                    pass
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(IDLE_POLL_SECONDS)

    async def publish_batch(self) -> int:
        """Publish up to BATCH pending events; returns how many were marked sent."""
        assert self.bus.js is not None
        outbox = self.tables.outbox
        async with self.db.sessions() as session:
            rows = (
                await session.execute(
                    select(outbox.c.seq, outbox.c.event_id, outbox.c.subject, outbox.c.envelope)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(BATCH)
                )
            ).all()
        if not rows:
            return 0
        for domain in {row.subject.split(".")[1] for row in rows} - self._streams:
            await self.bus.ensure_stream(domain)
            self._streams.add(domain)
        acks = await asyncio.gather(
            *(
                self.bus.js.publish(
                    row.subject, row.envelope, headers={"Nats-Msg-Id": row.event_id}
                )
                for row in rows
            ),
            return_exceptions=True,
        )
        sent = []
        for row, ack in zip(rows, acks, strict=True):
            if isinstance(ack, BaseException):
                log.warning("event not acknowledged; will retry", extra={"error": str(ack)})
                break
            sent.append(row.seq)
        if sent:
            async with self.db.transaction() as session:
                await session.execute(
                    outbox.update()
                    .where(outbox.c.seq.in_(sent))
                    .values(published_at=datetime.now(UTC))
                )
        return len(sent)

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
