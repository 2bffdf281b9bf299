"""Filters compiled to SQL return exactly the rows they should, on SQLite (in memory) and,
when it answers, on PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pg_support import PostgresDatabases
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    inspect,
    select,
)

from mesh.db import UtcDateTime
from svc_crm.domain.filters import FieldKind, FieldSpec, catalogue, parse
from svc_crm.filter_sql import compile_filter

K = FieldKind
FIELDS = catalogue(
    FieldSpec("name", K.TEXT),
    FieldSpec("email", K.TEXT),
    FieldSpec("owner", K.ID),
    FieldSpec("score", K.NUMBER),
    FieldSpec("amount", K.MONEY),
    FieldSpec("born", K.DATE),
    FieldSpec("created", K.TIMESTAMP),
    FieldSpec("active", K.BOOL),
    FieldSpec("stage", K.ENUM, ("new", "qualified", "won", "lost")),
    FieldSpec("tags", K.LIST),
)
CUSTOM = {"tier": K.TEXT, "size": K.NUMBER, "renewal": K.DATE, "plan": K.ENUM}

metadata = MetaData()
contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100)),
    Column("email", String(100), nullable=True),
    Column("owner", String(36), nullable=True),
    Column("score", Float, nullable=True),
    Column("amount", Integer),
    Column("born", Date, nullable=True),
    Column("created", UtcDateTime),
    Column("active", Boolean),
    Column("stage", String(20)),
    Column("tags", JSON),
    Column("custom", JSON),
)
COLUMNS: dict[str, Any] = {name: contacts.c[name] for name in FIELDS}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "Ada Lovelace",
        "email": "ada@x.io",
        "owner": "u1",
        "score": 4.5,
        "amount": 1000,
        "born": date(1990, 5, 1),
        "created": at("2026-01-01T00:00:00"),
        "active": True,
        "stage": "new",
        "tags": ["vip", "eu"],
        "custom": {"tier": "Gold", "size": 50, "renewal": "2026-06-30"},
    },
    {
        "id": 2,
        "name": "Bob 100% Sure",
        "email": "bob@y.io",
        "owner": "u2",
        "score": 3.0,
        "amount": 250000,
        "born": date(1985, 12, 31),
        "created": at("2026-01-01T10:00:00"),
        "active": False,
        "stage": "won",
        "tags": ["us"],
        "custom": {"tier": "silver", "size": 5},
    },
    {
        "id": 3,
        "name": "a_b",
        "email": "cy@z.io",
        "owner": "u1",
        "score": -2.0,
        "amount": 0,
        "born": date(2000, 1, 1),
        "created": at("2026-01-02T23:59:59"),
        "active": True,
        "stage": "lost",
        "tags": [],
        "custom": {},
    },
    {
        "id": 4,
        "name": "axb",
        "email": "dee@x.io",
        "owner": "u3",
        "score": 10.0,
        "amount": -500,
        "born": None,
        "created": at("2025-12-31T23:59:59"),
        "active": False,
        "stage": "qualified",
        "tags": ["vip-plus", "café"],
        "custom": {"size": 500, "renewal": "2025-01-15", "plan": "pro"},
    },
    {
        "id": 5,
        "name": 'Zoë "Z" Quinn',
        "email": None,
        "owner": None,
        "score": None,
        "amount": 42,
        "born": date(1990, 5, 1),
        "created": at("2026-02-01T12:00:00"),
        "active": True,
        "stage": "new",
        "tags": ['say "hi"'],
        "custom": {"tier": "gold", "plan": "basic"},
    },
]

CASES: list[tuple[str, set[int]]] = [
    # text: exact, contains (case-insensitive, % and _ literal), ordering (lower-case values,
    # so the order is the same under any collation)
    ('name = "a_b"', {3}),
    ('name = "A_B"', set()),
    ('name != "a_b"', {1, 2, 4, 5}),
    ("name : lovelace", {1}),
    ("name : LOVE", {1}),
    ('name : "a_b"', {3}),
    ('name : "_"', {3}),
    ('name : "%"', {2}),
    ('name : "100%"', {2}),
    ('name : "\\"z\\""', {5}),
    ("email < c", {1, 2}),
    ('email <= "bob@y.io"', {1, 2}),
    ("email > bob", {2, 3, 4}),
    ('email >= "cy@z.io"', {3, 4}),
    # id (owner is NULL on row 5: no comparison matches it, NOT does)
    ("owner = u1", {1, 3}),
    ("owner != u1", {2, 4}),
    ("NOT owner = u1", {2, 4, 5}),
    # number
    ("score = 3", {2}),
    ("score != 3", {1, 3, 4}),
    ("score < 0", {3}),
    ("score <= 3", {2, 3}),
    ("score > 4.5", {4}),
    ("score >= 4.5", {1, 4}),
    ("score > -2.5", {1, 2, 3, 4}),
    # money
    ("amount = 0", {3}),
    ("amount != 0", {1, 2, 4, 5}),
    ("amount < 0", {4}),
    ("amount <= 42", {3, 4, 5}),
    ("amount > 1000", {2}),
    ("amount >= 1000", {1, 2}),
    # date
    ("born = 1990-05-01", {1, 5}),
    ("born != 1990-05-01", {2, 3}),
    ("born < 1990-01-01", {2}),
    ("born <= 1990-05-01", {1, 2, 5}),
    ("born > 1990-05-01", {3}),
    ("born >= 1985-12-31", {1, 2, 3, 5}),
    # timestamp: a day is 00:00 UTC, so a whole day is a range
    ("created = 2026-01-01", {1}),
    ("created != 2026-01-01", {2, 3, 4, 5}),
    ("created >= 2026-01-01 AND created < 2026-01-02", {1, 2}),
    ("created < 2026-01-01", {4}),
    ("created <= 2026-01-01", {1, 4}),
    ('created > "2026-01-01T10:00:00Z"', {3, 5}),
    ('created >= "2026-01-01T10:00:00Z"', {2, 3, 5}),
    ('created = "2026-01-01T11:00:00+01:00"', {2}),
    ('created < "2026-01-02T23:59:59.5Z"', {1, 2, 3, 4}),
    # bool and enum
    ("active = true", {1, 3, 5}),
    ("active != true", {2, 4}),
    ("active = false", {2, 4}),
    ("stage = NEW", {1, 5}),
    ("stage != new", {2, 3, 4}),
    # list: has the element, whole elements only
    ("tags : vip", {1}),
    ("tags : VIP", {1}),
    ("tags : vip-plus", {4}),
    ('tags : "café"', {4}),
    ('tags : "say \\"hi\\""', {5}),
    ('tags : "hi"', set()),
    ('tags : "%"', set()),
    ("NOT tags : vip", {2, 3, 4, 5}),
    # custom fields; a record without the key matches no comparison, NOT matches it
    ("custom.tier = gold", {5}),
    ("custom.tier : GOLD", {1, 5}),
    ("custom.tier != gold", {1, 2}),
    ("NOT custom.tier = gold", {1, 2, 3, 4}),
    ("custom.tier > h", {2}),
    ("custom.size = 50", {1}),
    ("custom.size != 5", {1, 4}),
    ("custom.size < 50", {2}),
    ("custom.size <= 50.0", {1, 2}),
    ("custom.size > 5", {1, 4}),
    ("custom.size >= 5", {1, 2, 4}),
    ("custom.renewal = 2026-06-30", {1}),
    ("custom.renewal != 2026-06-30", {4}),
    ("custom.renewal < 2026-01-01", {4}),
    ("custom.renewal <= 2026-06-30", {1, 4}),
    ("custom.renewal > 2025-01-15", {1}),
    ("custom.renewal >= 2025-01-15", {1, 4}),
    ("custom.plan = pro", {4}),
    ("custom.plan != pro", {5}),
    ("custom.plan = PRO", set()),
    # precedence: NOT over AND over OR; parentheses
    ("owner = u3 OR owner = u1 AND active = true", {1, 3, 4}),
    ("(owner = u3 OR owner = u1) AND active = true", {1, 3}),
    ("owner = u1 AND active = true OR stage = won", {1, 2, 3}),
    ("owner = u1 AND (active = true OR stage = won)", {1, 3}),
    ("NOT active = true AND stage = won", {2}),
    ("NOT (active = true AND stage = won)", {1, 2, 3, 4, 5}),
    ("NOT (active = true OR stage = won)", {4}),
    ("NOT NOT owner = u1", {1, 3}),
    ("((owner = u1))", {1, 3}),
    ("NOT (owner = u1 OR custom.tier : gold)", {2, 4}),
    ("NOT (owner = u9 AND custom.size > 1)", {1, 2, 3, 4, 5}),
    # values are bound parameters, never SQL
    ("name = \"x' OR '1'='1\"", set()),
]


def matching_ids(conn: Connection, text: str) -> set[int]:
    expr = parse(text, FIELDS, CUSTOM)
    assert expr is not None
    where = compile_filter(expr, COLUMNS, contacts.c.custom)
    return set(conn.scalars(select(contacts.c.id).where(where)))


def filled(url: str) -> Iterator[Connection]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(insert(contacts), ROWS)
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def sqlite() -> Iterator[Connection]:
    yield from filled("sqlite://")


@pytest.mark.parametrize(("text", "ids"), CASES, ids=[text for text, _ in CASES])
def test_filters_select_exactly_their_rows(sqlite: Connection, text: str, ids: set[int]) -> None:
    assert matching_ids(sqlite, text) == ids


def test_values_stay_values(sqlite: Connection) -> None:
    assert matching_ids(sqlite, 'name = "\'; DROP TABLE contacts; --"') == set()
    assert inspect(sqlite).has_table("contacts")


def test_a_custom_field_needs_the_custom_column() -> None:
    expr = parse("custom.tier = gold", FIELDS, CUSTOM)
    assert expr is not None
    with pytest.raises(ValueError, match="no custom column"):
        compile_filter(expr, COLUMNS)


def test_a_field_needs_its_column() -> None:
    expr = parse("owner = u1", FIELDS)
    assert expr is not None
    with pytest.raises(ValueError, match="no column for filter field 'owner'"):
        compile_filter(expr, {})


@pytest.mark.postgres
def test_the_same_filters_on_postgresql(postgres_databases: PostgresDatabases) -> None:
    url = postgres_databases.create(f"erp_test_filters_{secrets.token_hex(4)}")
    for conn in filled(url):
        wrong = {
            text: (got, ids) for text, ids in CASES if (got := matching_ids(conn, text)) != ids
        }
        assert wrong == {}
