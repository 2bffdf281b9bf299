"""What every bank statement format shares: the parsed line, reading dates and
amounts, errors that name the file's line, and the fingerprint by which a
re-import skips the lines already imported. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from mesh.currencies import MINOR_UNITS
from mesh.errors import InvalidArgument

FIELD = "content"
SIZE_MAX = 5 * 1024 * 1024
LINES_MAX = 20_000
REFERENCE_MAX = 200
DESCRIPTION_MAX = 500
AMOUNT_MAX = 10**15  # minor units, as the ledger's amounts
SHOWN_MAX = 40  # characters of a bad value quoted back in an error


class Format(StrEnum):
    CSV = "csv"
    OFX = "ofx"


@dataclass(frozen=True)
class ParsedLine:
    date: date
    amount_minor: int  # signed: positive is money in, negative money out
    reference: str
    description: str


class BadValue(Exception):
    """A bad value; the caller knows the line and reports it."""


def at_line(line_no: int, problem: str) -> InvalidArgument:
    return InvalidArgument.one(FIELD, f"line {line_no}: {problem}")


def shown(value: str) -> str:
    clean = "".join(c if c.isprintable() else "?" for c in value.strip())
    return f"'{clean[:SHOWN_MAX]}…'" if len(clean) > SHOWN_MAX else f"'{clean}'"


def clean(value: str, limit: int) -> str:
    """One line of printable text (bank text has line breaks and tabs), cut to fit."""
    printable = "".join(c if c.isprintable() else " " for c in value)
    return " ".join(printable.split())[:limit]


def check_size(content: bytes) -> None:
    if len(content) > SIZE_MAX:
        raise InvalidArgument.one(FIELD, f"at most 5 MB (the file has {len(content)} bytes)")
    if not content.strip():
        raise InvalidArgument.one(FIELD, "the file is empty")


def decode_text(content: bytes) -> str:
    check_size(content)
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]  # the BOM; dropped here so error offsets stay the file's
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as problem:
        line_no = content.count(b"\n", 0, problem.start) + 1
        raise at_line(line_no, "the file is not UTF-8 text") from None
    if not text.strip():
        raise InvalidArgument.one(FIELD, "the file is empty")
    return text


def minor_digits(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def too_many() -> InvalidArgument:
    return InvalidArgument.one(FIELD, f"more than {LINES_MAX} transactions; split the file")


def no_transactions() -> InvalidArgument:
    return InvalidArgument.one(FIELD, "the file has no transactions")


# ---- values ----------------------------------------------------------------------------

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][0-9:.]*(?:Z|[+-][0-9:]+)?)?")
_DOTTED_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_SLASHED_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_GROUPING = re.compile(r"[\s\u00a0\u202f']")  # 1 234,56 and 1'234.56
_NO_SYMBOLS = str.maketrans("", "", "€$£¥")


def parse_date(text: str) -> date:
    """YYYY-MM-DD (a time after it is ignored), DD.MM.YYYY or MM/DD/YYYY."""
    value = text.strip()
    try:
        if found := _ISO_DATE.fullmatch(value):
            return date(int(found[1]), int(found[2]), int(found[3]))
        if found := _DOTTED_DATE.fullmatch(value):
            return date(int(found[3]), int(found[2]), int(found[1]))
        if found := _SLASHED_DATE.fullmatch(value):
            return date(int(found[3]), int(found[1]), int(found[2]))
    except ValueError:
        raise BadValue(f"date {shown(text)} is not a calendar date") from None
    raise BadValue(f"date {shown(text)} is not a date (YYYY-MM-DD, DD.MM.YYYY or MM/DD/YYYY)")


def parse_amount(
    text: str, currency: str, *, decimal_comma: bool = False, label: str = "amount"
) -> int:
    """A decimal amount as signed minor units of `currency`.

    Takes a sign in front or behind ("12.30-"), parentheses for negative, grouping by
    spaces or apostrophes, and the currency's code or symbol. When both "." and ","
    appear the last one is the decimal mark; one of them followed by exactly three
    digits ("1,234") is grouping unless it is the file's decimal mark."""
    digits = minor_digits(currency)
    bad = BadValue(f"{label} {shown(text)} is not a number")
    value = text.strip().replace("\u2212", "-")
    negative = len(value) > 1 and value[0] == "(" and value[-1] == ")"
    if negative:
        value = value[1:-1]
    value = _GROUPING.sub("", value).translate(_NO_SYMBOLS)
    if currency:  # "12.30 EUR", "EUR 12.30"
        code = re.escape(currency)
        value = re.sub(rf"^{code}|{code}$", "", value, flags=re.I)
    if value[:1] in ("-", "+"):
        negative, value = negative != (value[0] == "-"), value[1:]
    elif value.endswith("-"):
        negative, value = not negative, value[:-1]
    if not value or value.strip("0123456789.,") or not any(c.isdigit() for c in value):
        raise bad
    integer, fraction = _split_decimal(value, decimal_comma, bad)
    if len(fraction) > digits and not fraction[digits:].strip("0"):
        fraction = fraction[:digits]  # "1234.00" in yen loses nothing
    if len(fraction) > digits:
        raise BadValue(f"{label} {shown(text)} has more decimals than {currency} has ({digits})")
    if len(integer) > 16:
        raise BadValue(f"{label} {shown(text)} is too large")
    scale: int = 10**digits
    minor = int(integer or "0") * scale + int(fraction.ljust(digits, "0") or "0")
    if minor > AMOUNT_MAX:
        raise BadValue(f"{label} {shown(text)} is too large")
    return -minor if negative else minor


def _split_decimal(value: str, decimal_comma: bool, bad: BadValue) -> tuple[str, str]:
    """(integer digits, fraction digits) of an unsigned number with marks in it."""
    dots, commas = value.count("."), value.count(",")
    if dots and commas:
        mark: str | None = "." if value.rfind(".") > value.rfind(",") else ","
    elif dots + commas == 1:
        sep = "." if dots else ","
        head, _, tail = value.partition(sep)
        looks_grouped = len(tail) == 3 and 1 <= len(head) <= 3 and head != "0"
        file_mark = "," if decimal_comma else "."
        mark = None if looks_grouped and sep != file_mark else sep
    else:
        mark = None  # no mark, or only grouping ("1.234.567")
    integer, fraction = value, ""
    if mark is not None:
        integer, _, fraction = value.rpartition(mark)
        if mark in integer or not fraction.isdigit():
            raise bad
    groups = re.split(r"[.,]", integer)
    if len(groups) > 1:
        grouped = 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])
        if not grouped:
            raise bad
    integer = "".join(groups)
    if not integer.isdigit() and not (integer == "" and fraction):
        raise bad
    return integer, fraction


# ---- fingerprints ----------------------------------------------------------------------


def fingerprint(bank_account_id: str, line: ParsedLine, occurrence: int) -> str:
    """Identity of a bank transaction on an account. `occurrence` counts the identical
    lines before it in the same file: two equal coffees on one day are two lines,
    and importing the file again finds both."""
    # JSON keeps the parts apart: ("a|b", "c") and ("a", "b|c") must differ.
    parts = [
        bank_account_id,
        line.date.isoformat(),
        line.amount_minor,
        line.reference,
        line.description,
        occurrence,
    ]
    encoded = json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def fingerprints(bank_account_id: str, lines: Sequence[ParsedLine]) -> list[str]:
    """The fingerprint of each line, in order."""
    seen: Counter[ParsedLine] = Counter()
    found = []
    for line in lines:
        found.append(fingerprint(bank_account_id, line, seen[line]))
        seen[line] += 1
    return found
