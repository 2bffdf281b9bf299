"""Consuming events: durable JetStream pull consumers with an inbox and a dead-letter subject.

A service declares what it consumes as `Consumer`s in its ServiceDefinition. For each,
the mesh keeps one durable pull consumer (explicit ack) on the source domain's stream
and runs this loop:

- a fetched batch is handled in ONE database transaction: the inbox (handled event
  ids per consumer) is read first, handlers run only for new events, their ids go
  into the inbox, the transaction commits, then the batch is acked. A redelivered or
  duplicated event therefore has no second effect.
- when a batch fails, its events are handled one by one so one poison event cannot
  hold the others back; a failing event is nak'ed with a growing delay, and on its
  `max_deliver`-th failure it is published to `erp.dlq.<consumer>` with the error
  and acked. `erp events dlq` lists and replays those.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import APIError, BadRequestError
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp.common.v1 import event_pb2
from mesh.bus import Bus
from mesh.context import RequestInfo, acting_for_tenant, set_principal, set_request
from mesh.db import Database
from mesh.events import stream_name
from mesh.tables import MeshTables

log = logging.getLogger("mesh.consumer")
_tracer = trace.get_tracer("mesh.consumer")

DLQ_STREAM = "ERP_DLQ"
DLQ_PREFIX = "erp.dlq"
BATCH = 128
FETCH_WAIT_SECONDS = 1.0
TOP_UP_WAIT_SECONDS = 0.005
# Unacked events come again after this long; short, because after a broker crash the
# acks in flight are lost and those events wait for it (the inbox skips them).
ACK_WAIT_SECONDS = 10.0
RETRY_DELAYS_SECONDS = (0.2, 1.0, 5.0, 15.0, 30.0)

P = TypeVar("P", bound=Message)


@dataclass(frozen=True)
class On(Generic[P]):
    """Handle events of one type: `payload` is the message class to unpack."""

    event_type: str  # "auth.tenant.created"
    payload: type[P]
    handle: Callable[[AsyncSession, event_pb2.EventEnvelope, P], Awaitable[None]]


@dataclass(frozen=True)
class Consumer:
    """A durable consumer of some event types of one domain's stream."""

    name: str  # durable name, unique in the stream: "billing-from-auth"
    handlers: Sequence[On[Any]]
    max_deliver: int = 5  # failed deliveries before the event goes to the DLQ
    by_type: dict[str, On[Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        domains = {h.event_type.split(".", 1)[0] for h in self.handlers}
        if len(domains) != 1:
            raise ValueError(f"consumer {self.name}: handlers must share one domain: {domains}")
        object.__setattr__(self, "by_type", {h.event_type: h for h in self.handlers})

    @property
    def domain(self) -> str:
        return self.handlers[0].event_type.split(".", 1)[0]

    @property
    def stream(self) -> str:
        return stream_name(self.domain)

    def filter_subjects(self) -> list[str]:
        # Subjects are erp.<domain>.<tenant>.<aggregate>.<verb>: any tenant.
        return [f"erp.{self.domain}.*.{t.split('.', 1)[1]}" for t in self.by_type]


def dlq_subject(consumer: str) -> str:
    return f"{DLQ_PREFIX}.{consumer}"


async def ensure_dlq_stream(js: JetStreamContext) -> None:
    config = StreamConfig(name=DLQ_STREAM, subjects=[f"{DLQ_PREFIX}.>"])
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def ensure_consumer(
    js: JetStreamContext,
    consumer: Consumer,
    *,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
    start_seq: int | None = None,
    start_time: datetime | None = None,
) -> None:
    """Create the durable consumer, or bring its subjects up to date (idempotent)."""
    config = ConsumerConfig(
        durable_name=consumer.name,
        name=consumer.name,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ACK_WAIT_SECONDS,
        max_deliver=-1,  # the DLQ decision is ours, so the error travels with the event
        filter_subjects=consumer.filter_subjects(),
        deliver_policy=deliver_policy,
        opt_start_seq=start_seq,
        opt_start_time=start_time,
        max_ack_pending=10_000,
    )
    try:
        await js.add_consumer(consumer.stream, config)
    except APIError:
        # Exists with another start position (`erp events replay` sets one; the server
        # answers 400 or 500 "deliver policy can not be updated"): keep its position,
        # update the filter.
        info = await js.consumer_info(consumer.stream, consumer.name)
        current = info.config
        current.filter_subjects = config.filter_subjects
        current.filter_subject = None
        await js.add_consumer(consumer.stream, current)


class ConsumerRunner:
    """Runs one Consumer in the background for the life of the service."""

    def __init__(
        self, service: str, consumer: Consumer, db: Database, bus: Bus, tables: MeshTables
    ) -> None:
        self.service = service
        self.consumer = consumer
        self.db = db
        self.bus = bus
        self.tables = tables
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.consumer.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        await self.bus.ready.wait()
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS went away, stream missing...: start over
                log.warning(
                    "consumer interrupted; resubscribing",
                    extra={"consumer": self.consumer.name, "error": str(exc)},
                )
                await asyncio.sleep(1.0)

    async def _consume(self) -> None:
        js = self.bus.js
        assert js is not None
        await self.bus.ensure_stream(self.consumer.domain)
        await ensure_dlq_stream(js)
        await ensure_consumer(js, self.consumer)
        sub = await js.pull_subscribe_bind(durable=self.consumer.name, stream=self.consumer.stream)
        try:
            while True:
                try:
                    msgs = await sub.fetch(1, timeout=FETCH_WAIT_SECONDS)
                except TimeoutError:
                    # Idle: make sure the consumer still exists (`erp events replay`
                    # recreates it); NotFoundError sends us round to resubscribe.
                    await js.consumer_info(self.consumer.stream, self.consumer.name)
                    continue
                # Then whatever else is there now. One fetch of BATCH would wait for
                # the batch to fill (up to its timeout) while events trickle in.
                with contextlib.suppress(TimeoutError):
                    msgs += await sub.fetch(BATCH - 1, timeout=TOP_UP_WAIT_SECONDS)
                await self.handle_batch(msgs)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def handle_batch(self, msgs: Sequence[Msg]) -> None:
        if len(msgs) == 1:
            await self._handle_alone(msgs[0])  # no second run for a lone failure
            return
        try:
            await self._handle_together(msgs)
        except Exception:
            # Someone in the batch fails: find out who, one by one.
            for msg in msgs:
                await self._handle_alone(msg)
            return
        for msg in msgs:
            await msg.ack()

    async def _handle_together(self, msgs: Sequence[Msg]) -> None:
        envelopes = [_envelope(m) for m in msgs]
        async with self.db.transaction() as session:
            done = await self._already_handled(session, [e.event_id for e in envelopes])
            handled = []
            for envelope in envelopes:
                if envelope.event_id in done:
                    continue
                done.add(envelope.event_id)
                await self._apply(session, envelope)
                handled.append(envelope.event_id)
            await self._record_handled(session, handled)

    async def _handle_alone(self, msg: Msg) -> None:
        try:
            envelope = _envelope(msg)
            async with self.db.transaction() as session:
                if not await self._already_handled(session, [envelope.event_id]):
                    await self._apply(session, envelope)
                    await self._record_handled(session, [envelope.event_id])
        except IntegrityError:
            # Another replica handled it first: its inbox row won the race.
            await msg.ack()
        except Exception as exc:
            await self._failed(msg, exc)
        else:
            await msg.ack()

    async def _already_handled(self, session: AsyncSession, event_ids: list[str]) -> set[str]:
        inbox = self.tables.inbox
        rows = await session.execute(
            select(inbox.c.event_id).where(
                inbox.c.consumer == self.consumer.name, inbox.c.event_id.in_(event_ids)
            )
        )
        return {r[0] for r in rows}

    async def _apply(self, session: AsyncSession, envelope: event_pb2.EventEnvelope) -> None:
        on = self.consumer.by_type.get(envelope.event_type)
        if on is not None:
            payload = on.payload()
            if not envelope.payload.Unpack(payload):
                raise DecodeError(
                    f"payload is {envelope.payload.TypeName()}, expected "
                    f"{on.payload.DESCRIPTOR.full_name}"
                )
            set_principal(None)
            parts = envelope.traceparent.split("-")
            set_request(
                RequestInfo(
                    method=f"event:{envelope.event_type}",
                    correlation_id=envelope.correlation_id or envelope.event_id,
                    trace_id=parts[1] if len(parts) == 4 else "",
                    traceparent=envelope.traceparent,
                    causation_id=envelope.event_id,
                    acting_service=self.service,
                )
            )
            # The trace of the request that wrote the event continues here (a no-op
            # tracer unless an exporter is configured, see mesh.tracing).
            parent = propagate.extract({"traceparent": envelope.traceparent})
            with (
                _tracer.start_as_current_span(
                    f"handle {envelope.event_type}", context=parent, kind=SpanKind.CONSUMER
                ),
                acting_for_tenant(envelope.tenant_id),
            ):
                await on.handle(session, envelope, payload)

    async def _record_handled(self, session: AsyncSession, event_ids: list[str]) -> None:
        """Inbox rows for the batch in one statement (one row each is a round trip each)."""
        if not event_ids:
            return
        at = datetime.now(UTC)
        await session.execute(
            self.tables.inbox.insert(),
            [{"consumer": self.consumer.name, "event_id": e, "handled_at": at} for e in event_ids],
        )

    async def _failed(self, msg: Msg, error: Exception) -> None:
        delivered = msg.metadata.num_delivered
        extra = {
            "consumer": self.consumer.name,
            "subject": msg.subject,
            "delivered": delivered,
            "error": f"{type(error).__name__}: {error}",
        }
        if delivered < self.consumer.max_deliver:
            log.warning("event handler failed; will retry", extra=extra)
            delay = RETRY_DELAYS_SECONDS[min(delivered, len(RETRY_DELAYS_SECONDS)) - 1]
            await msg.nak(delay=delay)
            return
        log.error("event handler failed for good; sent to the dead-letter subject", extra=extra)
        js = self.bus.js
        assert js is not None
        headers = {
            "Erp-Error": f"{type(error).__name__}: {error}"[:1000],
            "Erp-Consumer": self.consumer.name,
            "Erp-Original-Subject": msg.subject,
            "Erp-Original-Stream": msg.metadata.stream,
            "Erp-Original-Seq": str(msg.metadata.sequence.stream),
            "Erp-Deliveries": str(delivered),
        }
        await js.publish(dlq_subject(self.consumer.name), msg.data, headers=headers)
        await msg.ack()


def _envelope(msg: Msg) -> event_pb2.EventEnvelope:
    return event_pb2.EventEnvelope.FromString(msg.data)
