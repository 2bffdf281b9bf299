"""Idempotent create calls: the first answer for (tenant, method, key) is stored in
the same transaction as the write and replayed for every retry with that key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import current_tenant
from mesh.errors import InvalidArgument
from mesh.tables import MeshTables

R = TypeVar("R", bound=Message)
MAX_KEY_LENGTH = 200


async def once(
    session: AsyncSession,
    tables: MeshTables,
    *,
    method: str,
    key: str,
    response_type: type[R],
    run: Callable[[], Awaitable[R]],
) -> R:
    """Run `run` unless `key` was seen for this method; an empty key always runs."""
    if not key:
        return await run()
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument.one("idempotency_key", f"at most {MAX_KEY_LENGTH} characters")
    table = tables.idempotency
    tenant = current_tenant()
    stored = await session.scalar(
        select(table.c.response).where(
            table.c.tenant_id == tenant, table.c.method == method, table.c.idempotency_key == key
        )
    )
    if stored is not None:
        return response_type.FromString(stored)
    response = await run()
    await session.execute(
        table.insert().values(
            tenant_id=tenant,
            method=method,
            idempotency_key=key,
            response=response.SerializeToString(),
            created_at=datetime.now(UTC),
        )
    )
    return response
