"""Filter expressions and `order_by` for the CRM's List RPCs (pure Python).

`parse` turns a filter such as ``owner = u_42 AND (stage = won OR amount >= 10000)`` into a
small typed tree (`Compare`, `And`, `Or`, `Not`). It checks every field against the list's
field catalogue and converts every value to its field's type, so a bad filter fails here as
an InvalidArgument that names the column at fault, and a parsed one compiles to SQL
(`svc_crm.filter_sql`) with no further checks.

Grammar::

    filter     := or_expr
    or_expr    := and_expr ("OR" and_expr)*
    and_expr   := unary ("AND" unary)*
    unary      := "NOT" unary | "(" or_expr ")" | comparison
    comparison := field op value
    field      := name ("." name)*          -- e.g. owner, created, custom.tier
    op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
    value      := "double-quoted string" | number | true | false | bare word [A-Za-z0-9_@.+-]+

In words:

- A comparison is a field, an operator and a value: ``owner = u_42``. Custom fields are
  written ``custom.<key>``. Spaces between tokens are optional (``amount>=100`` is fine).
- AND, OR and NOT are upper case. NOT binds tightest, then AND, then OR, so
  ``a OR b AND c`` means ``a OR (b AND c)``; use parentheses to group otherwise.
- A value is a bare word (letters, digits and ``_ @ . + -``: ids, numbers, dates, emails,
  true/false) or a double-quoted string, in which ``\\"`` is a quote and ``\\\\`` a backslash.
  Quote anything else: text with spaces, the words AND/OR/NOT, and timestamps with a time
  (``created > "2026-01-01T10:00:00Z"``, since ``:`` is an operator).
- Values are read as the field's type: number (``-12``, ``3.5``); money (whole minor units,
  ``1999`` for 19.99); date (``2026-01-31``); timestamp (a date, meaning 00:00 UTC that day,
  or RFC 3339 with a zone, ``"2026-01-01T10:00:00+02:00"``); true/false; enum (one of the
  field's values, any case); text, id and list (as written).
- Operators by field kind: text ``= != < <= > >= :`` (``:`` is case-insensitive contains);
  id, enum and true/false ``= !=``; number, money, date and timestamp ``= != < <= > >=``;
  list (such as tags) only ``:``, meaning "has this element".
- A comparison with a missing value (an empty column, a custom field the record lacks) is
  false, so ``!=`` does not match such records either, while ``NOT (...)`` does.
- An empty filter matches everything. At most 2000 characters and 20 levels of NOT and
  parentheses. Errors give the 1-based column of the problem.

`parse_order_by` reads ``field [asc|desc], ...`` such as ``"last_name desc, created"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import TypeAlias

from mesh.errors import InvalidArgument

MAX_LENGTH = 2000
MAX_DEPTH = 20


class FieldKind(Enum):
    TEXT = "text"
    ID = "id"
    NUMBER = "number"
    MONEY = "money"  # integer minor units
    DATE = "date"
    TIMESTAMP = "timestamp"
    BOOL = "true/false"
    ENUM = "enum"  # a custom field of this kind is a free "choice": exact text, = and !=
    LIST = "list"  # a JSON array of strings, such as tags


class Op(StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    HAS = ":"  # text: case-insensitive contains; list: has this element


_EQUALITY = frozenset({Op.EQ, Op.NE})
_ORDERING = _EQUALITY | {Op.LT, Op.LE, Op.GT, Op.GE}
ALLOWED_OPS: Mapping[FieldKind, frozenset[Op]] = MappingProxyType(
    {
        FieldKind.TEXT: _ORDERING | {Op.HAS},
        FieldKind.ID: _EQUALITY,
        FieldKind.NUMBER: _ORDERING,
        FieldKind.MONEY: _ORDERING,
        FieldKind.DATE: _ORDERING,
        FieldKind.TIMESTAMP: _ORDERING,
        FieldKind.BOOL: _EQUALITY,
        FieldKind.ENUM: _EQUALITY,
        FieldKind.LIST: frozenset({Op.HAS}),
    }
)
# Custom values live in one JSON object; these are the kinds the SQL compiler reads from it.
CUSTOM_KINDS = frozenset({FieldKind.TEXT, FieldKind.NUMBER, FieldKind.DATE, FieldKind.ENUM})


@dataclass(frozen=True)
class FieldSpec:
    """One filterable field of a list: its name in filters and how its values are read."""

    name: str
    kind: FieldKind
    values: tuple[str, ...] = ()  # ENUM: the allowed values, stored lower-case

    def __post_init__(self) -> None:
        if self.kind is FieldKind.ENUM and not self.values:
            raise ValueError(f"enum field {self.name!r} needs its allowed values")
        object.__setattr__(self, "values", tuple(v.lower() for v in self.values))


def catalogue(*specs: FieldSpec) -> dict[str, FieldSpec]:
    """The `fields` mapping `parse` takes, in the order given (error messages list it)."""
    return {spec.name: spec for spec in specs}


Value: TypeAlias = str | int | float | bool | date | datetime


@dataclass(frozen=True)
class Compare:
    field: str  # the catalogue name; for a custom field, the key alone ("tier")
    op: Op
    value: Value  # already of the field's type: ENUM lower-case, TIMESTAMP aware UTC
    kind: FieldKind
    custom: bool = False


@dataclass(frozen=True)
class And:
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    part: Expr


Expr: TypeAlias = Compare | And | Or | Not

_NO_CUSTOM: Mapping[str, FieldKind] = MappingProxyType({})


def parse(
    text: str,
    fields: Mapping[str, FieldSpec],
    custom: Mapping[str, FieldKind] = _NO_CUSTOM,
    field_name: str = "filter",
) -> Expr | None:
    """The filter's tree, or None for an empty filter. Raises InvalidArgument on `field_name`."""
    for key, kind in custom.items():
        if kind not in CUSTOM_KINDS:  # a programming error in the caller, not bad input
            raise ValueError(f"custom field {key!r} has kind {kind.name}, not a custom kind")
    if len(text) > MAX_LENGTH:
        raise InvalidArgument.one(
            field_name, f"the filter is {len(text)} characters long; the limit is {MAX_LENGTH}"
        )
    if not text.strip():
        return None
    return _Parser(text, fields, custom, field_name).parse()


