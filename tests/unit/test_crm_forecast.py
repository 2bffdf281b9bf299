"""The arithmetic of the CRM's deal reports: weighting per stage sum, months of a
forecast, win rates in basis points."""

from __future__ import annotations

from datetime import date

import pytest

from svc_crm.domain.deals import check_amount, weighted
from svc_crm.domain.forecast import (
    ClosedSum,
    ForecastSum,
    MonthLine,
    StageInfo,
    StageSum,
    add_months,
    fold_months,
    month_key,
    rate_bps,
    stage_lines,
    win_rates,
)

LEAD = StageInfo("s1", "Lead", 10)
DEAL = StageInfo("s2", "Deal", 25)
EMPTY = StageInfo("s3", "Empty", 50)


@pytest.mark.parametrize(
    ("amount", "percent", "expected"),
    [
        (1000, 25, 250),
        (2, 25, 1),  # 0.5 rounds up
        (6, 25, 2),  # 1.5 rounds up
        (1, 49, 0),
        (1, 50, 1),
        (999, 0, 0),
        (999, 100, 999),
    ],
)
def test_weighted_rounds_half_up(amount: int, percent: int, expected: int) -> None:
    assert weighted(amount, percent) == expected


def test_stage_lines_in_stage_order_per_currency_weighting_the_sum() -> None:
    sums = [
        StageSum("s2", "USD", 2, 2),  # two deals of 1 cent: 25% of 2 = 0.5 → 1
        StageSum("s1", "USD", 1, 1005),
        StageSum("s1", "EUR", 3, 300),
        StageSum("gone", "USD", 1, 7),  # not a stage of this pipeline: left out
    ]
    lines = stage_lines([LEAD, DEAL, EMPTY], sums)
    assert [(x.stage.id, x.currency, x.count, x.value, x.weighted_value) for x in lines] == [
        ("s1", "EUR", 3, 300, 30),
        ("s1", "USD", 1, 1005, 101),  # 100.5 → 101
        ("s2", "USD", 2, 2, 1),
        ("s3", "", 0, 0, 0),  # once, no value
    ]


def test_stage_weighting_is_on_the_sum_not_per_deal() -> None:
    # Two sums for the same stage and currency (e.g. two SQL rows) fold first.
    lines = stage_lines([DEAL], [StageSum("s2", "USD", 1, 1), StageSum("s2", "USD", 1, 1)])
    assert lines[0].weighted_value == 1  # weighted(2, 25); per deal would give 0 + 0


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2024, 1, 15), 12, date(2025, 1, 15)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2024, 11, 30), 3, date(2025, 2, 28)),
        (date(2024, 12, 1), 1, date(2025, 1, 1)),
    ],
)
def test_add_months_clamps_to_the_month_end(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_month_key() -> None:
    assert month_key(date(2025, 3, 9)) == "2025-03"


def test_fold_months_groups_by_month_and_currency_in_order() -> None:
    sums = [
        ForecastSum(date(2025, 2, 3), "s2", 25, "USD", 1, 1000),
        ForecastSum(date(2025, 1, 31), "s1", 10, "USD", 2, 500),
        ForecastSum(date(2025, 1, 2), "s2", 25, "USD", 1, 1),
        ForecastSum(date(2025, 1, 20), "s2", 25, "USD", 1, 1),
        ForecastSum(date(2025, 1, 5), "s1", 10, "EUR", 1, 15),
    ]
    assert fold_months(sums) == [
        MonthLine("2025-01", "EUR", 1, 15, 2),  # 1.5 → 2
        # s1: 10% of 500 = 50; s2: 25% of (1 + 1) = 0.5 → 1 (the stage's month sum)
        MonthLine("2025-01", "USD", 4, 502, 51),
        MonthLine("2025-02", "USD", 1, 1000, 250),
    ]


def test_fold_months_of_nothing() -> None:
    assert fold_months([]) == []


@pytest.mark.parametrize(
    ("won", "lost", "bps"),
    [
        (0, 0, 0),
        (1, 0, 10000),
        (0, 3, 0),
        (2, 1, 6667),  # 6666.67 → 6667
        (1, 2, 3333),  # 3333.33 → 3333
        (1, 7, 1250),
        (1, 15, 625),
        (1, 31, 313),  # 312.5 → 313 (half up)
    ],
)
def test_rate_bps(won: int, lost: int, bps: int) -> None:
    assert rate_bps(won, lost) == bps


def test_win_rates_per_owner_and_total() -> None:
    sums = [
        ClosedSum("u2", "lost", "USD", 1, 500),
        ClosedSum("u1", "won", "USD", 2, 3000),
        ClosedSum("u1", "won", "EUR", 1, 100),
        ClosedSum("u1", "lost", "USD", 1, 999),
        ClosedSum("u2", "won", "USD", 1, 700),
    ]
    owners, total = win_rates(sums)
    assert [(o.owner_id, o.won, o.lost, o.win_rate_bps, o.won_value) for o in owners] == [
        ("u1", 3, 1, 7500, {"USD": 3000, "EUR": 100}),
        ("u2", 1, 1, 5000, {"USD": 700}),
    ]
    assert (total.owner_id, total.won, total.lost, total.win_rate_bps) == ("", 4, 2, 6667)
    assert total.won_value == {"USD": 3700, "EUR": 100}


def test_win_rates_of_nothing() -> None:
    owners, total = win_rates([])
    assert owners == []
    assert (total.won, total.lost, total.win_rate_bps, total.won_value) == (0, 0, 0, {})


def test_check_amount_names_fields_under_the_prefix() -> None:
    found = check_amount("usd", -1, "opportunity.amount")
    assert {v.field for v in found} == {
        "opportunity.amount.currency_code",
        "opportunity.amount.amount_minor",
    }
    assert check_amount("USD", 0, "opportunity.amount") == []
