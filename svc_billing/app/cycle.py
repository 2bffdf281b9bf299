"""The billing clock: renewals (and trial ends) with their invoices, overdue
invoices making a subscription past due, and suspension after the grace period.

`run(deps)` is idempotent and safe on several replicas: each tenant is handled in
its own transaction with its subscription row locked.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import acting_for_tenant
from mesh.errors import DomainError
from svc_billing import convert
from svc_billing.app import invoices
from svc_billing.app.common import Deps
from svc_billing.app.entitlements import save
from svc_billing.domain import subscription as rules
from svc_billing.store import Invoices, SubscriptionRow, Subscriptions, due_tenants

log = logging.getLogger("svc_billing.cycle")
MAX_PERIODS_PER_RUN = 24  # catching up after a long outage happens over several runs


async def run(deps: Deps, only: Collection[str] | None = None) -> int:
    """Bring every due tenant (or only those named) up to date; returns how many."""
    now = deps.now()
    async with deps.db.sessions() as session:
        tenants = await due_tenants(session, now, now - deps.config.dunning_grace)
    if only is not None:
        tenants = [t for t in tenants if t in only]
    for tenant_id in tenants:
        try:
            with acting_for_tenant(tenant_id):
                async with deps.db.transaction() as session:
                    row = await Subscriptions(session).get_current(lock=True)
                    await _advance(session, deps, row)
                    by_card = row.provider == "stripe" and bool(row.payment_method)
                    to_charge = [i.id for i in await Invoices(session).uncharged()]
                if by_card:
                    await _charge(deps, to_charge)
        except Exception:
            log.exception("billing cycle failed for a tenant; next run retries")
    return len(tenants)


async def _charge(deps: Deps, invoice_ids: list[str]) -> None:
    """The card on file pays new invoices (renewals, prorations) without being asked.

    Outside the cycle's transaction: it is a call to the provider. A decline makes the
    subscription past due (invoices.pay); an unreachable provider is tried next run.
    """
    for invoice_id in invoice_ids:
        try:
            await invoices.pay(deps, invoice_id, idempotency_key=f"{invoice_id}-auto")
        except DomainError as error:
            log.warning(
                "automatic charge not made", extra={"invoice_id": invoice_id, "error": str(error)}
            )


async def _advance(session: AsyncSession, deps: Deps, row: SubscriptionRow) -> None:
    now = deps.now()
    for _ in range(MAX_PERIODS_PER_RUN):
        sub = convert.subscription(row)
        if sub.status not in (rules.Status.TRIALING, rules.Status.ACTIVE, rules.Status.PAST_DUE):
            break
        if sub.period_end > now:
            break
        await _renew(session, deps, row, sub)
    sub = convert.subscription(row)
    if sub.status is rules.Status.ACTIVE and await Invoices(session).overdue(now):
        await save(session, row, rules.payment_failed(sub, now), "past_due", now)
        sub = convert.subscription(row)
    if rules.dunning_due(sub, now, deps.config.dunning_grace):
        await save(session, row, rules.suspend(sub, now), "suspended", now)


async def _renew(
    session: AsyncSession, deps: Deps, row: SubscriptionRow, sub: rules.Subscription
) -> None:
    now = deps.now()
    renewed = rules.renew(sub, now)
    was_trial = sub.status is rules.Status.TRIALING
    ended = renewed.status is rules.Status.CANCELED
    await save(session, row, renewed, "canceled" if ended else "renewed", now)
    if ended:
        return
    reason = "trial_end" if was_trial else "renewal"
    closed = (sub.period_start, sub.period_end)
    await invoices.issue_for_period(
        session, deps, row, renewed, reason, None if was_trial else closed
    )
