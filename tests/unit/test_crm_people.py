"""The rules of people-shaped CRM records (svc_crm.domain.people: checks, duplicate
keys, search words) and of custom fields (svc_crm.domain.custom_fields: definitions
and typed values)."""

from __future__ import annotations

import math

import pytest

from mesh.errors import FieldViolation
from svc_crm.domain.custom_fields import (
    FIELDS_PER_KIND_MAX,
    Definition,
    FieldType,
    check_definition,
    merge_values,
)
from svc_crm.domain.people import (
    Person,
    check_email_field,
    check_person,
    check_phone,
    check_tags,
    check_text,
    clean_tags,
    email_key,
    email_words,
    fold,
    full_name,
    phone_key,
    phone_words,
    query_words,
    search_words,
)

V = FieldViolation

# ---- duplicate keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("ADA@Example.com ", "ada@example.com"),
        ("  ada@example.com", "ada@example.com"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_email_key(email: str, key: str) -> None:
    assert email_key(email) == key


@pytest.mark.parametrize(
    ("phone", "key"),
    [
        ("+44 20 7946 0018", "+442079460018"),
        ("+44-20-79460018", "+442079460018"),
        (" +44 (20) 7946.0018 ", "+442079460018"),
        ("020 7946 0018", "02079460018"),  # no "+": no country code, another key
        ("(555) 123-4567 ext. 89", "5551234567"),  # the extension is not compared
        ("555-1234 x12", "5551234"),
        ("555-1234X 12", "5551234"),
        ("", ""),
        ("phone", ""),
    ],
)
def test_phone_key(phone: str, key: str) -> None:
    assert phone_key(phone) == key


def test_the_documented_duplicates_share_keys() -> None:
    assert email_key("ADA@Example.com ") == email_key("ada@example.com")
    assert phone_key("+44 20 7946 0018") == phone_key("+44-20-79460018")
    assert phone_key("+44 20 7946 0018") != phone_key("+44 20 7946 0019")


# ---- checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "found"),
    [
        ("", []),
        ("   ", []),
        ("+44 20 7946 0018", []),
        ("(555) 010-0999", []),
        ("555-1234 ext. 12", []),
        ("12345", []),  # short internal numbers are phones
        ("+123456789012345", []),  # E.164: 15 digits
        ("1234", [V("p", "must have 5 to 15 digits, not 4")]),
        ("+1234567890123456", [V("p", "must have 5 to 15 digits, not 16")]),
        ("12ab", [V("p", "digits, spaces, ( ) . - and a leading + only")]),
        ("55+5 1234", [V("p", "digits, spaces, ( ) . - and a leading + only")]),
        ("1" * 41, [V("p", "at most 40 characters")]),
    ],
)
def test_check_phone(phone: str, found: list[FieldViolation]) -> None:
    assert check_phone(phone, "p") == found


@pytest.mark.parametrize(
    ("email", "found"),
    [
        ("", []),
        ("  ", []),
        (" Ada@Example.com ", []),
        ("nope", [V("e", "not a valid e-mail address")]),
        ("a@b", [V("e", "not a valid e-mail address")]),
        ("a b@c.de", [V("e", "not a valid e-mail address")]),
        ("a@" + "b" * 250 + ".de", [V("e", "at most 254 characters")]),
    ],
)
def test_check_email_field(email: str, found: list[FieldViolation]) -> None:
    assert check_email_field(email, "e") == found


def test_check_text() -> None:
    assert check_text("fine\twith\nlines", "f", 20) == []
    assert check_text("x" * 10, "f", 10) == []
    assert check_text("x" * 11, "f", 10) == [V("f", "at most 10 characters")]
    assert check_text("a\x00b", "f", 10) == [V("f", "must not contain control characters")]
    assert check_text("a\x1bb", "f", 10) == [V("f", "must not contain control characters")]
    assert check_text("  ", "f", 10, required=True) == [V("f", "is required")]
    assert check_text("", "f", 10) == []


