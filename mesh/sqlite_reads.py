"""Point reads on SQLite without the async driver: a prepared Core SELECT run on a
raw, read-only sqlite3 connection in the event loop.

A primary-key lookup in SQLite takes a few microseconds; through aiosqlite it costs
about half a millisecond (a hop to the driver's thread and back), and SQLAlchemy's
execution layer adds tens of microseconds more. For the hottest Get RPCs this reader
compiles each statement once (SQL text, parameter order, result processors such as
aware datetimes and JSON) and then only runs it. The connection is in autocommit
mode, so every statement reads what is committed when it runs.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Select

PREPARED_MAX = 256  # statements are meant to be built once; this bounds a mistake


@dataclass(frozen=True)
class _Prepared:
    sql: str
    binds: list[tuple[str, Any]]  # parameter name, bind processor (or None)
    defaults: dict[str, Any]  # values written into the statement itself
    columns: list[tuple[str, Any]]  # result column name, result processor (or None)


class PointReader:
    def __init__(self, path: str, dialect: Dialect) -> None:
        self._dialect = dialect
        self._connection = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
        self._connection.execute("PRAGMA busy_timeout=5000")
        # Keyed by the statement itself (not its id), so a freed one is never mistaken.
        self._prepared: OrderedDict[Select[Any], _Prepared] = OrderedDict()

    def first(self, statement: Select[Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
        prepared = self._prepared.get(statement) or self._prepare(statement)
        given = {**prepared.defaults, **params}
        values = [bind(given[name]) if bind else given[name] for name, bind in prepared.binds]
        # fetchall: a statement read to its end releases its WAL snapshot at once.
        rows = self._connection.execute(prepared.sql, values).fetchall()
        if not rows:
            return None
        row = rows[0]
        return {
            name: convert(value) if convert and value is not None else value
            for (name, convert), value in zip(prepared.columns, row, strict=True)
        }

    def _prepare(self, statement: Select[Any]) -> _Prepared:
        compiled = statement.compile(dialect=self._dialect)
        binds = [
            (name, compiled.binds[name].type._cached_bind_processor(self._dialect))
            for name in compiled.positiontup or ()
        ]
        columns = [
            (str(column.key), column.type._cached_result_processor(self._dialect, None))
            for column in statement.selected_columns
        ]
        prepared = _Prepared(str(compiled), binds, dict(compiled.params), columns)
        self._prepared[statement] = prepared
        if len(self._prepared) > PREPARED_MAX:
            self._prepared.popitem(last=False)
        return prepared

    def close(self) -> None:
        self._connection.close()