def parse_order_by(
    text: str, sortable: Sequence[str], field_name: str = "order_by"
) -> list[tuple[str, bool]]:
    """``"last_name desc, created"`` -> ``[("last_name", True), ("created", False)]``;
    the bool says descending."""

    def fail(column: int, problem: str) -> InvalidArgument:
        return InvalidArgument.one(field_name, f"at column {column}: {problem}")

    if len(text) > MAX_LENGTH:
        raise InvalidArgument.one(
            field_name, f"order_by is {len(text)} characters long; the limit is {MAX_LENGTH}"
        )
    if not text.strip():
        return []
    result: list[tuple[str, bool]] = []
    first_seen: dict[str, int] = {}
    offset = 0
    for item in text.split(","):
        words = [(m.group(), offset + m.start() + 1) for m in re.finditer(r"\S+", item)]
        if not words:
            raise fail(offset + 1, "expected a field name before or after ','")
        (name, column), rest = words[0], words[1:]
        if name not in sortable:
            raise fail(
                column, f'unknown field "{_show(name)}"; sortable fields: {", ".join(sortable)}'
            )
        if name in first_seen:
            raise fail(column, f'field "{name}" appears twice (first at column {first_seen[name]})')
        first_seen[name] = column
        descending = False
        if rest:
            direction, where = rest[0]
            if direction.lower() not in ("asc", "desc"):
                raise fail(
                    where, f'expected asc or desc after "{name}", found "{_show(direction)}"'
                )
            descending = direction.lower() == "desc"
        if len(rest) > 1:
            extra, where = rest[1]
            raise fail(where, f'expected \',\' or the end after "{name}", found "{_show(extra)}"')
        result.append((name, descending))
        offset += len(item) + 1
    return result


# --- tokens ---------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9_@.+\-]+")
_FIELD = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.ASCII)
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">", ":")  # two-character ones first
_KEYWORDS = frozenset({"AND", "OR", "NOT"})
_INTEGER = re.compile(r"-?\d+", re.ASCII)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
_INT64 = 2**63 - 1


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "string", "keyword", "op", "(", ")" or "end"
    text: str  # a string's content, unescaped
    column: int  # 1-based

    def describe(self) -> str:
        if self.kind == "end":
            return "end of filter"
        if self.kind == "keyword":
            return self.text
        return f'"{_show(self.text)}"'


def _show(text: str) -> str:
    """Echo user input in an error, cut short so a 2000-character value stays readable."""
    return text if len(text) <= 40 else text[:37] + "..."


