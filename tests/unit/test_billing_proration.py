"""Proration: exact shares of the remaining whole seconds, rounded half up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mesh.errors import InvalidArgument
from svc_billing.domain.proration import Proration, prorate, switch_interval

DAY = 86400


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


CASES = [
    # id, old, new, start, end, change, (credit, charge, net, remaining, period)
    (
        # April 2027 has 30 days; 15 remain: 2900*15/30 = 1450, 9900*15/30 = 4950.
        "30-day month",
        2900,
        9900,
        utc(2027, 4, 1),
        utc(2027, 5, 1),
        utc(2027, 4, 16),
        (1450, 4950, 3500, 15 * DAY, 30 * DAY),
    ),
    (
        # January: 21 of 31 days remain. 2900*21/31 = 1964.52 -> 1965;
        # 9900*21/31 = 6706.45 -> 6706; net 6706 - 1965 = 4741.
        "31-day month",
        2900,
        9900,
        utc(2027, 1, 1),
        utc(2027, 2, 1),
        utc(2027, 1, 11),
        (1965, 6706, 4741, 21 * DAY, 31 * DAY),
    ),
    (
        # Leap February: 15 of 29 days remain. 2900*15/29 = 1500 exactly;
        # 9900*15/29 = 5120.69 -> 5121; net 3621.
        "leap February",
        2900,
        9900,
        utc(2028, 2, 1),
        utc(2028, 3, 1),
        utc(2028, 2, 15),
        (1500, 5121, 3621, 15 * DAY, 29 * DAY),
    ),
    (
        # Common February: 14 of 28 days remain, exactly half.
        "common February",
        2900,
        9900,
        utc(2027, 2, 1),
        utc(2027, 3, 1),
        utc(2027, 2, 15),
        (1450, 4950, 3500, 14 * DAY, 28 * DAY),
    ),
    (
        # 2028 has 366 days; from Jul 1, 184 remain (Jul-Dec: 31+31+30+31+30+31).
        # 29000*184/366 = 14579.23 -> 14579; 99000*184/366 = 49770.49 -> 49770.
        "yearly, leap year",
        29000,
        99000,
        utc(2028, 1, 1),
        utc(2029, 1, 1),
        utc(2028, 7, 1),
        (14579, 49770, 35191, 184 * DAY, 366 * DAY),
    ),
    (
        # 2027 has 365 days; 184 remain. 29000*184/365 = 14619.18 -> 14619;
        # 99000*184/365 = 49906.85 -> 49907; net 35288.
        "yearly, common year",
        29000,
        99000,
        utc(2027, 1, 1),
        utc(2028, 1, 1),
        utc(2027, 7, 1),
        (14619, 49907, 35288, 184 * DAY, 365 * DAY),
    ),
    (
        # At the very start: the whole period, full prices.
        "at the start",
        2900,
        9900,
        utc(2027, 4, 1),
        utc(2027, 5, 1),
        utc(2027, 4, 1),
        (2900, 9900, 7000, 30 * DAY, 30 * DAY),
    ),
    (
        # One second left of 2592000: 9900/2592000 = 0.0038 -> 0.
        "one second before the end",
        2900,
        9900,
        utc(2027, 4, 1),
        utc(2027, 5, 1),
        utc(2027, 4, 30, 23, 59, 59),
        (0, 0, 0, 1, 30 * DAY),
    ),
    (
        # Free to Business, half of April: nothing to credit, 4950 to pay.
        "free to paid",
        0,
        9900,
        utc(2027, 4, 1),
        utc(2027, 5, 1),
        utc(2027, 4, 16),
        (0, 4950, 4950, 15 * DAY, 30 * DAY),
    ),
    (
        # Business to Starter, half of April: 4950 back, 1450 due, 3500 left as credit.
        "downgrade",
        9900,
        2900,
        utc(2027, 4, 1),
        utc(2027, 5, 1),
        utc(2027, 4, 16),
        (4950, 1450, -3500, 15 * DAY, 30 * DAY),
    ),
    (
        # Exactly halves: 2901/2 = 1450.5 -> 1451 and 9901/2 = 4950.5 -> 4951.
        "half rounds up",
        2901,
        9901,
        utc(2027, 4, 1),
        utc(2027, 5, 1),
        utc(2027, 4, 16),
        (1451, 4951, 3500, 15 * DAY, 30 * DAY),
    ),
    (
        # A started second is used: 0.5 s left counts as 0 s.
        "sub-second change",
        2900,
        9900,
        utc(2027, 4, 1),
        utc(2027, 5, 1),
        datetime(2027, 4, 30, 23, 59, 59, 500000, tzinfo=UTC),
        (0, 0, 0, 0, 30 * DAY),
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "start", "end", "change", "expected"),
    [pytest.param(*case[1:], id=str(case[0])) for case in CASES],
)
def test_prorate(
    old: int,
    new: int,
    start: datetime,
    end: datetime,
    change: datetime,
    expected: tuple[int, int, int, int, int],
) -> None:
    assert prorate(old, new, start, end, change) == Proration(*expected)


@pytest.mark.parametrize(
    ("old", "new", "change", "field"),
    [
        (2900, 9900, utc(2027, 3, 31, 23, 59, 59), "change_at"),  # before the start
        (2900, 9900, utc(2027, 5, 1), "change_at"),  # the end is not inside
        (-1, 9900, utc(2027, 4, 16), "old_price"),
        (2900, -1, utc(2027, 4, 16), "new_price"),
    ],
)
def test_prorate_refuses(old: int, new: int, change: datetime, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        prorate(old, new, utc(2027, 4, 1), utc(2027, 5, 1), change)
    assert [v.field for v in caught.value.violations] == [field]


def test_empty_period_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        prorate(1, 1, utc(2027, 4, 1), utc(2027, 4, 1), utc(2027, 4, 1))
    assert [v.field for v in caught.value.violations] == ["period_end"]


def test_switching_interval_credits_the_old_rest_and_charges_a_whole_new_period() -> None:
    # Monthly 2900 in a 30-day April, switched to yearly 29000 after 10 days:
    # 20 of 30 days unused -> credit 1933.33 -> 1933; the yearly price in full.
    start = datetime(2026, 4, 1, tzinfo=UTC)
    end = datetime(2026, 5, 1, tzinfo=UTC)
    switched = switch_interval(2900, 29000, start, end, datetime(2026, 4, 11, tzinfo=UTC))
    assert (switched.credit, switched.charge, switched.net) == (1933, 29000, 27067)
