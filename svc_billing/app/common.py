"""What every use case shares: dependencies, the clock, idempotent replays and
the platform-operator check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import require_principal
from mesh.db import Database
from mesh.errors import PermissionDenied
from mesh.idempotency import once
from svc_billing.config import BillingConfig
from svc_billing.payments import PaymentProvider
from svc_billing.store import TABLES

R = TypeVar("R", bound=Message)
T = TypeVar("T")


@dataclass(frozen=True)
class Deps:
    db: Database
    config: BillingConfig
    providers: dict[str, PaymentProvider]  # by name: "manual" always, "stripe" when set up

    def now(self) -> datetime:
        return self.config.clock()


@dataclass(frozen=True)
class Replay(Generic[R, T]):
    """How a use case stores the first answer for an idempotency key: the answer is a
    contract message, so the servicer hands in its renderer."""

    request: Message  # carries the idempotency_key
    response_type: type[R]
    render: Callable[[T], R]


async def replayable(
    session: AsyncSession, request: Message, response_type: type[R], run: Callable[[], Awaitable[R]]
) -> R:
    """Run a create once per idempotency key, inside the caller's transaction."""
    return await once(session, TABLES, request=request, response_type=response_type, run=run)


def require_platform_operator(deps: Deps) -> None:
    """Catalog edits and bank-transfer bookings: only the platform's own tenant(s)."""
    principal = require_principal()
    if principal.tenant_id not in deps.config.platform_tenants:
        raise PermissionDenied(
            "only the platform operator's administrators may do this",
            reason="PLATFORM_OPERATOR_ONLY",
        )
