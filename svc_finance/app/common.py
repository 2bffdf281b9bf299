"""What every finance use case shares: dependencies, the clock, the acting user
and idempotent replays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from erp.finance.v1 import finance_pb2 as pb
from mesh.batching import Batcher
from mesh.context import actor_id as mesh_actor_id
from mesh.db import Database
from mesh.idempotency import once
from svc_finance.config import FinanceConfig
from svc_finance.store import TABLES

R = TypeVar("R", bound=Message)


@dataclass(frozen=True)
class Deps:
    db: Database
    config: FinanceConfig
    # Invoice postings of one tenant share transactions (one lock of its books per
    # batch): app.invoice_posting.
    invoice_posting: Batcher[str, pb.Invoice]

    def now(self) -> datetime:
        return self.config.clock()

    def today(self) -> date:
        return self.config.clock().date()


def actor_id() -> str:
    """Who is acting: the caller's user or key id, else the acting service's name."""
    return mesh_actor_id("finance")


async def replayable(
    session: AsyncSession, request: Message, response_type: type[R], run: Callable[[], Awaitable[R]]
) -> R:
    """Run a create once per idempotency key, inside the caller's transaction."""
    return await once(session, TABLES, request=request, response_type=response_type, run=run)
