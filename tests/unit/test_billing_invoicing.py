"""Invoice lines, totals with tax, numbering and the invoice life cycle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mesh.errors import FailedPrecondition, InvalidArgument
from svc_billing.domain.catalog import DEFAULT_ADDONS, DEFAULT_PLANS, AddOn
from svc_billing.domain.invoicing import (
    InvoiceStatus,
    Line,
    LineKind,
    Totals,
    format_number,
    proration_lines,
    renewal_lines,
    totals,
    transition,
)
from svc_billing.domain.periods import Interval
from svc_billing.domain.proration import Proration

M, Y = Interval.MONTHLY, Interval.YEARLY
S = InvoiceStatus
START, END = datetime(2027, 5, 1, tzinfo=UTC), datetime(2027, 6, 1, tzinfo=UTC)
PREV = (datetime(2027, 4, 1, tzinfo=UTC), START)
SEATS, STORAGE = DEFAULT_ADDONS["extra_seats"], DEFAULT_ADDONS["extra_storage"]
BUSINESS = DEFAULT_PLANS["business"]


def line(amount: int) -> Line:
    return Line(LineKind.SUBSCRIPTION, "x", 1, amount, amount, START, END)


@pytest.mark.parametrize(
    ("amounts", "bps", "expected"),
    [
        ([9900], 0, Totals(9900, 0, 9900)),
        ([9900], 1900, Totals(9900, 1881, 11781)),  # 9900 * 19% = 1881
        ([9900, 3800], 2000, Totals(13700, 2740, 16440)),  # 13700 * 20% = 2740
        ([2900], 1950, Totals(2900, 566, 3466)),  # 2900 * 19.5% = 565.5 -> 566
        ([1234], 700, Totals(1234, 86, 1320)),  # 1234 * 7% = 86.38 -> 86
        ([-2900], 1950, Totals(-2900, -566, -3466)),  # a credit mirrors the charge
        ([4950, -1450], 1900, Totals(3500, 665, 4165)),  # 3500 * 19% = 665
        ([], 1900, Totals(0, 0, 0)),
        ([100], 10000, Totals(100, 100, 200)),
    ],
)
def test_totals(amounts: list[int], bps: int, expected: Totals) -> None:
    assert totals([line(a) for a in amounts], bps) == expected


@pytest.mark.parametrize("bps", [-1, 10001])
def test_tax_rate_bounds(bps: int) -> None:
    with pytest.raises(InvalidArgument):
        totals([line(100)], bps)


ALLOWED = {
    (S.DRAFT, S.OPEN),
    (S.DRAFT, S.VOID),
    (S.OPEN, S.PAID),
    (S.OPEN, S.VOID),
    (S.OPEN, S.UNCOLLECTIBLE),
    (S.UNCOLLECTIBLE, S.PAID),
}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transition(current: InvoiceStatus, target: InvoiceStatus) -> None:
    if (current, target) in ALLOWED:
        assert transition(current, target) is target
        return
    with pytest.raises(FailedPrecondition) as caught:
        transition(current, target)
    assert caught.value.reason == "INVOICE_TRANSITION"
    assert caught.value.metadata == {"from": str(current), "to": str(target)}


def test_renewal_plan_only() -> None:
    assert renewal_lines(DEFAULT_PLANS["starter"], Y, {}, {}, {}, START, END) == [
        Line(LineKind.SUBSCRIPTION, "Starter plan (yearly)", 1, 29000, 29000, START, END)
    ]


def test_renewal_with_addons_and_overage() -> None:
    addons = {"extra_storage": (STORAGE, 1), "extra_seats": (SEATS, 3)}
    # storage limit with the add-on: 100 + 100 = 200; 230 GB used -> 30 over at 50 each
    limits = {"users": 80, "storage_gb": 200}
    lines = renewal_lines(
        BUSINESS, M, addons, {"storage_gb": 230, "users": 95}, limits, START, END, usage_period=PREV
    )
    assert lines == [
        Line(LineKind.SUBSCRIPTION, "Business plan (monthly)", 1, 9900, 9900, START, END),
        # add-ons in addon_id order: 3 * 1900 = 5700, 1 * 900 = 900
        Line(LineKind.ADDON, "10 extra seats (monthly)", 3, 1900, 5700, START, END),
        Line(LineKind.ADDON, "100 GB extra storage (monthly)", 1, 900, 900, START, END),
        # 30 * 50 = 1500, over the closed period; users are not metered on Business
        Line(LineKind.OVERAGE, "storage_gb above the 200 included", 30, 50, 1500, *PREV),
    ]
    assert totals(lines, 0).subtotal == 9900 + 5700 + 900 + 1500


@pytest.mark.parametrize(
    ("used", "limits", "overage"),
    [
        (100, {"storage_gb": 100}, None),  # exactly at the limit: nothing over
        (101, {"storage_gb": 100}, (1, 50)),
        (5000, {}, None),  # unlimited
        (0, {"storage_gb": 100}, None),
    ],
)
def test_overage_boundary(
    used: int, limits: dict[str, int], overage: tuple[int, int] | None
) -> None:
    lines = renewal_lines(BUSINESS, M, {}, {"storage_gb": used}, limits, START, END)
    found = [(x.quantity, x.amount) for x in lines if x.kind is LineKind.OVERAGE]
    assert found == ([overage] if overage else [])
    assert all(x.period_start == START for x in lines)  # usage_period defaults to the period


def test_free_overage_gives_no_line() -> None:
    starter = DEFAULT_PLANS["starter"]
    lines = renewal_lines(starter, M, {}, {"ai_tokens": 999999}, dict(starter.limits), START, END)
    assert [x.kind for x in lines] == [LineKind.SUBSCRIPTION]


def test_zero_quantity_addon_gives_no_line() -> None:
    lines = renewal_lines(BUSINESS, M, {"extra_seats": (SEATS, 0)}, {}, {}, START, END)
    assert [x.kind for x in lines] == [LineKind.SUBSCRIPTION]


def test_addon_without_the_interval_is_refused() -> None:
    monthly_only = AddOn("x", "Monthly thing", "USD", {M: 100}, frozenset(), {})
    with pytest.raises(FailedPrecondition) as caught:
        renewal_lines(BUSINESS, Y, {"x": (monthly_only, 1)}, {}, {}, START, END)
    assert caught.value.reason == "INTERVAL_NOT_OFFERED"


CHANGE = (datetime(2027, 4, 16, tzinfo=UTC), datetime(2027, 5, 1, tzinfo=UTC))


def test_proration_lines_upgrade() -> None:
    lines = proration_lines("Starter", "Business", Proration(1450, 4950, 3500, 1, 2), CHANGE)
    assert lines == [
        Line(LineKind.PRORATION_CREDIT, "Unused time on Starter", 1, -1450, -1450, *CHANGE),
        Line(LineKind.PRORATION_CHARGE, "Remaining time on Business", 1, 4950, 4950, *CHANGE),
    ]
    assert totals(lines, 0).subtotal == 3500  # the proration's net


def test_proration_lines_leave_out_zero_sides() -> None:
    lines = proration_lines("Free", "Business", Proration(0, 4950, 4950, 1, 2), CHANGE)
    assert [(x.kind, x.amount) for x in lines] == [(LineKind.PRORATION_CHARGE, 4950)]
    assert proration_lines("A", "B", Proration(0, 0, 0, 1, 2), CHANGE) == []


@pytest.mark.parametrize(
    ("issuer", "n", "number"),
    [("ERP", 1, "ERP-000001"), ("ERP", 42, "ERP-000042"), ("ACME", 1234567, "ACME-1234567")],
)
def test_format_number(issuer: str, n: int, number: str) -> None:
    assert format_number(issuer, n) == number


def test_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        format_number("ERP", 0)
