"""A tenant's subscription and its life cycle, as pure transitions.

Each transition returns a new Subscription or raises FailedPrecondition with a
reason a client can switch on. Nothing here charges money: the caller prices a
change with `prorate()` and the invoicing rules, and decides when to call
`renew`, `payment_failed` and `suspend`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from mesh.errors import FailedPrecondition, InvalidArgument
from svc_billing.domain.catalog import FREE_PLAN, LIMITS, AddOn, PlanVersion
from svc_billing.domain.periods import Interval, add_interval, require_utc


class Status(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    SUSPENDED = "suspended"
    PAUSED = "paused"
    CANCELED = "canceled"


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    tenant_id: str
    plan_id: str
    plan_version: int
    interval: Interval
    status: Status
    currency: str
    anchor: datetime  # periods end on its day of month and time of day
    period_start: datetime
    period_end: datetime
    trial_end: datetime | None = None  # kept after the trial, as history
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    paused_at: datetime | None = None
    past_due_since: datetime | None = None
    addons: Mapping[str, int] = field(default_factory=dict)  # addon_id -> quantity


_CHANGEABLE = frozenset({Status.TRIALING, Status.ACTIVE, Status.PAST_DUE})
_RENEWABLE = _CHANGEABLE


def _require(sub: Subscription, allowed: Collection[Status], action: str) -> None:
    if sub.status not in allowed:
        raise FailedPrecondition(
            f"cannot {action} a {sub.status} subscription",
            reason=f"SUBSCRIPTION_{sub.status.upper()}",
            metadata={"subscription_id": sub.subscription_id, "status": str(sub.status)},
        )


def _require_price(plan: PlanVersion, interval: Interval) -> int:
    price = plan.prices.get(interval)
    if price is None:
        raise InvalidArgument.one("interval", f"the {plan.name} plan has no {interval} price")
    return price


def _require_currency(sub: Subscription, currency: str, what: str) -> None:
    # Amounts in two currencies cannot be prorated or summed on one invoice.
    if currency != sub.currency:
        raise FailedPrecondition(
            f"{what} is priced in {currency} but the subscription pays in {sub.currency}",
            reason="CURRENCY_MISMATCH",
            metadata={"currency": currency, "subscription_currency": sub.currency},
        )


def start(
    subscription_id: str, tenant_id: str, plan: PlanVersion, interval: Interval, now: datetime
) -> Subscription:
    """A paid (or free) subscription running from now, without a trial."""
    _require_price(plan, interval)
    now = require_utc(now, "now")
    return Subscription(
        subscription_id=subscription_id,
        tenant_id=tenant_id,
        plan_id=plan.plan_id,
        plan_version=plan.version,
        interval=interval,
        status=Status.ACTIVE,
        currency=plan.currency,
        anchor=now,
        period_start=now,
        period_end=add_interval(now, now, interval),
    )


def start_trial(
    subscription_id: str, tenant_id: str, plan: PlanVersion, interval: Interval, now: datetime
) -> Subscription:
    """A trial whose only period is the trial; `interval` is what it converts to."""
    _require_price(plan, interval)
    if plan.trial_days <= 0:
        raise FailedPrecondition(
            f"the {plan.name} plan has no trial",
            reason="NO_TRIAL",
            metadata={"plan_id": plan.plan_id},
        )
    now = require_utc(now, "now")
    trial_end = now + timedelta(days=plan.trial_days)
    return Subscription(
        subscription_id=subscription_id,
        tenant_id=tenant_id,
        plan_id=plan.plan_id,
        plan_version=plan.version,
        interval=interval,
        status=Status.TRIALING,
        currency=plan.currency,
        anchor=now,
        period_start=now,
        period_end=trial_end,
        trial_end=trial_end,
    )


def is_upgrade(old_price: int, new_price: int) -> bool:
    """Prices for the same length of time; equal prices are a sideways move."""
    return new_price > old_price


def change_plan(
    sub: Subscription, new_plan: PlanVersion, interval: Interval, now: datetime
) -> Subscription:
    """Switch plan (and maybe interval) now; check_downgrade first when limits shrink.

    Same interval: the period is kept and the caller prorates over it. A new
    interval on a paid subscription starts a fresh period now (anchor = now): the
    caller credits the old plan's unused time and charges the new price in full.
    During a trial the trial period is kept either way: nothing has been paid.
    """
    _require(sub, _CHANGEABLE, "change the plan of")
    _require_price(new_plan, interval)
    _require_currency(sub, new_plan.currency, f"the {new_plan.name} plan")
    if (new_plan.plan_id, new_plan.version, interval) == (
        sub.plan_id,
        sub.plan_version,
        sub.interval,
    ):
        raise FailedPrecondition(
            f"the subscription is already on the {new_plan.name} plan, {interval}",
            reason="PLAN_UNCHANGED",
            metadata={"plan_id": new_plan.plan_id, "interval": str(interval)},
        )
    changed = replace(sub, plan_id=new_plan.plan_id, plan_version=new_plan.version)
    if interval == sub.interval or sub.status is Status.TRIALING:
        return replace(changed, interval=interval)
    now = require_utc(now, "now")
    return replace(
        changed,
        interval=interval,
        anchor=now,
        period_start=now,
        period_end=add_interval(now, now, interval),
    )


def set_addon(sub: Subscription, addon: AddOn, quantity: int) -> Subscription:
    """Set an add-on's quantity (0 removes it); check_downgrade first when lowering."""
    _require(sub, _CHANGEABLE, "change the add-ons of")
    if quantity < 0:
        raise InvalidArgument.one("quantity", "must not be negative")
    _require_currency(sub, addon.currency, f"the {addon.name} add-on")
    addons = {k: v for k, v in sub.addons.items() if k != addon.addon_id}
    if quantity:
        addons[addon.addon_id] = quantity
    return replace(sub, addons=addons)


