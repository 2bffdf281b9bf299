"""Invoice lines, totals and the invoice life cycle.

Amounts are minor units of the subscription's currency; the invoice carries the
currency, lines do not. Tax is not a line: it is computed on the subtotal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from mesh.errors import FailedPrecondition, InvalidArgument
from svc_billing.domain.catalog import AddOn, PlanVersion
from svc_billing.domain.money import round_half_up
from svc_billing.domain.periods import Interval
from svc_billing.domain.proration import Proration


class LineKind(StrEnum):
    SUBSCRIPTION = "subscription"
    ADDON = "addon"
    OVERAGE = "overage"
    PRORATION_CREDIT = "proration_credit"
    PRORATION_CHARGE = "proration_charge"


@dataclass(frozen=True)
class Line:
    kind: LineKind
    description: str
    quantity: int
    unit_amount: int
    amount: int  # quantity * unit_amount; negative for credits
    period_start: datetime
    period_end: datetime


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


_TRANSITIONS: Mapping[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.DRAFT: frozenset({InvoiceStatus.OPEN, InvoiceStatus.VOID}),
    InvoiceStatus.OPEN: frozenset(
        {InvoiceStatus.PAID, InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE}
    ),
    # Given up on, but money that still arrives is taken.
    InvoiceStatus.UNCOLLECTIBLE: frozenset({InvoiceStatus.PAID}),
    InvoiceStatus.PAID: frozenset(),
    InvoiceStatus.VOID: frozenset(),
}


def transition(current: InvoiceStatus, target: InvoiceStatus) -> InvoiceStatus:
    if target not in _TRANSITIONS[current]:
        raise FailedPrecondition(
            f"a {current} invoice cannot become {target}",
            reason="INVOICE_TRANSITION",
            metadata={"from": str(current), "to": str(target)},
        )
    return target


@dataclass(frozen=True)
class Totals:
    subtotal: int
    tax: int
    total: int


TAX_RATE_MAX_BPS = 10000


def totals(lines: Sequence[Line], tax_rate_bps: int) -> Totals:
    """Tax on the subtotal, rounded half away from zero.

    A credit invoice (negative subtotal) gets negative tax of the same size a
    charge would get, so crediting an invoice back exactly reverses its tax.
    """
    if not 0 <= tax_rate_bps <= TAX_RATE_MAX_BPS:
        raise InvalidArgument.one("tax_rate_bps", f"between 0 and {TAX_RATE_MAX_BPS}")
    subtotal = sum(line.amount for line in lines)
    tax = round_half_up(Fraction(subtotal * tax_rate_bps, 10000))
    return Totals(subtotal, tax, subtotal + tax)


def _interval_price(prices: Mapping[Interval, int], interval: Interval, what: str) -> int:
    price = prices.get(interval)
    if price is None:
        raise FailedPrecondition(
            f"{what} has no {interval} price",
            reason="INTERVAL_NOT_OFFERED",
            metadata={"item": what, "interval": str(interval)},
        )
    return price


def renewal_lines(
    plan: PlanVersion,
    interval: Interval,
    addons: Mapping[str, tuple[AddOn, int]],
    usage_by_metric: Mapping[str, int],
    limits: Mapping[str, int],
    period_start: datetime,
    period_end: datetime,
    *,
    usage_period: tuple[datetime, datetime] | None = None,
) -> list[Line]:
    """Plan and add-ons for [period_start, period_end), then overage.

    Plan and add-ons are billed in advance for the period given; overage is
    billed in arrears, so pass the closed period's usage and that period as
    `usage_period` (it defaults to the same period). `limits` are the effective
    ones (add-ons included); a metered price of 0 yields no line.
    """
    price = _interval_price(plan.prices, interval, f"the {plan.name} plan")
    lines = [
        Line(
            LineKind.SUBSCRIPTION,
            f"{plan.name} plan ({interval})",
            1,
            price,
            price,
            period_start,
            period_end,
        )
    ]
    for addon_id in sorted(addons):
        addon, quantity = addons[addon_id]
        if quantity <= 0:
            continue
        unit = _interval_price(addon.prices, interval, f"the {addon.name} add-on")
        lines.append(
            Line(
                LineKind.ADDON,
                f"{addon.name} ({interval})",
                quantity,
                unit,
                quantity * unit,
                period_start,
                period_end,
            )
        )
    used_from, used_to = usage_period or (period_start, period_end)
    for metric in sorted(plan.metered):
        unit_price, limit = plan.metered[metric], limits.get(metric)
        if limit is None or unit_price == 0:
            continue  # unlimited, or included for free
        over = usage_by_metric.get(metric, 0) - limit
        if over > 0:
            lines.append(
                Line(
                    LineKind.OVERAGE,
                    f"{metric} above the {limit} included",
                    over,
                    unit_price,
                    over * unit_price,
                    used_from,
                    used_to,
                )
            )
    return lines


def proration_lines(
    old_plan_name: str,
    new_plan_name: str,
    proration: Proration,
    period: tuple[datetime, datetime],
) -> list[Line]:
    """A credit for the old plan's unused time and a charge for the new plan's.

    `period` is the time they cover: from the change to the period's end. A side
    that is 0 (such as leaving the Free plan) gets no line.
    """
    start, end = period
    lines = []
    if proration.credit:
        lines.append(
            Line(
                LineKind.PRORATION_CREDIT,
                f"Unused time on {old_plan_name}",
                1,
                -proration.credit,
                -proration.credit,
                start,
                end,
            )
        )
    if proration.charge:
        lines.append(
            Line(
                LineKind.PRORATION_CHARGE,
                f"Remaining time on {new_plan_name}",
                1,
                proration.charge,
                proration.charge,
                start,
                end,
            )
        )
    return lines


def format_number(issuer: str, n: int) -> str:
    """The number shown, e.g. "ERP-000042": 6 digits, more once past 999999."""
    if n < 1:
        raise ValueError("invoice numbers start at 1")
    return f"{issuer}-{n:06d}"
