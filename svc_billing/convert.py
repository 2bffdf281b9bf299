"""Translations between rows, domain objects and contract messages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from erp.billing.v1 import billing_pb2 as pb
from erp.common.v1 import money_pb2
from mesh.timestamps import to_timestamp
from svc_billing.domain.catalog import AddOn, PlanVersion
from svc_billing.domain.invoicing import Line, LineKind
from svc_billing.domain.periods import Interval
from svc_billing.domain.subscription import Status, Subscription
from svc_billing.store import AddOnRow, InvoiceRow, PlanVersionRow, SubscriptionRow

INTERVALS = {
    Interval.MONTHLY: pb.BILLING_INTERVAL_MONTHLY,
    Interval.YEARLY: pb.BILLING_INTERVAL_YEARLY,
}
INTERVAL_OF = {v: k for k, v in INTERVALS.items()}
STATUSES = {s: pb.SubscriptionStatus.Value(f"SUBSCRIPTION_STATUS_{s.upper()}") for s in Status}
INVOICE_STATUS = {
    name: pb.InvoiceStatus.Value(f"INVOICE_STATUS_{name.upper()}")
    for name in ("draft", "open", "paid", "void", "uncollectible")
}
INVOICE_STATUS_OF = {v: k for k, v in INVOICE_STATUS.items()}
LINE_KINDS = {k: pb.InvoiceLineKind.Value(f"INVOICE_LINE_KIND_{k.upper()}") for k in LineKind}


def money(amount: int, currency: str) -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount)


# ---- catalog ---------------------------------------------------------------------------


def plan_version(row: PlanVersionRow) -> PlanVersion:
    return PlanVersion(
        plan_id=row.plan_id,
        version=row.version,
        name=row.name,
        description=row.description,
        currency=row.currency,
        prices={Interval(k): v for k, v in row.prices.items()},
        features=frozenset(row.features),
        limits=dict(row.limits),
        trial_days=row.trial_days,
        metered=dict(row.metered),
        public=row.public,
    )


def plan_version_row(pv: PlanVersion, at: datetime) -> PlanVersionRow:
    return PlanVersionRow(
        plan_id=pv.plan_id,
        version=pv.version,
        name=pv.name,
        description=pv.description,
        currency=pv.currency,
        prices={str(k): v for k, v in pv.prices.items()},
        features=sorted(pv.features),
        limits=dict(pv.limits),
        trial_days=pv.trial_days,
        metered=dict(pv.metered),
        public=pv.public,
        created_at=at,
    )


def addon(row: AddOnRow) -> AddOn:
    return AddOn(
        addon_id=row.addon_id,
        name=row.name,
        currency=row.currency,
        prices={Interval(k): v for k, v in row.prices.items()},
        features=frozenset(row.features),
        limits=dict(row.limits),
    )


def addon_row(a: AddOn) -> AddOnRow:
    return AddOnRow(
        addon_id=a.addon_id,
        name=a.name,
        currency=a.currency,
        prices={str(k): v for k, v in a.prices.items()},
        features=sorted(a.features),
        limits=dict(a.limits),
    )


def _prices(prices: Mapping[Interval, int], currency: str) -> list[pb.Price]:
    return [
        pb.Price(interval=INTERVALS[i], amount=money(prices[i], currency))
        for i in Interval
        if i in prices
    ]


def plan_version_message(pv: PlanVersion, created: datetime | None = None) -> pb.PlanVersion:
    return pb.PlanVersion(
        plan_id=pv.plan_id,
        version=pv.version,
        name=pv.name,
        description=pv.description,
        prices=_prices(pv.prices, pv.currency),
        features=sorted(pv.features),
        limits=dict(pv.limits),
        trial_days=pv.trial_days,
        metered_prices=[
            pb.MeteredPrice(metric=m, unit_price=money(p, pv.currency))
            for m, p in sorted(pv.metered.items())
        ],
        public=pv.public,
        create_time=to_timestamp(created),
    )


def addon_message(a: AddOn) -> pb.AddOn:
    return pb.AddOn(
        addon_id=a.addon_id,
        name=a.name,
        prices=_prices(a.prices, a.currency),
        features=sorted(a.features),
        limits=dict(a.limits),
    )


def plan_version_from_message(
    plan_id: str, version: int, message: pb.PlanVersion
) -> tuple[PlanVersion, list[tuple[str, str]]]:
    """The domain version, and problems only the message shape can have (field, why)."""
    problems: list[tuple[str, str]] = []
    prices: dict[Interval, int] = {}
    currencies = set()
    for i, price in enumerate(message.prices):
        if price.interval not in INTERVAL_OF:
            problems.append((f"version.prices[{i}].interval", "monthly or yearly"))
            continue
        prices[INTERVAL_OF[price.interval]] = price.amount.amount_minor
        currencies.add(price.amount.currency_code)
    if len(currencies) > 1:
        problems.append(("version.prices", "all prices must be in one currency"))
    metered = {}
    for i, mp in enumerate(message.metered_prices):
        metered[mp.metric] = mp.unit_price.amount_minor
        if currencies and mp.unit_price.currency_code not in currencies:
            problems.append((f"version.metered_prices[{i}].unit_price", "use the plan's currency"))
    return (
        PlanVersion(
            plan_id=plan_id,
            version=version,
            name=message.name,
            description=message.description,
            currency=next(iter(currencies), ""),
            prices=prices,
            features=frozenset(message.features),
            limits=dict(message.limits),
            trial_days=message.trial_days,
            metered=metered,
            public=message.public,
        ),
        problems,
    )


# ---- subscriptions ---------------------------------------------------------------------


def subscription(row: SubscriptionRow) -> Subscription:
    return Subscription(
        subscription_id=row.id,
        tenant_id=row.tenant_id,
        plan_id=row.plan_id,
        plan_version=row.plan_version,
        interval=Interval(row.interval),
        status=Status(row.status),
        currency=row.currency,
        anchor=row.anchor,
        period_start=row.period_start,
        period_end=row.period_end,
        trial_end=row.trial_end,
        cancel_at_period_end=row.cancel_at_period_end,
        canceled_at=row.canceled_at,
        paused_at=row.paused_at,
        past_due_since=row.past_due_since,
        addons=dict(row.addons or {}),
    )


def write_subscription(row: SubscriptionRow, sub: Subscription, at: datetime) -> None:
    """Copy a domain subscription's state onto its row."""
    row.plan_id = sub.plan_id
    row.plan_version = sub.plan_version
    row.interval = str(sub.interval)
    row.status = str(sub.status)
    row.currency = sub.currency
    row.anchor = sub.anchor
    row.period_start = sub.period_start
    row.period_end = sub.period_end
    row.trial_end = sub.trial_end
    row.cancel_at_period_end = sub.cancel_at_period_end
    row.canceled_at = sub.canceled_at
    row.paused_at = sub.paused_at
    row.past_due_since = sub.past_due_since
    row.addons = dict(sub.addons)
    row.updated_at = at


