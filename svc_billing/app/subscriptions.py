"""A tenant's subscription: the trial at signup, plan changes with proration,
cancel, pause and resume, add-ons, payment method and tax rate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth.v1 import auth_pb2
from erp.common.v1 import event_pb2
from mesh.context import acting_for_tenant
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound
from mesh.ids import new_id
from svc_billing import convert
from svc_billing.app import catalog, invoices, usage
from svc_billing.app.common import Deps, require_platform_operator
from svc_billing.app.entitlements import limits_of, save
from svc_billing.domain import subscription as rules
from svc_billing.domain.catalog import TRIAL_PLAN
from svc_billing.domain.invoicing import TAX_RATE_MAX_BPS, Line, proration_lines
from svc_billing.domain.periods import Interval
from svc_billing.domain.proration import prorate, switch_interval
from svc_billing.store import InvoiceRow, SubscriptionRow, Subscriptions

PROVIDERS = ("manual", "stripe")
Transition = Callable[[rules.Subscription, datetime], rules.Subscription]


async def on_tenant_created(
    session: AsyncSession, envelope: event_pb2.EventEnvelope, payload: auth_pb2.TenantCreated
) -> None:
    """Every new tenant tries the Business plan for its trial length (14 days)."""
    subs = Subscriptions(session)
    if await subs.current() is not None:
        return
    plan = await catalog.version(session, TRIAL_PLAN)
    now = envelope.occurred_at.ToDatetime(tzinfo=UTC)
    sub = rules.start_trial(new_id(), subs.tenant_id, plan, Interval.MONTHLY, now)
    row = subs.add(
        SubscriptionRow(
            id=sub.subscription_id,
            addons={},
            tax_rate_bps=0,
            provider="manual",
            payment_method="",
            customer_ref="",
            credit_balance=0,
            entitlements_version=0,
            created_at=now,
        )
    )
    await save(session, row, sub, "created", now)


async def current(deps: Deps) -> SubscriptionRow:
    async with deps.db.sessions() as session:
        return await Subscriptions(session).get_current()


@dataclass(frozen=True)
class Changed:
    subscription: SubscriptionRow
    invoice: InvoiceRow | None


async def _plan_change_lines(
    session: AsyncSession, deps: Deps, row: SubscriptionRow, plan_id: str, interval: Interval | None
) -> tuple[rules.Subscription, rules.Subscription, list[Line]]:
    """(before, after, proration lines) of a plan change; checks limits against usage."""
    now = deps.now()
    before = convert.subscription(row)
    old_plan = await catalog.version(session, before.plan_id, before.plan_version)
    new_plan = await catalog.version(session, plan_id)
    if not new_plan.public and new_plan.plan_id != before.plan_id:
        # Private plans (Enterprise) are assigned by the operator, not picked.
        raise NotFound(f"no plan {plan_id!r}", reason="PLAN_NOT_FOUND")
    after = rules.change_plan(before, new_plan, interval or before.interval, now)
    _, _, new_limits = await limits_of(session, after)
    rules.check_downgrade(await usage.in_use(session, before), new_limits)
    if before.status is rules.Status.TRIALING:
        return before, after, []  # nothing was paid, so nothing to prorate
    old_price = old_plan.prices[before.interval]
    new_price = new_plan.prices[after.interval]
    if after.interval == before.interval:
        split = prorate(old_price, new_price, before.period_start, before.period_end, now)
    else:  # a new period starts now
        split = switch_interval(old_price, new_price, before.period_start, before.period_end, now)
    period = (now, after.period_end)
    return before, after, proration_lines(old_plan.name, new_plan.name, split, period)


async def preview_change(deps: Deps, plan_id: str, interval: Interval | None) -> InvoiceRow:
    """The invoice a change would raise, rolled back (no number is used up)."""
    async with deps.db.sessions() as session:  # read only: closing rolls back
        row = await Subscriptions(session).get_current()
        _, after, lines = await _plan_change_lines(session, deps, row, plan_id, interval)
        return invoices.draft(deps, row, lines, "proration", (deps.now(), after.period_end))


async def change_plan_in(
    session: AsyncSession, deps: Deps, plan_id: str, interval: Interval | None
) -> Changed:
    """Change the plan in the caller's transaction (so an idempotent replay covers it)."""
    now = deps.now()
    row = await Subscriptions(session).get_current(lock=True)
    before, after, lines = await _plan_change_lines(session, deps, row, plan_id, interval)
    await save(session, row, after, "plan_changed", now, previous_plan=before.plan_id)
    invoice = await invoices.issue(session, deps, row, lines, "proration", (now, after.period_end))
    return Changed(row, invoice)


