"""Writing events: an envelope in the outbox, in the same transaction as the data.

Subjects are `erp.<domain>.<tenant>.<aggregate>.<verb>`, so a consumer can take one
tenant (`erp.auth.T.>`) or all (`erp.auth.>`); one stream per domain, `ERP_<DOMAIN>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy import Insert
from sqlalchemy.ext.asyncio import AsyncSession

from erp.common.v1 import event_pb2, options_pb2
from mesh.context import current_principal, current_request, current_tenant
from mesh.db import bulk_insert, insert_rows
from mesh.ids import new_id
from mesh.tables import MeshTables
from mesh.tracing import current_traceparent


def stream_name(domain: str) -> str:
    return f"ERP_{domain.upper()}"


def subject_for(event_type: str, tenant_id: str) -> str:
    domain, rest = event_type.split(".", 1)
    return f"erp.{domain}.{tenant_id}.{rest}"


def _actor() -> event_pb2.Actor:
    request = current_request()
    if request is not None and request.acting_service:
        return event_pb2.Actor(kind=event_pb2.ACTOR_KIND_SERVICE, id=request.acting_service)
    principal = current_principal()
    if principal is None:
        return event_pb2.Actor(kind=event_pb2.ACTOR_KIND_ANONYMOUS)
    kind = (
        event_pb2.ACTOR_KIND_API_KEY if principal.kind == "api_key" else event_pb2.ACTOR_KIND_USER
    )
    return event_pb2.Actor(kind=kind, id=principal.subject)


def make_envelope(
    event_type: str,
    payload: Message,
    *,
    source: str,
    aggregate_id: str,
    tenant_id: str | None = None,
    actor: event_pb2.Actor | None = None,
) -> event_pb2.EventEnvelope:
    request = current_request()
    packed = any_pb2.Any()
    packed.Pack(payload)
    occurred = timestamp_pb2.Timestamp()
    occurred.FromDatetime(datetime.now(UTC))
    return event_pb2.EventEnvelope(
        event_id=new_id(),
        event_type=event_type,
        tenant_id=tenant_id or current_tenant(),
        source=source,
        occurred_at=occurred,
        actor=actor or _actor(),
        correlation_id=request.correlation_id if request else "",
        causation_id=(request.causation_id or request.correlation_id) if request else "",
        traceparent=current_traceparent() or (request.traceparent if request else ""),
        schema_version=1,
        payload=packed,
        aggregate_id=aggregate_id,
    )


async def record(
    session: AsyncSession, tables: MeshTables, envelope: event_pb2.EventEnvelope
) -> None:
    """Add the event to the outbox of the session's transaction."""
    await record_many(session, tables, [envelope])


async def record_many(
    session: AsyncSession, tables: MeshTables, envelopes: Sequence[event_pb2.EventEnvelope]
) -> None:
    """Add several events in one statement (their order is kept)."""
    await bulk_insert(session, tables.outbox, outbox_rows(envelopes))
    session.info["wrote_events"] = True


def outbox_rows(envelopes: Sequence[event_pb2.EventEnvelope]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "event_id": e.event_id,
            "event_type": e.event_type,
            "subject": subject_for(e.event_type, e.tenant_id),
            "tenant_id": e.tenant_id,
            "aggregate_id": e.aggregate_id,
            "envelope": e.SerializeToString(),
            "created_at": now,
        }
        for e in envelopes
    ]


def outbox_insert(
    session: AsyncSession, tables: MeshTables, envelopes: Sequence[event_pb2.EventEnvelope]
) -> Insert:
    """The outbox INSERT of `envelopes`, as a statement the caller runs with others
    (mesh.db.execute_together); the relay is woken when the transaction commits."""
    session.info["wrote_events"] = True
    return insert_rows(session, tables.outbox, outbox_rows(envelopes))


def envelopes_of(
    source: str, events: Sequence[tuple[Message, str]]
) -> list[event_pb2.EventEnvelope]:
    tenant = current_tenant()
    return [
        make_envelope(
            event_type_of(payload), payload, source=source, aggregate_id=aggregate, tenant_id=tenant
        )
        for payload, aggregate in events
    ]


def event_type_of(payload: Message) -> str:
    """The type a payload is published as, from its `(erp.common.v1.event_type)` option,
    so a payload and its type can never disagree."""
    event_type = payload.DESCRIPTOR.GetOptions().Extensions[options_pb2.event_type]
    if not event_type:
        raise TypeError(f"{payload.DESCRIPTOR.full_name} is not an event payload")
    return str(event_type)


async def publish_payloads(
    session: AsyncSession,
    tables: MeshTables,
    source: str,
    events: Sequence[tuple[Message, str]],
) -> None:
    """(payload, aggregate id) pairs of the caller's tenant into the outbox, in order,
    in one statement."""
    if not events:
        return
    await record_many(session, tables, envelopes_of(source, events))
