"""mesh.batching and mesh.db.execute_together on SQLite and PostgreSQL: items waiting
together share one transaction, an item's own error reaches only its caller, a failed
batch fails every item and writes nothing, each item keeps its caller's context; and
several writes given together all land (one statement on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from pg_support import PostgresDatabases  # type: ignore[import-not-found]
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.batching import Batcher, Item
from mesh.db import Database, execute_together
from mesh.errors import FailedPrecondition

METADATA = MetaData()
THINGS = Table(
    "batch_things",
    METADATA,
    Column("id", String(36), primary_key=True),
    Column("value", Integer),
    Column("who", String(40)),
)
COUNTERS = Table(
    "batch_counters", METADATA, Column("name", String(20), primary_key=True), Column("n", Integer)
)
WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(
    request: pytest.FixtureRequest, tmp_path: object, postgres_databases: PostgresDatabases
) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        if not PostgresDatabases.available():
            pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
        url = postgres_databases.create(f"batch_{uuid.uuid4().hex[:8]}")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/batch.db"
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    async with database.transaction() as session:
        await session.execute(insert(COUNTERS).values(name="c", n=0))
    try:
        yield database
    finally:
        await database.close()


async def count(db: Database) -> int:
    async with db.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(THINGS))).scalar_one())


def handler(calls: list[int]) -> object:
    async def handle(
        session: AsyncSession, items: Sequence[Item[int, str]]
    ) -> list[str | Exception]:
        calls.append(len(items))
        answers: list[str | Exception] = []
        rows = []
        for item in items:
            if item.value < 0:
                answers.append(FailedPrecondition(f"{item.value} is negative"))
                continue
            if item.value == 666:
                raise RuntimeError("the whole batch breaks")
            who = item.context.run(WHO.get)
            rows.append({"id": str(uuid.uuid4()), "value": item.value, "who": who})
            answers.append(f"{item.value} by {who}")
        if rows:
            await execute_together(
                session,
                [
                    insert(THINGS).values(rows),
                    update(COUNTERS)
                    .where(COUNTERS.c.name == "c")
                    .values(n=COUNTERS.c.n + len(rows)),
                ],
            )
        return answers

    return handle


async def submit(batcher: Batcher[int, str], value: int, who: str) -> str:
    WHO.set(who)
    return await batcher.run("tenant-1", value)


async def test_waiting_items_share_a_transaction_and_keep_their_context(db: Database) -> None:
    calls: list[int] = []
    batcher: Batcher[int, str] = Batcher(db, handler(calls))  # type: ignore[arg-type]
    answers = await asyncio.gather(*(submit(batcher, n, f"user{n}") for n in range(20)))
    assert answers == [f"{n} by user{n}" for n in range(20)]
    assert sum(calls) == 20 and len(calls) < 20  # batched: fewer transactions than items
    assert await count(db) == 20
    async with db.sessions() as session:
        assert (await session.execute(select(COUNTERS.c.n))).scalar_one() == 20
        whos = set((await session.execute(select(THINGS.c.who))).scalars())
    assert whos == {f"user{n}" for n in range(20)}


async def test_an_items_error_reaches_only_its_caller(db: Database) -> None:
    batcher: Batcher[int, str] = Batcher(db, handler([]))  # type: ignore[arg-type]
    results = await asyncio.gather(
        submit(batcher, 1, "a"),
        submit(batcher, -5, "b"),
        submit(batcher, 2, "c"),
        return_exceptions=True,
    )
    assert results[0] == "1 by a" and results[2] == "2 by c"
    assert isinstance(results[1], FailedPrecondition)
    assert await count(db) == 2


async def test_a_failed_batch_fails_every_item_and_writes_nothing(db: Database) -> None:
    batcher: Batcher[int, str] = Batcher(db, handler([]))  # type: ignore[arg-type]
    results = await asyncio.gather(
        submit(batcher, 3, "x"),
        submit(batcher, 666, "y"),
        submit(batcher, 4, "z"),
        return_exceptions=True,
    )
    # Queued in one turn of the loop, the three form one batch, which 666 breaks.
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await count(db) == 0
    assert await submit(batcher, 1, "a") == "1 by a"  # the batcher goes on
    assert await count(db) == 1
