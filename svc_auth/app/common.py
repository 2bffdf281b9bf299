"""What every use case shares: its dependencies, stamps, audit entries, and
the "commit, then fail" pattern for failures that must leave a trace."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth.v1 import auth_pb2
from mesh.context import current_principal
from mesh.db import Database
from mesh.idempotency import once
from mesh.ids import new_id
from svc_auth.app.profiles import ProfileCache
from svc_auth.config import AuthConfig
from svc_auth.keys import KeyStore
from svc_auth.passwords import Passwords
from svc_auth.store import TABLES, AuditLog, AuditRow
from svc_auth.tokens import TokenIssuer

# Short names every use case reads with.
A = auth_pb2.AuditEventKind
ACTIVE = auth_pb2.USER_STATUS_ACTIVE
INVITED = auth_pb2.USER_STATUS_INVITED
DEACTIVATED = auth_pb2.USER_STATUS_DEACTIVATED

R = TypeVar("R", bound=Message)
T = TypeVar("T")


@dataclass(frozen=True)
class Deps:
    db: Database
    keys: KeyStore
    issuer: TokenIssuer
    passwords: Passwords
    config: AuthConfig
    profiles: ProfileCache


@dataclass(frozen=True)
class Replay(Generic[R, T]):
    """How to store the first answer of an idempotent create (mesh.idempotency):
    the answer is a contract message, so the servicer passes its renderer."""

    request: Message  # carries the idempotency_key
    response_type: type[R]
    render: Callable[[T], R]
    keep: Callable[[R], R] | None = None  # trims what is stored (secrets shown once)


async def replayable(
    session: AsyncSession, replay: Replay[R, T], run: Callable[[], Awaitable[R]]
) -> R:
    """Run a create once per idempotency key, inside the caller's transaction."""
    return await once(
        session,
        TABLES,
        request=replay.request,
        response_type=replay.response_type,
        run=run,
        keep=replay.keep,
    )


def now() -> datetime:
    return datetime.now(UTC)


def actor_id() -> str:
    principal = current_principal()
    return principal.subject if principal else ""


def created(by: str, at: datetime) -> dict[str, Any]:
    """Stamp columns for a new row."""
    return {"created_at": at, "created_by": by, "updated_at": at, "updated_by": by}


def touched(row: Any, by: str, at: datetime) -> None:
    row.updated_at = at
    row.updated_by = by


def audit(
    session: AsyncSession,
    kind: auth_pb2.AuditEventKind.ValueType,
    *,
    subject_id: str = "",
    detail: str = "",
    actor: str | None = None,
) -> None:
    """An entry in the current tenant's security log (same transaction)."""
    AuditLog(session).add(
        AuditRow(
            id=new_id(),
            kind=int(kind),
            actor_id=actor_id() if actor is None else actor,
            subject_id=subject_id,
            detail=detail[:500],
            occur_time=now(),
        )
    )
