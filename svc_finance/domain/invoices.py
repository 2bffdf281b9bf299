"""Invoices and bills: line arithmetic, totals, numbering and the life cycle
draft → posted → partially paid → paid, or cancelled."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction

from mesh.errors import FailedPrecondition, FieldViolation
from mesh.values import round_half_up

QUANTITY = re.compile(r"\d{1,9}(\.\d{1,4})?")
LINES_MAX = 500
DESCRIPTION_MAX = 500
MEMO_MAX = 2000
BPS_MAX = 10000
PRICE_MAX = 10**15  # minor units per unit (the total is capped too)
TOTAL_MAX = 10**15
PARTY_NAME_MAX = 200


class Kind(StrEnum):
    INVOICE = "invoice"
    BILL = "bill"

    @property
    def prefix(self) -> str:
        return "INV" if self is Kind.INVOICE else "BILL"


class State(StrEnum):
    DRAFT = "draft"
    POSTED = "posted"
    PARTIALLY_PAID = "partial"
    PAID = "paid"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({State.POSTED, State.PARTIALLY_PAID})


@dataclass(frozen=True)
class LineInput:
    description: str
    quantity: str
    unit_price_minor: int
    discount_bps: int
    tax_rate_bps: int
    account_id: str


@dataclass(frozen=True)
class LineAmounts:
    net: int
    tax: int

    @property
    def total(self) -> int:
        return self.net + self.tax


def check_quantity(text: str, field: str) -> list[FieldViolation]:
    if text.strip().startswith("-"):
        return [FieldViolation(field, "must be positive")]
    if not QUANTITY.fullmatch(text):
        return [FieldViolation(field, "must be a decimal such as 2 or 1.5 (up to 4 decimals)")]
    if Fraction(text) <= 0:
        return [FieldViolation(field, "must be positive")]
    return []


def check_line(line: LineInput, field: str) -> list[FieldViolation]:
    found = check_quantity(line.quantity, f"{field}.quantity")
    if not line.description.strip():
        found.append(FieldViolation(f"{field}.description", "is required"))
    elif len(line.description) > DESCRIPTION_MAX or "\x00" in line.description:
        found.append(
            FieldViolation(f"{field}.description", f"at most {DESCRIPTION_MAX} characters")
        )
    if line.unit_price_minor < 0:
        found.append(FieldViolation(f"{field}.unit_price.amount_minor", "must not be negative"))
    elif line.unit_price_minor > PRICE_MAX:
        found.append(FieldViolation(f"{field}.unit_price.amount_minor", f"at most {PRICE_MAX}"))
    for name, value in (("discount_bps", line.discount_bps), ("tax_rate_bps", line.tax_rate_bps)):
        if not 0 <= value <= BPS_MAX:
            found.append(FieldViolation(f"{field}.{name}", f"must be between 0 and {BPS_MAX}"))
    return found


def amounts(line: LineInput) -> LineAmounts:
    """Net = quantity x price less discount, then tax on the net; each rounded
    half up once, so the printed invoice adds up line by line."""
    gross = Fraction(line.quantity) * line.unit_price_minor
    net = round_half_up(gross * (BPS_MAX - line.discount_bps) / BPS_MAX)
    tax = round_half_up(Fraction(net * line.tax_rate_bps, BPS_MAX))
    return LineAmounts(net, tax)


@dataclass(frozen=True)
class Totals:
    subtotal: int
    tax: int

    @property
    def total(self) -> int:
        return self.subtotal + self.tax


def totals(lines: Sequence[LineInput]) -> Totals:
    each = [amounts(line) for line in lines]
    return Totals(sum(a.net for a in each), sum(a.tax for a in each))


def check_totals(found: Totals) -> list[FieldViolation]:
    if found.total > TOTAL_MAX:
        return [FieldViolation("lines", f"the invoice total exceeds {TOTAL_MAX} minor units")]
    return []


def check_dates(issue: date, due: date) -> list[FieldViolation]:
    if due < issue:
        return [FieldViolation("due_date", "must not be before the issue date")]
    return []


def number(kind: Kind, year: int, value: int) -> str:
    """Gap-free per kind and calendar year of the invoice date: INV-2026-000007."""
    return f"{kind.prefix}-{year:04d}-{value:06d}"


def sequence_name(kind: Kind, year: int) -> str:
    return f"{kind.prefix}-{year:04d}"


def state_after_payment(total: int, paid: int) -> State:
    if paid <= 0:
        return State.POSTED
    return State.PAID if paid >= total else State.PARTIALLY_PAID


def require_draft(state: State, action: str) -> None:
    if state is not State.DRAFT:
        raise FailedPrecondition(
            f"only a draft can be {action}; this invoice is {state.value}", reason="NOT_DRAFT"
        )
