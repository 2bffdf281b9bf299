"""Idempotent create calls: the first answer for (tenant, method, key) is stored in
the same transaction as the write and replayed for every retry with that key.

The key is bound to the request: the same key with a different request is an
error, not a silent replay. Two concurrent calls with one key cannot both write:
in `once`, the second waits for the first (a transaction-scoped advisory lock on the
key, on PostgreSQL; SQLite's writes take turns anyway) and gets its answer; where
that cannot be (`replayed` and `remember` in separate transactions) the loser rolls
back with ABORTED and its retry gets the replay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import current_request, current_tenant
from mesh.errors import Aborted, InvalidArgument
from mesh.tables import MeshTables

R = TypeVar("R", bound=Message)
MAX_KEY_LENGTH = 200
KEY_FIELD = "idempotency_key"


def request_digest(request: Message) -> str:
    """Hash of the request without its idempotency key (deterministic encoding)."""
    copy = type(request)()
    copy.CopyFrom(request)
    if KEY_FIELD in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField(KEY_FIELD)
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


def _method(request: Message) -> str:
    """The RPC being served (keys are per method); the request type outside an RPC."""
    info = current_request()
    return info.method if info is not None else request.DESCRIPTOR.full_name


async def once(
    session: AsyncSession,
    tables: MeshTables,
    *,
    request: Message,
    response_type: type[R],
    run: Callable[[], Awaitable[R]],
    keep: Callable[[R], R] | None = None,
) -> R:
    """Run `run` unless the request's `idempotency_key` was seen for this RPC in this
    tenant; a request without a key always runs.

    `keep` trims what is stored for replays (a secret shown once is not kept).
    """
    await _wait_for_same_key(session, request)
    replay = await replayed(session, tables, request, response_type)
    if replay is not None:
        return replay
    response = await run()
    await remember(session, tables, request, keep(response) if keep else response)
    return response


async def _wait_for_same_key(session: AsyncSession, request: Message) -> None:
    """Hold the key until this transaction ends: a concurrent call with the same key
    waits here, then finds the first call's answer instead of failing halfway (an
    invoice it would pay already paid, say)."""
    key = _key(request)
    if not key:
        return
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return
    name = f"{current_tenant()}|{_method(request)}|{key}"
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name}
    )


def _key(request: Message) -> str:
    key = str(getattr(request, KEY_FIELD, ""))
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument.one(KEY_FIELD, f"at most {MAX_KEY_LENGTH} characters")
    if not key.isprintable():
        raise InvalidArgument.one(KEY_FIELD, "printable characters only")
    return key


async def replayed(
    session: AsyncSession, tables: MeshTables, request: Message, response_type: type[R]
) -> R | None:
    """The first answer to this request's idempotency key, if there was one.

    For calls that cannot run in one transaction (a payment provider in between):
    look up first, then `remember` the answer in the transaction that records it.
    """
    key = _key(request)
    if not key:
        return None
    table = tables.idempotency
    stored = (
        await session.execute(
            select(table.c.response, table.c.request_hash).where(
                table.c.tenant_id == current_tenant(),
                table.c.method == _method(request),
                table.c.idempotency_key == key,
            )
        )
    ).first()
    if stored is None:
        return None
    if stored.request_hash != request_digest(request):
        raise InvalidArgument.one(KEY_FIELD, "already used with a different request")
    return response_type.FromString(stored.response)


async def remember(
    session: AsyncSession, tables: MeshTables, request: Message, response: Message
) -> None:
    """Store the answer for the request's idempotency key (none: nothing to do)."""
    key = _key(request)
    if not key:
        return
    await session.flush()  # the call's own conflicts surface here, not as ours below
    try:
        await session.execute(
            tables.idempotency.insert().values(
                tenant_id=current_tenant(),
                method=_method(request),
                idempotency_key=key,
                request_hash=request_digest(request),
                response=response.SerializeToString(),
                created_at=datetime.now(UTC),
            )
        )
    except IntegrityError:
        raise Aborted(
            "a request with this idempotency key is in flight; retry to get its answer",
            reason="IDEMPOTENCY_CONFLICT",
        ) from None