def subscription_message(row: SubscriptionRow) -> pb.Subscription:
    return pb.Subscription(
        subscription_id=row.id,
        tenant_id=row.tenant_id,
        plan_id=row.plan_id,
        plan_version=row.plan_version,
        interval=INTERVALS[Interval(row.interval)],
        status=STATUSES[Status(row.status)],
        currency_code=row.currency,
        current_period_start=to_timestamp(row.period_start),
        current_period_end=to_timestamp(row.period_end),
        trial_end=to_timestamp(row.trial_end),
        cancel_at_period_end=row.cancel_at_period_end,
        cancel_time=to_timestamp(row.canceled_at),
        pause_time=to_timestamp(row.paused_at),
        past_due_time=to_timestamp(row.past_due_since),
        addons=[
            pb.SubscriptionAddOn(addon_id=k, quantity=v) for k, v in sorted(row.addons.items())
        ],
        tax_rate_bps=row.tax_rate_bps,
        payment_provider=row.provider,
        has_payment_method=bool(row.payment_method),
    )


# ---- invoices --------------------------------------------------------------------------


def line_json(line: Line) -> dict[str, Any]:
    return {
        "kind": str(line.kind),
        "description": line.description,
        "quantity": line.quantity,
        "unit_amount": line.unit_amount,
        "amount": line.amount,
        "period_start": line.period_start.isoformat(),
        "period_end": line.period_end.isoformat(),
    }


def _line_message(data: Mapping[str, Any], currency: str) -> pb.InvoiceLine:
    return pb.InvoiceLine(
        kind=LINE_KINDS[LineKind(data["kind"])],
        description=data["description"],
        quantity=data["quantity"],
        unit_amount=money(data["unit_amount"], currency),
        amount=money(data["amount"], currency),
        period_start=to_timestamp(datetime.fromisoformat(data["period_start"])),
        period_end=to_timestamp(datetime.fromisoformat(data["period_end"])),
    )


def invoice_message(row: InvoiceRow) -> pb.Invoice:
    c = row.currency
    return pb.Invoice(
        invoice_id=row.id,
        tenant_id=row.tenant_id,
        number=row.number or "",
        status=INVOICE_STATUS[row.status],
        lines=[_line_message(line, c) for line in row.lines],
        subtotal=money(row.subtotal, c),
        tax_rate_bps=row.tax_rate_bps,
        tax=money(row.tax, c),
        total=money(row.total, c),
        amount_paid=money(row.amount_paid, c),
        amount_due=money(max(row.total - row.amount_paid, 0), c)
        if row.status in ("open", "uncollectible", "draft")
        else money(0, c),
        subscription_id=row.subscription_id,
        period_start=to_timestamp(row.period_start),
        period_end=to_timestamp(row.period_end),
        issue_time=to_timestamp(row.issued_at),
        due_time=to_timestamp(row.due_at),
        paid_time=to_timestamp(row.paid_at),
        reason=row.reason,
        payment_reference=row.payment_reference,
        last_payment_error=row.last_payment_error,
    )
