"""Proration of a plan change within a period, exact to the minor unit.

Both sides are priced on the same remaining time, counted in whole seconds (a
started second counts as used), so a change at the very start swaps the full
prices and a change in the last second moves (almost) nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from mesh.errors import InvalidArgument, Violations
from svc_billing.domain.money import round_half_up
from svc_billing.domain.periods import require_utc

_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Proration:
    credit: int  # unused time of the old plan, given back (>= 0)
    charge: int  # remaining time on the new plan (>= 0)
    net: int  # charge - credit; negative is credit left for the tenant
    remaining_seconds: int
    period_seconds: int


def prorate(
    old_price: int,
    new_price: int,
    period_start: datetime,
    period_end: datetime,
    change_at: datetime,
) -> Proration:
    start = require_utc(period_start, "period_start")
    end = require_utc(period_end, "period_end")
    at = require_utc(change_at, "change_at")
    problems = Violations()
    if old_price < 0:
        problems.add("old_price", "must not be negative")
    if new_price < 0:
        problems.add("new_price", "must not be negative")
    period_seconds = (end - start) // _SECOND
    if period_seconds <= 0:
        problems.add("period_end", "must be at least one second after period_start")
    elif not start <= at < end:
        problems.add("change_at", "must fall within the current period")
    problems.raise_if_any()
    remaining = (end - at) // _SECOND  # floor: the second in progress is used
    share = Fraction(remaining, period_seconds)
    credit = round_half_up(old_price * share)
    charge = round_half_up(new_price * share)
    return Proration(credit, charge, charge - credit, remaining, period_seconds)


def switch_interval(
    old_price: int,
    new_price: int,
    period_start: datetime,
    period_end: datetime,
    change_at: datetime,
) -> Proration:
    """Monthly <-> yearly: the old period stops now (its unused time is credited) and a
    whole new period starts now, charged in full."""
    unused = prorate(old_price, 0, period_start, period_end, change_at)
    if new_price < 0:
        raise InvalidArgument.one("new_price", "must not be negative")
    return Proration(
        unused.credit,
        new_price,
        new_price - unused.credit,
        unused.remaining_seconds,
        unused.period_seconds,
    )