def _char(char: str) -> str:
    return f'"{char}"' if char.isprintable() else f"U+{ord(char):04X}"


def _tokenize(text: str, field_name: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char, column = text[i], i + 1
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Token(char, char, column))
            i += 1
        elif char == '"':
            value, i = _read_string(text, i, field_name)
            tokens.append(_Token("string", value, column))
        elif op := next((o for o in _OPERATORS if text.startswith(o, i)), None):
            tokens.append(_Token("op", op, column))
            i += len(op)
        elif word := _WORD.match(text, i):
            kind = "keyword" if word.group() in _KEYWORDS else "word"
            tokens.append(_Token(kind, word.group(), column))
            i = word.end()
        else:
            raise InvalidArgument.one(
                field_name, f"at column {column}: unexpected character {_char(char)}"
            )
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _read_string(text: str, start: int, field_name: str) -> tuple[str, int]:
    """The content of the string whose opening quote is at `start`, and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\" and i + 1 < len(text):
            escaped = text[i + 1]
            if escaped not in '"\\':
                raise InvalidArgument.one(
                    field_name,
                    f'at column {i + 1}: unknown escape "\\{escaped}" in a string; '
                    'only \\" and \\\\ are allowed',
                )
            out.append(escaped)
            i += 2
            continue
        if char == "\0":  # PostgreSQL text cannot hold it: refuse it here, not with a 500
            raise InvalidArgument.one(
                field_name, f"at column {i + 1}: unexpected character U+0000 in a string"
            )
        out.append(char)
        i += 1
    raise InvalidArgument.one(field_name, f"unterminated string starting at column {start + 1}")


# --- parser ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """A resolved field: what `Compare` records, plus how to name it in errors."""

    label: str  # as written: "custom.tier"
    key: str  # as recorded: "tier"
    kind: FieldKind
    custom: bool
    values: tuple[str, ...] = ()


class _Parser:
    """Recursive descent over the tokens; one method per grammar rule."""

    def __init__(
        self,
        text: str,
        fields: Mapping[str, FieldSpec],
        custom: Mapping[str, FieldKind],
        field_name: str,
    ) -> None:
        self.fields = fields
        self.custom = custom
        self.field_name = field_name
        self.tokens = _tokenize(text, field_name)
        self.pos = 0

    def fail(self, column: int, problem: str) -> InvalidArgument:
        return InvalidArgument.one(self.field_name, f"at column {column}: {problem}")

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos = min(self.pos + 1, len(self.tokens) - 1)  # "end" stays put
        return token

    def at_keyword(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "keyword" and token.text == word

    def parse(self) -> Expr:
        expr = self.or_expr(0)
        token = self.peek()
        if token.kind == ")":
            raise self.fail(token.column, 'unexpected ")" with no matching "("')
        if token.kind != "end":
            raise self.fail(
                token.column, f"expected AND, OR or end of filter, found {_found(token)}"
            )
        return expr

    def or_expr(self, depth: int) -> Expr:
        parts = [self.and_expr(depth)]
        while self.at_keyword("OR"):
            self.take()
            parts.append(self.and_expr(depth))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_expr(self, depth: int) -> Expr:
        parts = [self.unary(depth)]
        while self.at_keyword("AND"):
            self.take()
            parts.append(self.unary(depth))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self, depth: int) -> Expr:
        token = self.peek()
        opens = token.kind == "(" or (token.kind == "keyword" and token.text == "NOT")
        if not opens:
            return self.comparison()
        if depth >= MAX_DEPTH:  # bounds the recursion whatever the input
            raise self.fail(
                token.column, f"nested deeper than {MAX_DEPTH} levels of NOT and parentheses"
            )
        self.take()
        if token.kind == "keyword":
            return Not(self.unary(depth + 1))
        inner = self.or_expr(depth + 1)
        close = self.take()
        if close.kind == ")":
            return inner
        if close.kind == "end":
            raise InvalidArgument.one(
                self.field_name, f"unclosed parenthesis opened at column {token.column}"
            )
        raise self.fail(close.column, f'expected AND, OR or ")", found {_found(close)}')

    def comparison(self) -> Compare:
        name = self.take()
        if name.kind != "word" or not _FIELD.fullmatch(name.text):
            raise self.fail(name.column, f"expected a field name, found {name.describe()}")
        target = self.resolve(name)
        op_token = self.take()
        if op_token.kind != "op":
            raise self.fail(
                op_token.column,
                f'expected an operator (=, !=, <, <=, >, >=, :) after "{name.text}", '
                f"found {op_token.describe()}",
            )
        op = Op(op_token.text)
        if op not in ALLOWED_OPS[target.kind]:
            raise self.fail(op_token.column, _wrong_op(op, target))
        value = self.take()
        if value.kind not in ("word", "string"):
            found = "" if value.kind == "end" else f", found {value.describe()}"
            if value.kind == "keyword":
                found += " (quote it to use it as a value)"
            raise self.fail(value.column, f"expected a value after '{op}'{found}")
        return Compare(target.key, op, self.convert(value, target), target.kind, target.custom)

    def resolve(self, token: _Token) -> _Target:
        spec = self.fields.get(token.text)
        if spec is not None:
            return _Target(token.text, token.text, spec.kind, False, spec.values)
        head, _, key = token.text.partition(".")
        if head == "custom" and key in self.custom:
            return _Target(token.text, key, self.custom[key], True)
        known = [*self.fields, *(f"custom.{k}" for k in self.custom)]
        raise self.fail(
            token.column,
            f'unknown field "{_show(token.text)}"; filterable fields: {", ".join(known)}',
        )

    def convert(self, token: _Token, target: _Target) -> Value:
        """The value as the field's type; an error here names the field and its type."""
        raw, kind = token.text, target.kind

        def bad(expected: str, problem: str) -> InvalidArgument:
            return self.fail(
                token.column, f'field "{target.label}" is {expected}: "{_show(raw)}" {problem}'
            )

        if kind in (FieldKind.TEXT, FieldKind.ID, FieldKind.LIST):
            return raw
        if kind is FieldKind.ENUM:
            if target.custom:  # a custom choice: its options are not ours to know
                return raw
            if raw.lower() not in target.values:
                raise bad(f"one of {', '.join(target.values)}", "is not one of them")
            return raw.lower()
        if kind is FieldKind.BOOL:
            if raw not in ("true", "false"):
                raise bad("true or false", "is neither")
            return raw == "true"
        if kind in (FieldKind.MONEY, FieldKind.NUMBER):
            money = kind is FieldKind.MONEY
            expected = "money in whole minor units (1999 for 19.99)" if money else "a number"
            if not (_INTEGER if money else _NUMBER).fullmatch(raw):
                raise bad(expected, "is not a whole number" if money else "is not a number")
            number = float(raw) if "." in raw else int(raw)
            if abs(number) > _INT64:  # PostgreSQL's bigint would overflow: bad input, not a 500
                raise bad(expected, "is out of range")
            return number
        if kind is FieldKind.DATE:
            day = _date(raw)
            if day is None:
                raise bad("a date", "is not a date (YYYY-MM-DD)")
            return day
        moment = _timestamp(raw)
        if moment is None:
            raise bad(
                "a timestamp",
                'is not a date (YYYY-MM-DD) or an RFC 3339 time such as "2026-01-01T10:00:00Z" '
                "(quote it)",
            )
        return moment


