"""Database access for a service: async engine, unit of work, migrations at start,
and a repository base that scopes every query to the caller's tenant."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, DateTime, Select, String, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from mesh.context import current_tenant
from mesh.errors import NotFound


class UtcDateTime(TypeDecorator[Any]):
    """Timestamps stored and returned as aware UTC datetimes on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: use datetime.now(UTC)")
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        from datetime import UTC

        if value is not None and value.tzinfo is None:  # SQLite drops the zone
            return value.replace(tzinfo=UTC)
        return value


class TenantOwned:
    """Mixin for every business table: a row belongs to exactly one tenant."""

    tenant_id: Mapped[str] = mapped_column(String(36), index=True)


class Database:
    """One service's database: engine, sessions, and a signal the outbox relay waits on."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            Path(make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.committed = asyncio.Event()  # set after a commit that wrote events
        # SQLite has one writer at a time, and a writer that finds the file locked
        # sleeps in steps of up to 100 ms: under load the service's own transactions
        # (requests, outbox relay, consumers) would queue that way. Taking turns in
        # the event loop instead costs nothing. PostgreSQL locks rows: no turns.
        self._write_turn = asyncio.Lock() if self.dialect == "sqlite" else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits on success, rolls back on any exception.

        Not reentrant: a use case opens one transaction and passes its session on.
        """
        async with contextlib.AsyncExitStack() as turn:
            if self._write_turn is not None:
                await turn.enter_async_context(self._write_turn)
            async with self.sessions() as session, session.begin():
                yield session
        if session.info.get("wrote_events"):
            self.committed.set()

    async def migrate(self, script_location: Path) -> None:
        """Bring the schema to the newest Alembic revision (runs at every start)."""

        def upgrade(connection: Connection) -> None:
            config = Config()
            config.set_main_option("script_location", str(script_location))
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers and the outbox relay work while a request writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


M = TypeVar("M", bound=TenantOwned)


class TenantRepository(Generic[M]):
    """Base of every repository: each query starts from `self.scoped()`, which
    already filters on the caller's tenant, so no call can forget to."""

    model: ClassVar[type[Any]]
    id_column: ClassVar[str] = "id"
    not_found_message: ClassVar[str] = "not found"

    def __init__(self, session: AsyncSession, tenant_id: str | None = None) -> None:
        self.session = session
        self.tenant_id = tenant_id or current_tenant()

    def scoped(self) -> Select[Any]:
        return select(self.model).where(self.model.tenant_id == self.tenant_id)

    async def find(self, row_id: str) -> M | None:
        stmt = self.scoped().where(getattr(self.model, self.id_column) == row_id)
        row: M | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row

    async def get(self, row_id: str) -> M:
        """The row of this tenant, or NOT_FOUND — also for another tenant's id."""
        row = await self.find(row_id)
        if row is None:
            raise NotFound(self.not_found_message, reason="NOT_FOUND")
        return row

    def add(self, row: M) -> M:
        row.tenant_id = self.tenant_id
        self.session.add(row)
        return row

    async def all(self, stmt: Select[Any] | None = None) -> list[M]:
        rows = await self.session.scalars(stmt if stmt is not None else self.scoped())
        return list(rows.all())
