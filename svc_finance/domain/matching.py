"""Which payment a bank statement line is: the reconciliation rules. Pure: plain
values in, a suggestion (or none) out.

A payment fits a line when it moves money the same way, in the same currency and
the same amount, within the tolerated number of days. Among those fitting, one
whose reference, number or invoice number appears in the line's text comes first,
then the closest date. Two equally good payments are no suggestion at all: a
guess between them would be wrong half the time."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import NamedTuple

from mesh.currencies import MINOR_UNITS

INCOMING = "incoming"
OUTGOING = "outgoing"
TOLERANCE_MAX = 60
NEEDLE_MIN = 3  # shorter references ("7") would be found in almost any text
MANUAL_REASON = "matched by hand"


class MatchState(StrEnum):
    UNMATCHED = "unmatched"
    SUGGESTED = "suggested"
    MATCHED = "matched"


@dataclass(frozen=True)
class Rules:
    date_tolerance_days: int = 3
    match_reference: bool = True
    auto_confirm: bool = False


@dataclass(frozen=True)
class Item:
    """A statement line as the rules see it."""

    date: date
    amount_minor: int  # signed: positive is money in
    currency: str
    reference: str = ""
    description: str = ""


@dataclass(frozen=True)
class Candidate:
    """A payment as the rules see it."""

    id: str
    direction: str  # INCOMING or OUTGOING
    currency: str
    amount_minor: int  # positive
    date: date
    number: str = ""
    reference: str = ""
    invoice_numbers: tuple[str, ...] = ()
    reconciled: bool = False


class Match(NamedTuple):
    payment_id: str
    reason: str  # "amount, date within 2 days, reference"
    confirm: bool  # matched at once, not only suggested


def direction_of(amount_minor: int) -> str:
    return INCOMING if amount_minor > 0 else OUTGOING


def fits(item: Item, payment: Candidate, rules: Rules) -> bool:
    """Same direction, currency and amount, dates within the tolerance."""
    return (
        item.amount_minor != 0
        and payment.direction == direction_of(item.amount_minor)
        and payment.currency == item.currency
        and payment.amount_minor == abs(item.amount_minor)
        and _days(item, payment) <= _tolerance(rules)
    )


def _tolerance(rules: Rules) -> int:
    return min(max(rules.date_tolerance_days, 0), TOLERANCE_MAX)


def _days(item: Item, payment: Candidate) -> int:
    return abs((payment.date - item.date).days)


def _squashed(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def reference_found(item: Item, payment: Candidate) -> bool:
    """The payment's reference, number or an invoice number appears in the line's
    reference or description, ignoring case (and spaces and dashes, which banks
    drop or add: "INV-2026-000012" is found in "INV2026000012")."""
    text = f"{item.reference} {item.description}"
    plain, squashed = text.casefold(), _squashed(text)
    for needle in (payment.reference, payment.number, *payment.invoice_numbers):
        wanted = needle.strip().casefold()
        if len(_squashed(wanted)) < NEEDLE_MIN:
            continue
        if wanted in plain or _squashed(wanted) in squashed:
            return True
    return False


def _reason(days: int, by_reference: bool) -> str:
    if days == 0:
        when = "same date"
    else:
        when = f"date within {days} day{'s' if days > 1 else ''}"
    return ", ".join(["amount", when, *(["reference"] if by_reference else [])])


def suggest(
    item: Item,
    candidates: Sequence[Candidate],
    rules: Rules,
    taken: Collection[str] = (),
) -> Match | None:
    """The payment for `item`, or None when none fits or two fit equally well.
    Reconciled payments and those in `taken` (already given to another line) are
    never proposed. It is confirmed at once only with auto-confirm on, the
    reference found, and no other payment fitting."""
    fitting = [
        c for c in candidates if not c.reconciled and c.id not in taken and fits(item, c, rules)
    ]
    if not fitting:
        return None
    ranked = sorted(
        ((not _by_reference(item, c, rules), _days(item, c), c) for c in fitting),
        key=lambda r: (r[0], r[1]),
    )
    best = ranked[0]
    if len(ranked) > 1 and ranked[1][:2] == best[:2]:
        return None
    by_reference, days, payment = not best[0], best[1], best[2]
    confirm = rules.auto_confirm and by_reference and len(fitting) == 1
    return Match(payment.id, _reason(days, by_reference), confirm)


def _by_reference(item: Item, payment: Candidate, rules: Rules) -> bool:
    return rules.match_reference and reference_found(item, payment)


def suggest_all(
    items: Sequence[Item],
    candidates: Sequence[Candidate],
    rules: Rules,
    taken: Collection[str] = (),
) -> list[Match | None]:
    """A suggestion per line, in file order; a payment goes to one line at most."""
    given = set(taken)
    found: list[Match | None] = []
    for item in items:
        match = suggest(item, candidates, rules, given)
        if match is not None:
            given.add(match.payment_id)
        found.append(match)
    return found


def show(amount_minor: int, currency: str) -> str:
    """Minor units as a decimal with the currency: "-12.30 EUR"."""
    digits = MINOR_UNITS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    whole, part = divmod(abs(amount_minor), 10**digits)
    decimals = f".{part:0{digits}d}" if digits else ""
    return f"{sign}{whole}{decimals} {currency}"


def mismatch(item: Item, payment: Candidate) -> str:
    """Why `payment` cannot be `item`'s (direction, currency, amount); "" if it can.
    For matching by hand, where the date and the reference are the user's call."""
    problems = []
    if item.amount_minor == 0:
        problems.append("the line has no amount")
    elif payment.direction != direction_of(item.amount_minor):
        way = "in" if item.amount_minor > 0 else "out"
        problems.append(f"the line is money {way}, the payment is {payment.direction}")
    if payment.currency != item.currency:
        problems.append(f"the line is in {item.currency}, the payment in {payment.currency}")
    elif payment.amount_minor != abs(item.amount_minor):
        problems.append(
            f"the line is {show(abs(item.amount_minor), item.currency)}, "
            f"the payment {show(payment.amount_minor, payment.currency)}"
        )
    return "; ".join(problems)