def test_check_person_names_every_problem() -> None:
    assert check_person(Person("Ada", "", "", "")) == []
    assert check_person(Person("", "Lovelace", "ada@example.com", "+44 20 7946 0018")) == []
    assert check_person(Person(" ", "", "nope", "1", "x" * 101), "contact.") == [
        V("contact.last_name", "a first or last name is required"),
        V("contact.title", "at most 100 characters"),
        V("contact.email", "not a valid e-mail address"),
        V("contact.phone", "must have 5 to 15 digits, not 1"),
    ]
    assert check_person(Person("x" * 101, "a\x00", "", "")) == [
        V("first_name", "at most 100 characters"),
        V("last_name", "must not contain control characters"),
    ]


def test_tags() -> None:
    assert check_tags(["vip", " eu ", "key account", "a.b:c/d-e_f"]) == []
    bad = "1 to 40 letters, digits, spaces or .:/-_"
    assert check_tags(["ok", "", "  ", "x" * 41, "no!", "-lead"], "t") == [
        V("t[1]", bad),
        V("t[2]", bad),
        V("t[3]", bad),
        V("t[4]", bad),
        V("t[5]", bad),
    ]
    assert check_tags([f"t{i}" for i in range(20)]) == []
    assert check_tags([f"t{i}" for i in range(21)], "t") == [V("t", "at most 20 tags")]
    assert clean_tags([" VIP", "vip", "EU ", "", "  ", "eu", "Key Account"]) == [
        "vip",
        "eu",
        "key account",
    ]


def test_names() -> None:
    assert full_name(" Ada ", " Lovelace ") == "Ada Lovelace"
    assert full_name("", "Lovelace") == "Lovelace"
    assert full_name("Ada", " ") == "Ada"
    assert full_name("", "") == ""


# ---- search words ---------------------------------------------------------------------


def test_fold() -> None:
    assert fold("Zoë ÉCOLE Straße Ångström") == "zoe ecole strasse angstrom"
    assert fold("ﬁne") == "fine"  # compatibility forms too


def test_search_words_of_a_contact() -> None:
    text = search_words(
        "Zoë",
        "O'Brien",
        email_words("Zoe.OBrien@Example.com"),
        phone_words("+44 20 7946 0018"),
    )
    assert text == " zoe obrien zoe.obrien@example.com example.com 442079460018 44 20 7946 0018"
    assert search_words("", "  ") == ""
    assert search_words("Ada", "ada", "ADA") == " ada"  # each word once
    assert email_words("") == "" and phone_words("") == "" and phone_words("n/a") == ""
    assert phone_words("(555) 010-0999") == "5550100999 555 010 0999"


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("Zoë O'Brien", ["zoe", "obrien"]),
        ("  ada,lovelace;; ", ["ada", "lovelace"]),
        ("ADA@Example.com", ["ada@example.com"]),
        ("+44 20 7946 0018", ["44", "20", "7946", "0018"]),  # phones are stored by digits
        ("+442079460018", ["442079460018"]),
        ("100% ???", ["100"]),  # LIKE wildcards never reach SQL
        ("jean-luc x_y", ["jean-luc", "x_y"]),
        ("", []),
        (" ;; ", []),
    ],
)
def test_query_words(query: str, words: list[str]) -> None:
    assert query_words(query) == words


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("zoe", True),
        ("ZOË obr", True),
        ("o'brien", True),
        ("brien", False),  # the start of a word only
        ("zoe.obrien@example.com", True),
        ("example.com", True),
        ("+44 20 7946 0018", True),
        ("+442079460018", True),
        ("7946", True),
        ("0019", False),
        ("zoe smith", False),  # every word must match
    ],
)
def test_query_words_meet_the_record_words(query: str, found: bool) -> None:
    """What SearchContacts does in SQL: every query word starts a word of the record."""
    text = search_words(
        "Zoë", "O'Brien", email_words("Zoe.OBrien@Example.com"), phone_words("+44 20 7946 0018")
    )
    assert all(f" {w}" in text for w in query_words(query)) is found


# ---- custom field definitions ---------------------------------------------------------

TEXT, NUMBER, DATE, CHOICE = FieldType.TEXT, FieldType.NUMBER, FieldType.DATE, FieldType.CHOICE