def _found(token: _Token) -> str:
    """What was found where an operator between comparisons was due, with a likely fix."""
    if token.kind == "word" and token.text.upper() in _KEYWORDS:
        return f"{token.describe()} (AND, OR and NOT are upper case)"
    if token.kind in ("word", "string"):
        return f"{token.describe()} (quote values that contain spaces)"
    return token.describe()


def _wrong_op(op: Op, target: _Target) -> str:
    if op is Op.HAS:
        return f'operator ":" applies to text and list fields, not to "{target.label}"'
    if target.kind is FieldKind.LIST:
        return f'list field "{target.label}" takes only ":" (has), as in {target.label}:value'
    allowed = ", ".join(o.value for o in Op if o in ALLOWED_OPS[target.kind])
    kind = target.kind.value
    return f'operator "{op}" does not apply to {kind} field "{target.label}"; use {allowed}'


def _date(raw: str) -> date | None:
    if not _DATE.fullmatch(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _timestamp(raw: str) -> datetime | None:
    """A day means 00:00 UTC that day; an RFC 3339 time must carry its zone."""
    day = _date(raw)
    if day is not None:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if not _RFC3339.fullmatch(raw):
        return None
    try:
        return datetime.fromisoformat(raw.upper()).astimezone(UTC)
    except (ValueError, OverflowError):  # 2026-02-30, or year 1 shifted before year 1
        return None
