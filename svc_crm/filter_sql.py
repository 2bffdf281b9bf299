"""Compiles a parsed filter (`svc_crm.domain.filters`) into a SQLAlchemy boolean clause.

The same clause runs on SQLite and PostgreSQL; every value is a bound parameter. How each
kind is matched, and the caveats that come with portability:

- Text ``:`` is ``lower(column) LIKE '%value%'`` with ``%`` and ``_`` escaped, so they are
  literal. Case folding is the database's ``lower()``: ASCII letters only on SQLite.
- List ``:`` (has) reads the JSON array as text and looks for the element's JSON encoding,
  quotes included, so ``tags:vip`` matches ``["eu", "vip"]`` but not ``["vip-plus"]``; it is
  case-insensitive for ASCII letters. Caveat: an element that itself contains a double quote
  can make a shorter one match falsely (``["ab\\"c"]`` "has" ``c``), and on SQLite a
  non-ASCII element matches only in the case it was stored in.
- Custom fields are keys of one JSON object column: text and choice values are read as
  strings, numbers as floats (the stored values must be JSON numbers: PostgreSQL fails on
  casting anything else), dates as their stored "YYYY-MM-DD" strings, compared as strings.
- Timestamps are compared with aware UTC datetimes (columns are `mesh.db.UtcDateTime`).
- A comparison with a missing value (NULL column, absent custom key) is false, ``!=``
  included. SQL would make it unknown and ``NOT unknown`` is still unknown, so NOT treats
  unknown as false first: ``NOT custom.tier = gold`` matches records with no tier.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import String, and_, cast, false, func, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from svc_crm.domain.filters import And, Compare, Expr, FieldKind, Not, Op, Or


def compile_filter(
    expr: Expr,
    columns: Mapping[str, ColumnElement[Any]],
    custom_column: ColumnElement[Any] | None = None,
) -> ColumnElement[bool]:
    """`columns` maps each catalogue field to its column; `custom_column` is the JSON object
    holding custom fields (needed only when the filter names one)."""
    if isinstance(expr, And):
        return and_(*(compile_filter(p, columns, custom_column) for p in expr.parts))
    if isinstance(expr, Or):
        return or_(*(compile_filter(p, columns, custom_column) for p in expr.parts))
    if isinstance(expr, Not):
        inner = compile_filter(expr.part, columns, custom_column)
        return not_(func.coalesce(inner, false()))  # unknown (NULL) counts as false
    return _compare(expr, columns, custom_column)


def _compare(
    expr: Compare,
    columns: Mapping[str, ColumnElement[Any]],
    custom_column: ColumnElement[Any] | None,
) -> ColumnElement[bool]:
    value = expr.value
    column: ColumnElement[Any]
    if expr.custom:
        if custom_column is None:
            raise ValueError(f"filter names custom field {expr.field!r} but no custom column")
        item = custom_column[expr.field]
        column = item.as_float() if expr.kind is FieldKind.NUMBER else item.as_string()
        if isinstance(value, date):
            value = value.isoformat()  # stored as "YYYY-MM-DD", which sorts as dates do
    elif expr.field in columns:
        column = columns[expr.field]
    else:
        raise ValueError(f"no column for filter field {expr.field!r}")

    if expr.op is Op.HAS:
        if expr.kind is FieldKind.LIST:
            return _list_has(column, str(value))
        return func.lower(column).contains(str(value).lower(), autoescape=True)
    if expr.op is Op.EQ:
        return column == value
    if expr.op is Op.NE:
        return column != value
    if expr.op is Op.LT:
        return column < value
    if expr.op is Op.LE:
        return column <= value
    if expr.op is Op.GT:
        return column > value
    return column >= value


def _list_has(column: ColumnElement[Any], element: str) -> ColumnElement[bool]:
    """The JSON array's text contains the element as a JSON string. Both encodings are tried:
    escaped non-ASCII (how SQLAlchemy's JSON writes it) and raw (PostgreSQL's jsonb)."""
    text = func.lower(cast(column, String))
    needles = sorted({json.dumps(element).lower(), json.dumps(element, ensure_ascii=False).lower()})
    return or_(*(text.contains(needle, autoescape=True) for needle in needles))
