"""Opportunities: amounts, the open → won / lost life cycle, and weighting by a
stage's win probability."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from fractions import Fraction

from mesh.currencies import CODES
from mesh.errors import FailedPrecondition, FieldViolation
from mesh.values import check_currency, round_half_up

NAME_MAX = 200
REASON_MAX = 500
AMOUNT_MAX = 10**15  # minor units; far beyond any deal, far inside int64
# Codes the CRM accepts (ISO 4217, those in use); amounts are in each one's minor unit.
CURRENCIES = CODES


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


def check_amount(currency: str, amount_minor: int, field: str = "amount") -> list[FieldViolation]:
    found = check_currency(currency, f"{field}.currency_code")
    if not found and currency not in CURRENCIES:
        found.append(FieldViolation(f"{field}.currency_code", f"{currency} is not accepted"))
    if amount_minor < 0:
        found.append(FieldViolation(f"{field}.amount_minor", "must not be negative"))
    elif amount_minor > AMOUNT_MAX:
        found.append(FieldViolation(f"{field}.amount_minor", f"at most {AMOUNT_MAX}"))
    return found


def check_close_date(
    value: date | None, field: str = "expected_close_date"
) -> list[FieldViolation]:
    if value is not None and not date(2000, 1, 1) <= value <= date(2200, 12, 31):
        return [FieldViolation(field, "a date between 2000 and 2200")]
    return []


def require_open(status: DealStatus, doing: str) -> None:
    if status is not DealStatus.OPEN:
        raise FailedPrecondition(
            f"the opportunity is {status.value}; only open ones can be {doing}",
            reason="OPPORTUNITY_CLOSED",
            metadata={"status": status.value},
        )


def weighted(amount_minor: int, win_probability: int) -> int:
    """Amount times the probability (percent), rounded half up to the minor unit."""
    return round_half_up(Fraction(amount_minor * win_probability, 100))