@pytest.mark.parametrize(
    ("definition", "found"),
    [
        (Definition("tier", "Tier", CHOICE, ("gold", "silver")), []),
        (Definition("a", "A", TEXT), []),
        (Definition("a" + "b" * 39, "A", NUMBER), []),  # 40 characters
        (Definition("renewal_2", "Renewal", DATE, (), True), []),
        (
            Definition("a" + "b" * 40, "A", TEXT),
            [V("field.key", "lower-case letters, digits and _, from a letter, ≤ 40")],
        ),
        (
            Definition("Tier", "Tier", TEXT),
            [V("field.key", "lower-case letters, digits and _, from a letter, ≤ 40")],
        ),
        (
            Definition("_x", "X", TEXT),
            [V("field.key", "lower-case letters, digits and _, from a letter, ≤ 40")],
        ),
        (Definition("taken", "Taken", TEXT), [V("field.key", '"taken" is already defined')]),
        (Definition("x", " ", TEXT), [V("field.label", "1 to 100 characters")]),
        (Definition("x", "L" * 101, TEXT), [V("field.label", "1 to 100 characters")]),
        (Definition("x", "a\x00", TEXT), [V("field.label", "no control characters")]),
        (Definition("x", "X", CHOICE), [V("field.choices", "a choice field needs 1 to 100")]),
        (
            Definition("x", "X", CHOICE, tuple(f"c{i}" for i in range(101))),
            [V("field.choices", "a choice field needs 1 to 100")],
        ),
        (Definition("x", "X", CHOICE, ("a", "a")), [V("field.choices", "each choice once")]),
        (
            Definition("x", "X", CHOICE, ("a", " ")),
            [V("field.choices", "1 to 100 characters each, no control ones")],
        ),
        (
            Definition("x", "X", CHOICE, ("a", "b\x00")),
            [V("field.choices", "1 to 100 characters each, no control ones")],
        ),
        (
            Definition("x", "X", NUMBER, ("1",)),
            [V("field.choices", "only choice fields have choices")],
        ),
    ],
)
def test_check_definition(definition: Definition, found: list[FieldViolation]) -> None:
    assert check_definition(definition, ["taken", "other"]) == found


def test_fields_per_kind_are_limited() -> None:
    taken = [f"f{i}" for i in range(FIELDS_PER_KIND_MAX)]
    assert check_definition(Definition("new", "New", TEXT), taken[:-1]) == []
    assert check_definition(Definition("new", "New", TEXT), taken, "custom") == [
        V("custom.key", "at most 100 fields per record kind")
    ]


# ---- custom field values --------------------------------------------------------------

DEFINED = {
    d.key: d
    for d in (
        Definition("note", "Note", TEXT),
        Definition("score", "Score", NUMBER),
        Definition("renewal", "Renewal", DATE),
        Definition("tier", "Tier", CHOICE, ("gold", "silver")),
    )
}
F = "contact.custom_fields"
ARABIC_DATE = "\u0662\u0660\u0662\u0666-\u0660\u0663-\u0660\u0661"  # 2026-03-01


def test_values_are_stored_by_type() -> None:
    values, found = merge_values(
        DEFINED,
        {},
        {"note": "tea", "score": 7.0, "renewal": "2026-03-01", "tier": "gold"},
        creating=True,
        field=F,
    )
    assert found == []
    assert values == {"note": "tea", "score": 7, "renewal": "2026-03-01", "tier": "gold"}
    assert isinstance(values["score"], int)  # 7.0 from JSON is the integer 7
    values, found = merge_values(DEFINED, {}, {"score": 2.5, "note": ""}, creating=True)
    assert (values, found) == ({"score": 2.5, "note": ""}, [])
    values, _ = merge_values(DEFINED, {}, {"score": -1e20}, creating=True)
    assert values == {"score": -100000000000000000000}


