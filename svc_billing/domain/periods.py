"""Billing periods: monthly or yearly steps from an anchor, clamped at month ends.

Every boundary is computed from the anchor itself (anchor + k months), never from
the previous boundary, so a subscription anchored on the 31st comes back to the
31st after a short month instead of drifting to the 28th for good.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from enum import StrEnum


class Interval(StrEnum):
    MONTHLY = "monthly"
    YEARLY = "yearly"


_MONTHS = {Interval.MONTHLY: 1, Interval.YEARLY: 12}


def require_utc(moment: datetime, name: str = "time") -> datetime:
    """The same instant in UTC; a naive datetime is a bug in the caller, not bad input."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def shift_months(anchor: datetime, months: int) -> datetime:
    """The anchor `months` later (or earlier), its day clamped to the target month's length."""
    years, month0 = divmod(anchor.month - 1 + months, 12)
    year, month = anchor.year + years, month0 + 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return anchor.replace(year=year, month=month, day=day)


def boundary(anchor: datetime, interval: Interval, k: int) -> datetime:
    """The k-th period boundary; boundary 0 is the anchor."""
    return shift_months(require_utc(anchor, "anchor"), k * _MONTHS[interval])


def period_containing(
    anchor: datetime, interval: Interval, at: datetime
) -> tuple[datetime, datetime]:
    """The half-open period [start, end) of the anchor's schedule that holds `at`."""
    anchor = require_utc(anchor, "anchor")
    at = require_utc(at, "at")
    months = (at.year - anchor.year) * 12 + (at.month - anchor.month)
    k = months // _MONTHS[interval]  # a guess that is off by at most one
    while boundary(anchor, interval, k) > at:
        k -= 1
    while boundary(anchor, interval, k + 1) <= at:
        k += 1
    return boundary(anchor, interval, k), boundary(anchor, interval, k + 1)


def add_interval(anchor: datetime, start: datetime, interval: Interval) -> datetime:
    """The end of the period that starts at `start`: the first boundary after it.

    `start` is normally a boundary itself; one that is not ends at the next boundary
    (a short stub period), never one interval later.
    """
    return period_containing(anchor, interval, start)[1]