def cancel(sub: Subscription, now: datetime, at_period_end: bool) -> Subscription:
    """End now, or flag it to end when the current period does (renew applies it)."""
    if at_period_end:
        # Paused and suspended subscriptions have no period running towards an end.
        _require(sub, _CHANGEABLE, "cancel at period end")
        return replace(sub, cancel_at_period_end=True)
    _require(sub, set(Status) - {Status.CANCELED}, "cancel")
    return replace(
        sub,
        status=Status.CANCELED,
        canceled_at=require_utc(now, "now"),
        cancel_at_period_end=False,
    )


def undo_cancel(sub: Subscription, now: datetime) -> Subscription:
    """Keep a subscription that was set to cancel at period end."""
    _require(sub, set(Status) - {Status.CANCELED}, "undo the cancellation of")
    if not sub.cancel_at_period_end:
        raise FailedPrecondition(
            "the subscription is not set to cancel",
            reason="NO_PENDING_CANCEL",
            metadata={"subscription_id": sub.subscription_id},
        )
    return replace(sub, cancel_at_period_end=False)


def pause(sub: Subscription, now: datetime) -> Subscription:
    _require(sub, {Status.ACTIVE, Status.TRIALING}, "pause")
    return replace(sub, status=Status.PAUSED, paused_at=require_utc(now, "now"))


def resume(sub: Subscription, now: datetime) -> Subscription:
    """Continue where the pause left off: the unused rest of the period is kept.

    The period moves forward by the length of the pause, and the anchor moves to
    its new end so the following periods are whole again.
    """
    _require(sub, {Status.PAUSED}, "resume")
    assert sub.paused_at is not None, "a paused subscription records when"
    now = require_utc(now, "now")
    gap = max(now - sub.paused_at, timedelta(0))  # a clock step back pauses for 0
    was_trial = sub.trial_end is not None and sub.trial_end == sub.period_end
    period_end = sub.period_end + gap
    return replace(
        sub,
        status=Status.TRIALING if was_trial else Status.ACTIVE,
        paused_at=None,
        anchor=period_end,
        period_start=sub.period_start + gap,
        period_end=period_end,
        trial_end=period_end if was_trial else sub.trial_end,
    )


