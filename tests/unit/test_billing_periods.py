"""Billing periods keep the anchor's day and time, clamped to short months."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from svc_billing.domain.periods import Interval, add_interval, period_containing

M, Y = Interval.MONTHLY, Interval.YEARLY


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def chain(anchor: datetime, interval: Interval, n: int) -> list[datetime]:
    ends, start = [], anchor
    for _ in range(n):
        start = add_interval(anchor, start, interval)
        ends.append(start)
    return ends


def test_month_end_anchor_clamps_and_comes_back() -> None:
    anchor = utc(2028, 1, 31, 9, 30)
    assert chain(anchor, M, 6) == [
        utc(2028, 2, 29, 9, 30),  # leap February
        utc(2028, 3, 31, 9, 30),  # back to the 31st, not stuck on the 29th
        utc(2028, 4, 30, 9, 30),
        utc(2028, 5, 31, 9, 30),
        utc(2028, 6, 30, 9, 30),
        utc(2028, 7, 31, 9, 30),
    ]


def test_month_end_anchor_in_a_common_year() -> None:
    assert chain(utc(2027, 1, 31), M, 2) == [utc(2027, 2, 28), utc(2027, 3, 31)]


def test_yearly_leap_day_anchor() -> None:
    anchor = utc(2028, 2, 29, 12)
    assert chain(anchor, Y, 4) == [
        utc(2029, 2, 28, 12),
        utc(2030, 2, 28, 12),
        utc(2031, 2, 28, 12),
        utc(2032, 2, 29, 12),  # the 29th again because the anchor is a 29th
    ]


def test_yearly_28th_anchor_stays_on_28th_in_leap_years() -> None:
    assert chain(utc(2031, 2, 28), Y, 1) == [utc(2032, 2, 28)]


@pytest.mark.parametrize(
    ("anchor", "start", "interval", "end"),
    [
        (utc(2027, 1, 15), utc(2027, 1, 15), M, utc(2027, 2, 15)),
        (utc(2027, 12, 15), utc(2027, 12, 15), M, utc(2028, 1, 15)),  # year wraps
        (utc(2027, 1, 15), utc(2027, 1, 15), Y, utc(2028, 1, 15)),
        # the anchor's time of day wins over the start's
        (utc(2027, 1, 15, 8), utc(2027, 3, 15, 23), M, utc(2027, 4, 15, 8)),
        # a start off the schedule ends at the next boundary (a short stub period)
        (utc(2027, 1, 15), utc(2027, 3, 20), M, utc(2027, 4, 15)),
    ],
)
def test_add_interval(anchor: datetime, start: datetime, interval: Interval, end: datetime) -> None:
    assert add_interval(anchor, start, interval) == end


@pytest.mark.parametrize(
    ("at", "start", "end"),
    [
        (utc(2028, 1, 31), utc(2028, 1, 31), utc(2028, 2, 29)),  # the anchor itself
        (utc(2028, 2, 29), utc(2028, 2, 29), utc(2028, 3, 31)),  # a boundary opens a period
        (utc(2028, 2, 28, 23, 59, 59), utc(2028, 1, 31), utc(2028, 2, 29)),
        (utc(2028, 3, 30), utc(2028, 2, 29), utc(2028, 3, 31)),
        (utc(2028, 12, 31), utc(2028, 12, 31), utc(2029, 1, 31)),
        (utc(2027, 12, 31), utc(2027, 12, 31), utc(2028, 1, 31)),  # before the anchor
    ],
)
def test_period_containing_monthly(at: datetime, start: datetime, end: datetime) -> None:
    assert period_containing(utc(2028, 1, 31), M, at) == (start, end)


def test_period_containing_yearly() -> None:
    anchor = utc(2028, 2, 29)
    assert period_containing(anchor, Y, utc(2030, 6, 1)) == (utc(2030, 2, 28), utc(2031, 2, 28))
    assert period_containing(anchor, Y, utc(2032, 2, 28, 23)) == (
        utc(2031, 2, 28),
        utc(2032, 2, 29),
    )


def test_other_offsets_are_read_as_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    anchor = datetime(2027, 1, 15, 2, tzinfo=plus2)  # 2027-01-15 00:00 UTC
    assert add_interval(anchor, anchor, M) == utc(2027, 2, 15)


def test_naive_times_are_a_bug() -> None:
    with pytest.raises(ValueError, match="anchor"):
        add_interval(datetime(2027, 1, 1), utc(2027, 1, 1), M)
