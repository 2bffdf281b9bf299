"""What svc_finance publishes (stream ERP_FINANCE), written to the outbox of the
caller's transaction; the event type comes from the payload's contract option."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.events import publish_payloads
from svc_finance.store import TABLES

SOURCE = "finance"


async def publish(session: AsyncSession, payload: Message, aggregate_id: str) -> None:
    await publish_payloads(session, TABLES, SOURCE, [(payload, aggregate_id)])


async def publish_many(session: AsyncSession, events: Sequence[tuple[Message, str]]) -> None:
    """Several events in one outbox statement, in order."""
    await publish_payloads(session, TABLES, SOURCE, events)