async def _transition(deps: Deps, change: str, apply: Transition) -> SubscriptionRow:
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Subscriptions(session).get_current(lock=True)
        await save(session, row, apply(convert.subscription(row), now), change, now)
    return row


async def cancel(deps: Deps, at_period_end: bool) -> SubscriptionRow:
    return await _transition(
        deps, "canceled", lambda sub, now: rules.cancel(sub, now, at_period_end)
    )


async def pause(deps: Deps) -> SubscriptionRow:
    return await _transition(deps, "paused", rules.pause)


async def resume(deps: Deps) -> SubscriptionRow:
    """Resume a pause, or keep a subscription that was set to cancel at period end."""
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Subscriptions(session).get_current(lock=True)
        sub = convert.subscription(row)
        if sub.status is rules.Status.PAUSED:
            await save(session, row, rules.resume(sub, now), "resumed", now)
        else:
            await save(session, row, rules.undo_cancel(sub, now), "cancel_undone", now)
    return row


async def set_addon(deps: Deps, addon_id: str, quantity: int) -> SubscriptionRow:
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Subscriptions(session).get_current(lock=True)
        known = await catalog.addons(session)
        if addon_id not in known:
            raise NotFound(f"no add-on {addon_id!r}", reason="ADDON_NOT_FOUND")
        before = convert.subscription(row)
        after = rules.set_addon(before, known[addon_id], quantity)
        _, _, limits = await limits_of(session, after)
        rules.check_downgrade(await usage.in_use(session, before), limits)
        await save(session, row, after, "addons_changed", now)
    return row


async def set_payment_method(deps: Deps, provider: str, payment_method: str) -> SubscriptionRow:
    if provider not in PROVIDERS:
        raise InvalidArgument.one("provider", f"one of {', '.join(PROVIDERS)}")
    if provider == "stripe":
        if "stripe" not in deps.providers:
            raise FailedPrecondition(
                "card payments are not set up on this platform; pay by bank transfer",
                reason="PROVIDER_NOT_CONFIGURED",
                metadata={"provider": provider},
            )
        if not payment_method.startswith("pm_") or len(payment_method) > 200:
            raise InvalidArgument.one("payment_method", "a Stripe payment method id, pm_...")
    elif payment_method:
        raise InvalidArgument.one("payment_method", "leave empty for bank transfer")
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Subscriptions(session).get_current(lock=True)
        row.provider = provider
        row.payment_method = payment_method
        await save(session, row, convert.subscription(row), "payment_method_changed", now)
    return row


async def set_tax_rate(deps: Deps, tenant_id: str, rate_bps: int) -> SubscriptionRow:
    require_platform_operator(deps)
    if not 0 <= rate_bps <= TAX_RATE_MAX_BPS:
        raise InvalidArgument.one("tax_rate_bps", f"between 0 and {TAX_RATE_MAX_BPS}")
    now = deps.now()
    with acting_for_tenant(tenant_id):
        async with deps.db.transaction() as session:
            row = await Subscriptions(session).get_current(lock=True)
            row.tax_rate_bps = rate_bps
            await save(session, row, convert.subscription(row), "tax_rate_changed", now)
    return row
