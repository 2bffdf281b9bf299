"""Money helpers: amounts are ints of minor units with an ISO 4217 code beside them."""

from __future__ import annotations

import re
from fractions import Fraction

from mesh.errors import FieldViolation

_CURRENCY = re.compile(r"^[A-Z]{3}$")


def round_half_up(value: Fraction) -> int:
    """Nearest int, halves away from zero: a credit rounds exactly like the matching charge."""
    magnitude = int(abs(value) + Fraction(1, 2))  # int() truncates a non-negative value
    return magnitude if value >= 0 else -magnitude


def check_currency(code: str, field: str = "currency") -> list[FieldViolation]:
    """Shape only (three upper-case letters); which codes are accepted is policy."""
    if not _CURRENCY.match(code):
        return [FieldViolation(field, "must be an ISO 4217 code such as USD")]
    return []
