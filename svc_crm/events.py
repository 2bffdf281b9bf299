"""What svc_crm publishes (stream ERP_CRM), written to the outbox of the caller's
transaction. The event type is read from the payload's contract option, so a
payload and its type can never disagree. Contact counts go to billing as usage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from erp.billing.v1 import billing_pb2
from mesh.context import current_tenant
from mesh.events import publish_payloads
from mesh.ids import new_id
from mesh.timestamps import to_timestamp
from svc_crm.store import TABLES

SOURCE = "crm"
CONTACTS_METRIC = "contacts"


async def publish(session: AsyncSession, payload: Message, aggregate_id: str) -> None:
    await publish_payloads(session, TABLES, SOURCE, [(payload, aggregate_id)])


async def publish_many(session: AsyncSession, events: Sequence[tuple[Message, str]]) -> None:
    """Several events in one outbox statement, in order."""
    await publish_payloads(session, TABLES, SOURCE, events)


async def report_contacts(session: AsyncSession, live_contacts: int, at: datetime) -> None:
    """The tenant's live contact count, as a `contacts` gauge (billing keeps the latest)."""
    occurred = to_timestamp(at)
    usage = billing_pb2.UsageReported(
        records=[
            billing_pb2.UsageRecord(
                transaction_id=f"crm-contacts-{new_id()}",
                metric=CONTACTS_METRIC,
                value=live_contacts,
                occur_time=occurred,
            )
        ]
    )
    await publish(session, usage, current_tenant())