BAD = [
    ({"score": "7"}, "score", "score is a number"),
    ({"score": True}, "score", "score is a number"),
    ({"score": math.nan}, "score", "score is a number"),
    ({"score": math.inf}, "score", "score is a number"),
    ({"score": [1]}, "score", "score is a number"),
    ({"renewal": "2026-02-30"}, "renewal", "renewal is a date: YYYY-MM-DD, not '2026-02-30'"),
    ({"renewal": "20260301"}, "renewal", "renewal is a date: YYYY-MM-DD, not '20260301'"),
    ({"renewal": "2026-W09-1"}, "renewal", "renewal is a date: YYYY-MM-DD, not '2026-W09-1'"),
    ({"renewal": "2026-3-1"}, "renewal", "renewal is a date: YYYY-MM-DD, not '2026-3-1'"),
    (  # Arabic-Indic digits are digits to Python, not to a date column
        {"renewal": ARABIC_DATE},
        "renewal",
        f"renewal is a date: YYYY-MM-DD, not '{ARABIC_DATE}'",
    ),
    ({"renewal": 20260301}, "renewal", "renewal is date: give a string"),
    ({"tier": "bronze"}, "tier", "tier must be one of ['gold', 'silver']"),
    ({"tier": "Gold"}, "tier", "tier must be one of ['gold', 'silver']"),
    ({"tier": ""}, "tier", "tier must be one of ['gold', 'silver']"),
    ({"note": 5}, "note", "note is text: give a string"),
    ({"note": {"a": 1}}, "note", "note is text: give a string"),
    ({"note": "x" * 1001}, "note", "note: at most 1000 characters"),
    ({"note": "a\x00b"}, "note", "note: no control characters"),
    ({"colour": "red"}, "colour", "unknown custom field; defined: note, renewal, score, tier"),
]


@pytest.mark.parametrize(("given", "key", "problem"), BAD)
def test_bad_values_name_their_path(given: dict[str, object], key: str, problem: str) -> None:
    current = {"tier": "silver"}
    values, found = merge_values(DEFINED, current, given, creating=False, field=F)
    assert found == [V(f"{F}.{key}", problem)]
    assert values == {"tier": "silver"}  # the bad value is not applied
    assert current == {"tier": "silver"}  # never changed in place


def test_text_may_hold_line_breaks_and_tabs() -> None:
    values, found = merge_values(DEFINED, {}, {"note": "a\r\nb\tc"}, creating=False)
    assert (values, found) == ({"note": "a\r\nb\tc"}, [])


def test_null_clears_and_archived_values_stay() -> None:
    current = {"note": "old", "score": 3, "retired": "kept"}  # "retired" is no longer defined
    values, found = merge_values(DEFINED, current, {"note": None, "score": 4}, creating=False)
    assert found == []
    assert values == {"score": 4, "retired": "kept"}
    values, found = merge_values(DEFINED, current, {"retired": "new"}, creating=False)
    assert values == current
    assert found == [
        V("custom_fields.retired", "unknown custom field; defined: note, renewal, score, tier")
    ]
    _, found = merge_values({}, {}, {"x": 1}, creating=False)
    assert found == [V("custom_fields.x", "unknown custom field; defined: none defined")]


def test_required_fields_on_create_only() -> None:
    defined = {
        **DEFINED,
        "region": Definition("region", "Region", CHOICE, ("eu", "us"), required=True),
        "since": Definition("since", "Since", DATE, required=True),
    }
    _, found = merge_values(defined, {}, {}, creating=True, field=F)
    assert found == [V(f"{F}.region", "is required"), V(f"{F}.since", "is required")]
    _, found = merge_values(defined, {}, {"region": "eu", "since": None}, creating=True)
    assert found == [V("custom_fields.since", "is required")]
    # A bad value is reported once, as bad, not also as missing.
    _, found = merge_values(defined, {}, {"region": "asia", "since": "2026-01-01"}, creating=True)
    assert found == [V("custom_fields.region", "region must be one of ['eu', 'us']")]
    values, found = merge_values(
        defined, {}, {"region": "us", "since": "2026-01-01"}, creating=True
    )
    assert (values, found) == ({"region": "us", "since": "2026-01-01"}, [])
    # An update may leave a required field empty (only new records must have it).
    values, found = merge_values(defined, {"region": "us"}, {"region": None}, creating=False)
    assert (values, found) == ({}, [])
