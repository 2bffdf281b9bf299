"""Checks of plain values every service meets: e-mail addresses, currency codes and
rounding of money. Shapes only; what a service accepts beyond that is its policy."""

from __future__ import annotations

import re
from fractions import Fraction

from mesh.errors import FieldViolation, InvalidArgument

EMAIL_MAX = 254
# Deliberately loose: one "@", no spaces, a dot in the domain. Deliverability is
# proven by mail actually arriving, not by a regex.
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]+")
_CURRENCY = re.compile(r"[A-Z]{3}")


def required(value: str, field: str) -> str:
    """The value, or INVALID_ARGUMENT "is required" on `field` when it is blank."""
    if not value.strip():
        raise InvalidArgument.one(field, "is required")
    return value


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def check_email(email: str, field: str = "email") -> list[FieldViolation]:
    """`email` must already be normalized."""
    if not email:
        return [FieldViolation(field, "is required")]
    if len(email) > EMAIL_MAX:
        return [FieldViolation(field, f"at most {EMAIL_MAX} characters")]
    if not _EMAIL.fullmatch(email):
        return [FieldViolation(field, "not a valid e-mail address")]
    return []


def check_currency(code: str, field: str = "currency") -> list[FieldViolation]:
    """Shape only (three upper-case letters); which codes are accepted is policy."""
    if not _CURRENCY.fullmatch(code):
        return [FieldViolation(field, "must be an ISO 4217 code such as USD")]
    return []


def round_half_up(value: Fraction) -> int:
    """Nearest int, halves away from zero: a credit rounds exactly like the matching charge."""
    magnitude = int(abs(value) + Fraction(1, 2))  # int() truncates a non-negative value
    return magnitude if value >= 0 else -magnitude
