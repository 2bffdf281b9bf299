"""google.type.Date (and "YYYY-MM-DD" query parameters) to and from dates, for every
service: a client's impossible date is INVALID_ARGUMENT on its field, never INTERNAL."""

from __future__ import annotations

import re
from datetime import date

from google.type import date_pb2

from mesh.errors import InvalidArgument

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def to_date_message(value: date | None) -> date_pb2.Date | None:
    if value is None:
        return None
    return date_pb2.Date(year=value.year, month=value.month, day=value.day)


def from_date_message(value: date_pb2.Date, field: str) -> date | None:
    """A google.type.Date as a date; all zero is "not set"."""
    if value.year == 0 and value.month == 0 and value.day == 0:
        return None
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidArgument.one(field, "not a calendar date") from None


def from_iso(text: str, field: str) -> date | None:
    """A "YYYY-MM-DD" text as a date; "" is "not set"."""
    if not text:
        return None
    found = _ISO_DATE.fullmatch(text)
    try:
        if found is None:
            raise ValueError(text)
        return date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        raise InvalidArgument.one(field, "must be a date such as 2026-03-31") from None
