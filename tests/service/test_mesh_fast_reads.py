"""Database.read and read_first on SQLite run in the event loop on a read-only
connection: they must see every commit made after them, at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, select, update

from mesh.db import Database

METADATA = MetaData()
THINGS = Table(
    "things", METADATA, Column("id", String(36), primary_key=True), Column("name", String(40))
)


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'reads.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    return database


async def test_point_reads_see_each_commit(db: Database) -> None:
    by_id = select(THINGS).where(THINGS.c.id == "a")
    assert await db.read_first(by_id, {}) is None
    async with db.transaction() as session:
        await session.execute(THINGS.insert().values(id="a", name="first"))
    assert (await db.read_first(by_id, {}) or {})["name"] == "first"
    assert await db.read(lambda s: s.execute(by_id).one().name) == "first"
    for name in ("second", "third"):
        async with db.transaction() as session:
            await session.execute(update(THINGS).where(THINGS.c.id == "a").values(name=name))
        assert (await db.read_first(by_id, {}) or {})["name"] == name
        assert await db.read(lambda s: s.execute(by_id).one().name) == name
    await db.close()


async def test_the_reader_cannot_write(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(THINGS.insert().values(id="a", name="x"))

    def write(session: object) -> None:
        session.execute(THINGS.insert().values(id="b", name="y"))  # type: ignore[attr-defined]

    with pytest.raises(Exception, match="readonly"):
        await db.read(write)
    await db.close()
