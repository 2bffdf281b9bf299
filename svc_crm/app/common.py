"""What every CRM use case shares: dependencies, the clock, the acting user,
idempotent replays, record history for timelines, and the contact-limit check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import actor_id as mesh_actor_id
from mesh.db import Database
from mesh.entitlements import EntitlementCache
from mesh.idempotency import once
from mesh.ids import new_id
from svc_crm.config import CrmConfig
from svc_crm.domain.records import RecordType
from svc_crm.store import TABLES, History, HistoryRow

R = TypeVar("R", bound=Message)


@dataclass(frozen=True)
class Deps:
    db: Database
    config: CrmConfig
    # The interceptor's cache: public web forms look up their tenant's plan here.
    entitlements: EntitlementCache

    def now(self) -> datetime:
        return self.config.clock()


def actor_id() -> str:
    """Who is acting: the caller's user or key id, else the acting service's name."""
    return mesh_actor_id("crm")


async def replayable(
    session: AsyncSession, request: Message, response_type: type[R], run: Callable[[], Awaitable[R]]
) -> R:
    """Run a create once per idempotency key, inside the caller's transaction."""
    return await once(session, TABLES, request=request, response_type=response_type, run=run)


def remember_change(
    session: AsyncSession,
    kind: RecordType,
    record_id: str,
    change: str,
    at: datetime,
    summary: str = "",
) -> None:
    """A line of the record's history (its timeline shows it)."""
    History(session).add(
        HistoryRow(
            id=new_id(),
            record_kind=kind.value,
            record_id=record_id,
            change=change,
            summary=summary[:500],
            actor_id=actor_id(),
            at=at,
        )
    )
