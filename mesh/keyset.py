"""Keyset paging over any sort order: the page token carries the sort values of the
last item shown, and the next page starts strictly after them.

Unlike OFFSET, a page costs the same at row 100,000 as at row 0, and rows added
meanwhile neither repeat nor vanish. The row id ends every order, so keys are
unique. A token is bound to the filter and order it was made with (a digest), so a
token from another query is refused rather than silently misread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator

from mesh import paging
from mesh.errors import InvalidArgument


@dataclass(frozen=True)
class SortKey:
    """One sort column: `expr` must not be NULL (coalesce nullable columns)."""

    name: str
    expr: Any  # a column or SQL expression (SQLAlchemy's attribute and expression types differ)
    descending: bool = False


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return datetime.fromisoformat(value["t"])
    if isinstance(value, dict) and "d" in value:
        return date.fromisoformat(value["d"])
    return value


@dataclass(frozen=True)
class Keyset:
    keys: Sequence[SortKey]
    size: int
    after: list[Any] | None  # sort values of the last item already seen
    query_digest: str

    def order_by(self) -> list[ColumnElement[Any]]:
        return [k.expr.desc() if k.descending else k.expr.asc() for k in self.keys]

    def where(self) -> ColumnElement[bool] | None:
        """Rows strictly after `after` in this order: (a > x) OR (a = x AND b > y) …"""
        if self.after is None:
            return None
        branches = []
        for i, key in enumerate(self.keys):
            equal = [k.expr == v for k, v in zip(self.keys[:i], self.after, strict=False)]
            beyond = key.expr < self.after[i] if key.descending else key.expr > self.after[i]
            branches.append(and_(*equal, beyond))
        return or_(*branches)

    def select(self, model: Any) -> Select[Any]:
        """SELECT of `model` rows with each key's value after them, for `fetch`."""
        return select(model, *(k.expr for k in self.keys))

    async def fetch(self, session: AsyncSession, stmt: Select[Any]) -> tuple[list[Any], str]:
        """This page of `stmt` (made by `select`, with the caller's filters): its rows
        and the next page's token ("" on the last)."""
        after = self.where()
        if after is not None:
            stmt = stmt.where(after)
        stmt = stmt.order_by(*self.order_by()).limit(self.size + 1)
        found = (await session.execute(stmt)).all()
        return [r[0] for r in found[: self.size]], self.next_token([tuple(r[1:]) for r in found])

    def next_token(self, rows: Sequence[Sequence[Any]]) -> str:
        """`rows` hold the sort values of up to size+1 fetched items; one extra means more."""
        if len(rows) <= self.size:
            return ""
        last = [_encode(v) for v in rows[self.size - 1]]
        raw = json.dumps({"q": self.query_digest, "k": last}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode()


def keyset(
    keys: Sequence[SortKey],
    page_size: int,
    page_token: str,
    *,
    query: str = "",
    size_field: str = "page_size",
    token_field: str = "page_token",  # noqa: S107 - a field name, not a secret
) -> Keyset:
    """Parse the request's paging; `query` is what the token is bound to (filter, order)."""
    size = paging.page_size(page_size, size_field)
    digest = hashlib.sha256(
        (query + "|" + ",".join(f"{k.name}:{k.descending}" for k in keys)).encode()
    ).hexdigest()[:16]
    if not page_token:
        return Keyset(keys, size, None, digest)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(page_token.encode()))
        after = [_decode(v) for v in decoded["k"]]
        bound = decoded["q"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidArgument.one(token_field, "not a page token from this API") from None
    if bound != digest or len(after) != len(keys):
        raise InvalidArgument.one(
            token_field, "this token belongs to a list with another filter or order"
        )
    # Tokens are not signed: a hand-made one must still hold values of the keys' types.
    if not all(_conforms(value, key) for value, key in zip(after, keys, strict=True)):
        raise InvalidArgument.one(token_field, "not a page token from this API")
    return Keyset(keys, size, after, digest)


INT64 = 2**63


def _conforms(value: Any, key: SortKey) -> bool:
    column_type = getattr(key.expr, "type", None)
    if isinstance(column_type, TypeDecorator):  # e.g. mesh.db.UtcDateTime: its impl's type
        column_type = column_type.impl_instance
    try:
        expected = column_type.python_type  # type: ignore[union-attr]
    except (AttributeError, NotImplementedError):
        return True  # a type without a Python counterpart: the database judges it
    if expected is datetime:
        return isinstance(value, datetime) and value.tzinfo is not None
    if expected is date:
        return isinstance(value, date) and not isinstance(value, datetime)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool) and -INT64 <= value < INT64
    if expected is str:
        return isinstance(value, str) and value.isprintable()
    return isinstance(value, expected)
