"""The CRM's filter grammar and order_by parser: trees for valid input, positioned errors."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from mesh.errors import InvalidArgument
from svc_crm.domain.filters import (
    MAX_DEPTH,
    MAX_LENGTH,
    And,
    Compare,
    Expr,
    FieldKind,
    FieldSpec,
    Not,
    Op,
    Or,
    Value,
    catalogue,
    parse,
    parse_order_by,
)

K = FieldKind
FIELDS = catalogue(
    FieldSpec("name", K.TEXT),
    FieldSpec("owner", K.ID),
    FieldSpec("score", K.NUMBER),
    FieldSpec("amount", K.MONEY),
    FieldSpec("born", K.DATE),
    FieldSpec("created", K.TIMESTAMP),
    FieldSpec("active", K.BOOL),
    FieldSpec("stage", K.ENUM, ("New", "Won", "Lost")),
    FieldSpec("tags", K.LIST),
    FieldSpec("company.name", K.TEXT),
)
CUSTOM = {"tier": K.TEXT, "size": K.NUMBER, "renewal": K.DATE, "plan": K.ENUM}
ALL_FIELDS = (
    "name, owner, score, amount, born, created, active, stage, tags, company.name, "
    "custom.tier, custom.size, custom.renewal, custom.plan"
)


def cmp(field: str, op: str, value: Value, kind: FieldKind, custom: bool = False) -> Compare:
    return Compare(field, Op(op), value, kind, custom)


OWNER_1 = cmp("owner", "=", "u1", K.ID)
OWNER_2 = cmp("owner", "=", "u2", K.ID)
ACTIVE = cmp("active", "=", True, K.BOOL)
WON = cmp("stage", "=", "won", K.ENUM)

VALID: list[tuple[str, Expr]] = [
    # every operator the text kind takes, bare and quoted values
    ("name = Ada", cmp("name", "=", "Ada", K.TEXT)),
    ('name = "Ada Lovelace"', cmp("name", "=", "Ada Lovelace", K.TEXT)),
    ("name != Ada", cmp("name", "!=", "Ada", K.TEXT)),
    ("name < b", cmp("name", "<", "b", K.TEXT)),
    ("name <= b", cmp("name", "<=", "b", K.TEXT)),
    ("name > b", cmp("name", ">", "b", K.TEXT)),
    ("name >= b", cmp("name", ">=", "b", K.TEXT)),
    ("name : love", cmp("name", ":", "love", K.TEXT)),
    ('name:"100% a_b"', cmp("name", ":", "100% a_b", K.TEXT)),
    ('name = "say \\"hi\\" \\\\o/"', cmp("name", "=", 'say "hi" \\o/', K.TEXT)),
    ('name = ""', cmp("name", "=", "", K.TEXT)),
    ('name = "AND"', cmp("name", "=", "AND", K.TEXT)),
    ('name = "x)"', cmp("name", "=", "x)", K.TEXT)),
    ("name = 007", cmp("name", "=", "007", K.TEXT)),  # text stays text, as written
    ("name = true", cmp("name", "=", "true", K.TEXT)),
    ("name = ada@example.com", cmp("name", "=", "ada@example.com", K.TEXT)),
    ("name = +44-20_7946.0018", cmp("name", "=", "+44-20_7946.0018", K.TEXT)),
    ('name = "Zoë ✓"', cmp("name", "=", "Zoë ✓", K.TEXT)),
    ("company.name : acme", cmp("company.name", ":", "acme", K.TEXT)),
    # id
    ("owner = u_42", cmp("owner", "=", "u_42", K.ID)),
    ("owner != u_42", cmp("owner", "!=", "u_42", K.ID)),
    # numbers: ints stay ints, decimals are floats
    ("score = 3", cmp("score", "=", 3, K.NUMBER)),
    ("score != -12", cmp("score", "!=", -12, K.NUMBER)),
    ("score < 3.5", cmp("score", "<", 3.5, K.NUMBER)),
    ("score <= -0.25", cmp("score", "<=", -0.25, K.NUMBER)),
    ('score > "7"', cmp("score", ">", 7, K.NUMBER)),
    ("score >= 0", cmp("score", ">=", 0, K.NUMBER)),
    # money: whole minor units
    ("amount = 1999", cmp("amount", "=", 1999, K.MONEY)),
    ("amount != 0", cmp("amount", "!=", 0, K.MONEY)),
    ("amount < -500", cmp("amount", "<", -500, K.MONEY)),
    ("amount <= 9223372036854775807", cmp("amount", "<=", 2**63 - 1, K.MONEY)),
    ("amount > 1", cmp("amount", ">", 1, K.MONEY)),
    ("amount >= 100", cmp("amount", ">=", 100, K.MONEY)),
    # dates
    ("born = 1990-05-01", cmp("born", "=", date(1990, 5, 1), K.DATE)),
    ("born != 2024-02-29", cmp("born", "!=", date(2024, 2, 29), K.DATE)),
    ("born < 2000-01-01", cmp("born", "<", date(2000, 1, 1), K.DATE)),
    ('born <= "2000-01-01"', cmp("born", "<=", date(2000, 1, 1), K.DATE)),
    ("born > 1985-12-31", cmp("born", ">", date(1985, 12, 31), K.DATE)),
    ("born >= 1985-12-31", cmp("born", ">=", date(1985, 12, 31), K.DATE)),
    # timestamps: a day is 00:00 UTC; RFC 3339 converted to UTC
    ("created = 2026-01-01", cmp("created", "=", datetime(2026, 1, 1, tzinfo=UTC), K.TIMESTAMP)),
    (
        'created != "2026-01-01T10:00:00Z"',
        cmp("created", "!=", datetime(2026, 1, 1, 10, tzinfo=UTC), K.TIMESTAMP),
    ),
    (
        'created < "2026-01-01T10:00:00+02:00"',
        cmp("created", "<", datetime(2026, 1, 1, 8, tzinfo=UTC), K.TIMESTAMP),
    ),
    (
        'created <= "2026-01-01t23:30:00.25-01:00"',
        cmp("created", "<=", datetime(2026, 1, 2, 0, 30, 0, 250000, tzinfo=UTC), K.TIMESTAMP),
    ),
    ("created > 2025-12-31", cmp("created", ">", datetime(2025, 12, 31, tzinfo=UTC), K.TIMESTAMP)),
    (
        'created >= "2026-03-01T00:00:00z"',
        cmp("created", ">=", datetime(2026, 3, 1, tzinfo=UTC), K.TIMESTAMP),
    ),
    # bool, enum (any case, recorded lower-case), list
    ("active = true", ACTIVE),
    ("active != false", cmp("active", "!=", False, K.BOOL)),
    ("stage = WON", WON),
    ('stage != "New"', cmp("stage", "!=", "new", K.ENUM)),
    ("tags : vip", cmp("tags", ":", "vip", K.LIST)),
    ('tags:"say \\"hi\\""', cmp("tags", ":", 'say "hi"', K.LIST)),
    # custom fields: the key alone is recorded, with the custom flag
    ("custom.tier = gold", cmp("tier", "=", "gold", K.TEXT, True)),
    ("custom.tier : GOLD", cmp("tier", ":", "GOLD", K.TEXT, True)),
    ("custom.size > 5", cmp("size", ">", 5, K.NUMBER, True)),
    ("custom.size <= 2.5", cmp("size", "<=", 2.5, K.NUMBER, True)),
    ("custom.renewal < 2026-06-30", cmp("renewal", "<", date(2026, 6, 30), K.DATE, True)),
    ("custom.plan != Pro", cmp("plan", "!=", "Pro", K.ENUM, True)),  # a choice: exact text
    # combinations: AND binds tighter than OR, NOT tighter than AND
    ("owner = u1 AND active = true", And((OWNER_1, ACTIVE))),
    ("owner = u1 OR owner = u2", Or((OWNER_1, OWNER_2))),
    ("owner = u1 OR owner = u2 OR stage = won", Or((OWNER_1, OWNER_2, WON))),
    ("owner = u1 OR owner = u2 AND active = true", Or((OWNER_1, And((OWNER_2, ACTIVE))))),
    ("owner = u1 AND owner = u2 OR active = true", Or((And((OWNER_1, OWNER_2)), ACTIVE))),
    ("(owner = u1 OR owner = u2) AND active = true", And((Or((OWNER_1, OWNER_2)), ACTIVE))),
    ("NOT owner = u1 AND active = true", And((Not(OWNER_1), ACTIVE))),
    ("NOT (owner = u1 AND active = true)", Not(And((OWNER_1, ACTIVE)))),
    ("NOT NOT owner = u1", Not(Not(OWNER_1))),
    ("((owner = u1))", OWNER_1),
    ("(owner=u1)OR(owner=u2)", Or((OWNER_1, OWNER_2))),
    ("  owner\t=\nu1  ", OWNER_1),
    (
        "owner = u1 AND (stage = won OR NOT active = true) AND owner = u2",
        And((OWNER_1, Or((WON, Not(ACTIVE))), OWNER_2)),
    ),
]


@pytest.mark.parametrize(("text", "tree"), VALID, ids=[text for text, _ in VALID])
def test_valid_filters_parse_to_their_trees(text: str, tree: Expr) -> None:
    assert parse(text, FIELDS, CUSTOM) == tree


@pytest.mark.parametrize("text", ["", "   ", "\t\n "])
def test_an_empty_filter_is_no_filter(text: str) -> None:
    assert parse(text, FIELDS) is None


def test_trees_are_frozen_and_hashable() -> None:
    tree = parse("owner = u1 OR NOT active = true", FIELDS)
    assert tree is not None
    assert hash(tree) == hash(parse("owner = u1 OR NOT active = true", FIELDS))
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.parts = ()  # type: ignore[misc,union-attr]


EXPECTED_OP = 'expected an operator (=, !=, <, <=, >, >=, :) after "owner", found'
EXPECTED_JOIN = "expected AND, OR or end of filter, found"
SPACES = "(quote values that contain spaces)"
NO_COLON = 'operator ":" applies to text and list fields, not to'
NO_EQUAL_TAGS = 'list field "tags" takes only ":" (has), as in tags:value'
MONEY = 'field "amount" is money in whole minor units (1999 for 19.99):'
NOT_DATE = "is not a date (YYYY-MM-DD)"
NOT_TIME = (
    'is not a date (YYYY-MM-DD) or an RFC 3339 time such as "2026-01-01T10:00:00Z" (quote it)'
)
STAGES = 'field "stage" is one of new, won, lost:'

ERRORS: list[tuple[str, str]] = [
    # grammar
    ("amount >", "at column 9: expected a value after '>'"),
    ("amount > )", "at column 10: expected a value after '>', found \")\""),
    (
        "name = AND",
        "at column 8: expected a value after '=', found AND (quote it to use it as a value)",
    ),
    ("amount == 5", "at column 9: expected a value after '=', found \"=\""),
    ("owner u1", f'at column 7: {EXPECTED_OP} "u1"'),
    ("owner", f"at column 6: {EXPECTED_OP} end of filter"),
    ("= u1", 'at column 1: expected a field name, found "="'),
    ("owner = u1 AND", "at column 15: expected a field name, found end of filter"),
    ("owner = u1 AND OR active = true", "at column 16: expected a field name, found OR"),
    ('"owner" = u1', 'at column 1: expected a field name, found "owner"'),
    ("1owner = u1", 'at column 1: expected a field name, found "1owner"'),
    ("owner. = u1", 'at column 1: expected a field name, found "owner."'),
    ("()", 'at column 2: expected a field name, found ")"'),
    ("owner = u1 bob", f'at column 12: {EXPECTED_JOIN} "bob" {SPACES}'),
    ("owner = u1 and x", f'at column 12: {EXPECTED_JOIN} "and" (AND, OR and NOT are upper case)'),
    ("owner = u1 (", f'at column 12: {EXPECTED_JOIN} "("'),
    ("owner = u1)", 'at column 11: unexpected ")" with no matching "("'),
    ("(owner = u1 x)", f'at column 13: expected AND, OR or ")", found "x" {SPACES}'),
    ("  (owner = u1", "unclosed parenthesis opened at column 3"),
    ("((owner = u1)", "unclosed parenthesis opened at column 1"),
    ('name = "Ada', "unterminated string starting at column 8"),
    ('name = "Ada\\"', "unterminated string starting at column 8"),
    (
        'name = "a\\n"',
        'at column 10: unknown escape "\\n" in a string; only \\" and \\\\ are allowed',
    ),
    ("owner = u1 # x", 'at column 12: unexpected character "#"'),
    ("owner = O'Brien", 'at column 10: unexpected character "\'"'),
    ("owner ! u1", 'at column 7: unexpected character "!"'),
    ("owner = u1\x07", "at column 11: unexpected character U+0007"),
    ('name = "a\x00"', "at column 10: unexpected character U+0000 in a string"),
    # fields
    ("ownr = u1", f'at column 1: unknown field "ownr"; filterable fields: {ALL_FIELDS}'),
    ("custom.tir = 1", f'at column 1: unknown field "custom.tir"; filterable fields: {ALL_FIELDS}'),
    ("x AND", f'at column 1: unknown field "x"; filterable fields: {ALL_FIELDS}'),
    # operators per kind
    ("created : 2026", f'at column 9: {NO_COLON} "created"'),
    ("owner : u", f'at column 7: {NO_COLON} "owner"'),
    ("custom.size : 1", f'at column 13: {NO_COLON} "custom.size"'),
    ("owner < u1", 'at column 7: operator "<" does not apply to id field "owner"; use =, !='),
    ("stage >= won", 'at column 7: operator ">=" does not apply to enum field "stage"; use =, !='),
    (
        "active > false",
        'at column 8: operator ">" does not apply to true/false field "active"; use =, !=',
    ),
    (
        "custom.plan < a",
        'at column 13: operator "<" does not apply to enum field "custom.plan"; use =, !=',
    ),
    ("tags = vip", f"at column 6: {NO_EQUAL_TAGS}"),
    ("tags != vip", f"at column 6: {NO_EQUAL_TAGS}"),
    # values per kind
    ("score > abc", 'at column 9: field "score" is a number: "abc" is not a number'),
    ("score > 1e5", 'at column 9: field "score" is a number: "1e5" is not a number'),
    ("score > 1.", 'at column 9: field "score" is a number: "1." is not a number'),
    (
        "score > 1" + "0" * 19,
        f'at column 9: field "score" is a number: "1{"0" * 19}" is out of range',
    ),
    ("custom.size = big", 'at column 15: field "custom.size" is a number: "big" is not a number'),
    ("amount = 12.5", f'at column 10: {MONEY} "12.5" is not a whole number'),
    (
        "amount = 9223372036854775808",
        f'at column 10: {MONEY} "9223372036854775808" is out of range',
    ),
    ("born = 2026-13-01", f'at column 8: field "born" is a date: "2026-13-01" {NOT_DATE}'),
    ("born = 2026-02-30", f'at column 8: field "born" is a date: "2026-02-30" {NOT_DATE}'),
    ("born = 20260101", f'at column 8: field "born" is a date: "20260101" {NOT_DATE}'),
    ("custom.renewal > soon", f'at column 18: field "custom.renewal" is a date: "soon" {NOT_DATE}'),
    (
        "created > yesterday",
        f'at column 11: field "created" is a timestamp: "yesterday" {NOT_TIME}',
    ),
    # ':' is an operator, so an unquoted time ends at the hour
    (
        "created > 2026-01-01T10:00:00Z",
        f'at column 11: field "created" is a timestamp: "2026-01-01T10" {NOT_TIME}',
    ),
    (
        'created > "2026-01-01T10:00:00"',
        f'at column 11: field "created" is a timestamp: "2026-01-01T10:00:00" {NOT_TIME}',
    ),
    (
        'created > "0001-01-01T00:00:00+01:00"',
        f'at column 11: field "created" is a timestamp: "0001-01-01T00:00:00+01:00" {NOT_TIME}',
    ),
    ("active = yes", 'at column 10: field "active" is true or false: "yes" is neither'),
    ("active = TRUE", 'at column 10: field "active" is true or false: "TRUE" is neither'),
    ("stage = open", f'at column 9: {STAGES} "open" is not one of them'),
    # user input echoed in errors is cut short
    ("stage = " + "x" * 100, f'at column 9: {STAGES} "{"x" * 37}..." is not one of them'),
]


@pytest.mark.parametrize(("text", "description"), ERRORS, ids=[text for text, _ in ERRORS])
def test_bad_filters_say_what_and_where(text: str, description: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse(text, FIELDS, CUSTOM)
    [violation] = caught.value.violations
    assert (violation.field, violation.description) == ("filter", description)


def test_the_error_names_the_field_it_is_given() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse("owner <", FIELDS, field_name="query.filter")
    assert caught.value.violations[0].field == "query.filter"


def test_custom_fields_are_unknown_without_a_custom_catalogue() -> None:
    with pytest.raises(InvalidArgument, match=r'unknown field "custom\.tier"; filterable fields: '):
        parse("custom.tier = gold", FIELDS)


def test_filters_are_limited_in_length() -> None:
    longest = "name = " + "x" * (MAX_LENGTH - 7)
    assert parse(longest, FIELDS) == cmp("name", "=", "x" * (MAX_LENGTH - 7), K.TEXT)
    with pytest.raises(InvalidArgument) as caught:
        parse(longest + "x", FIELDS)
    assert caught.value.violations[0].description == (
        "the filter is 2001 characters long; the limit is 2000"
    )


def test_nesting_is_limited_in_depth() -> None:
    deepest = "(" * (MAX_DEPTH - 1) + "NOT owner = u1" + ")" * (MAX_DEPTH - 1)
    tree = parse(deepest, FIELDS)
    assert tree == Not(OWNER_1)
    assert parse("NOT " * MAX_DEPTH + "owner = u1", FIELDS) is not None
    for too_deep, column in [
        ("(" * MAX_DEPTH + "NOT owner = u1" + ")" * MAX_DEPTH, 21),
        ("NOT " * (MAX_DEPTH + 1) + "owner = u1", 81),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            parse(too_deep, FIELDS)
        assert caught.value.violations[0].description == (
            f"at column {column}: nested deeper than 20 levels of NOT and parentheses"
        )


def test_a_long_flat_chain_is_not_nesting() -> None:
    text = " OR ".join(f"owner = u{i}" for i in range(120))
    tree = parse(text, FIELDS)
    assert isinstance(tree, Or) and len(tree.parts) == 120


def test_catalogue_mistakes_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="allowed values"):
        FieldSpec("stage", K.ENUM)
    with pytest.raises(ValueError, match="not a custom kind"):
        parse("owner = u1", FIELDS, {"when": K.TIMESTAMP})


def test_enum_values_are_kept_lower_case() -> None:
    assert FieldSpec("stage", K.ENUM, ("New", "WON")).values == ("new", "won")


# --- order_by -------------------------------------------------------------------------------

SORTABLE = ["last_name", "created", "amount"]
SORTABLE_FIELDS = "sortable fields: last_name, created, amount"


@pytest.mark.parametrize(
    ("text", "order"),
    [
        ("", []),
        ("  ", []),
        ("created", [("created", False)]),
        ("last_name desc, created", [("last_name", True), ("created", False)]),
        ("amount ASC,created DESC", [("amount", False), ("created", True)]),
        (" last_name  asc ,\tamount desc ", [("last_name", False), ("amount", True)]),
    ],
)
def test_order_by_lists_fields_and_directions(text: str, order: list[tuple[str, bool]]) -> None:
    assert parse_order_by(text, SORTABLE) == order


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("name", f'at column 1: unknown field "name"; {SORTABLE_FIELDS}'),
        ("created, nme desc", f'at column 10: unknown field "nme"; {SORTABLE_FIELDS}'),
        (
            "created, amount, created",
            'at column 18: field "created" appears twice (first at column 1)',
        ),
        ("created down", 'at column 9: expected asc or desc after "created", found "down"'),
        ("created desc x", 'at column 14: expected \',\' or the end after "created", found "x"'),
        ("created,", "at column 9: expected a field name before or after ','"),
        ("created,,amount", "at column 9: expected a field name before or after ','"),
        (", created", "at column 1: expected a field name before or after ','"),
    ],
)
def test_bad_order_by_says_what_and_where(text: str, description: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_order_by(text, SORTABLE)
    [violation] = caught.value.violations
    assert (violation.field, violation.description) == ("order_by", description)


def test_order_by_errors_name_the_field_they_are_given() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_order_by("x", SORTABLE, field_name="page.order_by")
    assert caught.value.violations[0].field == "page.order_by"