def renew(sub: Subscription, now: datetime) -> Subscription:
    """Close the period that has ended and open the next one (one period per call).

    Call it again while `period_end <= now` to catch up; each period is its own
    invoice. A pending cancel ends the subscription instead; a trial converts to
    a paid period anchored on the trial's end.
    """
    _require(sub, _RENEWABLE, "renew")
    now = require_utc(now, "now")
    if now < sub.period_end:
        raise FailedPrecondition(
            "the current period has not ended yet",
            reason="PERIOD_NOT_ENDED",
            metadata={"period_end": sub.period_end.isoformat()},
        )
    if sub.cancel_at_period_end:
        return replace(sub, status=Status.CANCELED, canceled_at=sub.period_end)
    anchor = sub.period_end if sub.status is Status.TRIALING else sub.anchor
    status = Status.ACTIVE if sub.status is Status.TRIALING else sub.status
    return replace(
        sub,
        status=status,
        anchor=anchor,
        period_start=sub.period_end,
        period_end=add_interval(anchor, sub.period_end, sub.interval),
    )


def payment_failed(sub: Subscription, now: datetime) -> Subscription:
    """Past due from the first failure on; later failures keep the first date.

    Failures for a subscription that no longer collects (trialing, paused,
    canceled) change nothing: payment events arrive late and must not fail.
    """
    if sub.status is Status.ACTIVE:
        return replace(sub, status=Status.PAST_DUE, past_due_since=require_utc(now, "now"))
    return sub


def dunning_due(sub: Subscription, now: datetime, grace: timedelta) -> bool:
    """True once a past-due subscription has been unpaid for the whole grace period."""
    return (
        sub.status is Status.PAST_DUE
        and sub.past_due_since is not None
        and require_utc(now, "now") - sub.past_due_since >= grace
    )


def suspend(sub: Subscription, now: datetime) -> Subscription:
    _require(sub, {Status.PAST_DUE}, "suspend")
    return replace(sub, status=Status.SUSPENDED)


def payment_succeeded(sub: Subscription, now: datetime) -> Subscription:
    """Back to active from past due or suspended; anything else is unchanged.

    A suspended subscription whose period ran out meanwhile starts a fresh period
    now (anchor = now): suspended time is not billed, and the caller invoices the
    new period as a renewal (it sees `period_start` change).
    """
    if sub.status is Status.PAST_DUE:
        return replace(sub, status=Status.ACTIVE, past_due_since=None)
    if sub.status is not Status.SUSPENDED:
        return sub
    now = require_utc(now, "now")
    restored = replace(sub, status=Status.ACTIVE, past_due_since=None)
    if now < sub.period_end:
        return restored
    return replace(
        restored,
        anchor=now,
        period_start=now,
        period_end=add_interval(now, now, sub.interval),
    )


def writes_allowed(status: Status) -> bool:
    """Suspended tenants may read (and pay); every other status may write."""
    return status is not Status.SUSPENDED


def entitlement_active(status: Status) -> bool:
    """Whether the subscribed plan's features and limits apply.

    True for trialing, active, past_due (grace period) and suspended (with
    writes_allowed False: reads only). False for paused and canceled: the caller
    applies the Free plan's entitlements instead.
    """
    return status in {Status.TRIALING, Status.ACTIVE, Status.PAST_DUE, Status.SUSPENDED}


def plan_in_effect(sub: Subscription) -> str:
    """The plan whose entitlements apply now."""
    return sub.plan_id if entitlement_active(sub.status) else FREE_PLAN


def check_downgrade(usage: Mapping[str, int], limits: Mapping[str, int]) -> None:
    """Refuse limits below what is in use (absent limit = unlimited, never exceeded).

    The errors module carries one ErrorInfo, so the first exceeded limit is named
    in `limit`/`allowed`/`in_use` and all of them in `exceeded` (comma-separated).
    """
    order = [n for n in LIMITS if n in limits] + sorted(set(limits) - set(LIMITS))
    over = [(n, limits[n], usage.get(n, 0)) for n in order if usage.get(n, 0) > limits[n]]
    if not over:
        return
    name, allowed, in_use = over[0]
    raise FailedPrecondition(
        "; ".join(
            f"the plan allows {a} {n} but {u} {'is' if u == 1 else 'are'} in use"
            for n, a, u in over
        ),
        reason="DOWNGRADE_BELOW_USAGE",
        metadata={
            "limit": name,
            "allowed": str(allowed),
            "in_use": str(in_use),
            "exceeded": ",".join(n for n, _, _ in over),
        },
    )
