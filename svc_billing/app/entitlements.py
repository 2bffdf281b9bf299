"""What a tenant may use now, computed from its subscription; and the one place
that saves a subscription change (so every change bumps the entitlements version
and publishes both events)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from erp.billing.v1 import billing_pb2 as pb
from mesh.timestamps import to_timestamp
from svc_billing import convert, events
from svc_billing.app import catalog
from svc_billing.domain.catalog import FREE_PLAN, TRIAL_PLAN, effective_entitlements
from svc_billing.domain.subscription import (
    Status,
    Subscription,
    entitlement_active,
    writes_allowed,
)
from svc_billing.store import SubscriptionRow, Subscriptions


async def limits_of(
    session: AsyncSession, sub: Subscription
) -> tuple[str, frozenset[str], dict[str, int]]:
    """(plan in effect, features, limits) of a subscription, add-ons included."""
    if not entitlement_active(sub.status):
        free = await catalog.version(session, FREE_PLAN)
        return FREE_PLAN, free.features, dict(free.limits)
    plan = await catalog.version(session, sub.plan_id, sub.plan_version)
    known = await catalog.addons(session)
    chosen = {k: (known[k], q) for k, q in sub.addons.items() if k in known}
    features, limits = effective_entitlements(plan, chosen)
    return sub.plan_id, features, limits


async def of_tenant(session: AsyncSession, tenant_id: str, now: datetime) -> pb.Entitlements:
    row = await Subscriptions(session, tenant_id).current()
    stamp = to_timestamp(now)
    if row is None:
        # Not known yet: its auth.tenant.created is on the way and will start the
        # trial, so answer with the trial plan (a signup's first calls must not be
        # refused), as version 0 so the real snapshot replaces it in every cache.
        trial = await catalog.version(session, TRIAL_PLAN)
        return pb.Entitlements(
            tenant_id=tenant_id,
            plan_id=TRIAL_PLAN,
            status=pb.SUBSCRIPTION_STATUS_TRIALING,
            features=sorted(trial.features),
            limits=dict(trial.limits),
            writes_allowed=True,
            version=0,
            compute_time=stamp,
        )
    sub = convert.subscription(row)
    plan_id, features, limits = await limits_of(session, sub)
    return pb.Entitlements(
        tenant_id=tenant_id,
        plan_id=plan_id,
        status=convert.STATUSES[sub.status],
        features=sorted(features),
        limits=limits,
        writes_allowed=writes_allowed(sub.status),
        version=row.entitlements_version,
        compute_time=stamp,
    )


async def save(
    session: AsyncSession,
    row: SubscriptionRow,
    sub: Subscription,
    change: str,
    now: datetime,
    previous_plan: str = "",
) -> None:
    """Write the subscription, then publish the change and the new entitlements."""
    convert.write_subscription(row, sub, now)
    row.entitlements_version = (row.entitlements_version or 0) + 1
    await session.flush()
    await events.subscription_changed(
        session, convert.subscription_message(row), change, previous_plan
    )
    await events.entitlements_changed(session, await of_tenant(session, row.tenant_id, now))


def is_paying(sub: Subscription) -> bool:
    return sub.status in (Status.ACTIVE, Status.PAST_DUE)
