"""Cancel, undo, pause and resume: the Free plan applies while paused or canceled."""

from __future__ import annotations

from datetime import timedelta

import grpc
from auth_client import fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import (  # type: ignore[import-not-found]
    Tenant,
    clock_kept,
    entitlements,
    error_info,
    invoices_of,
    move_clock_to,
    new_tenant,
    subscription,
    when,
)
from billing_harness import Billing  # type: ignore[import-not-found]

from erp.billing.v1 import billing_pb2
from erp.billing.v1 import billing_service_pb2 as bpb
from svc_billing.domain.catalog import DEFAULT_PLANS, FEATURES

FREE_FEATURES = sorted(DEFAULT_PLANS["free"].features)
S = billing_pb2


async def cancel(billing: Billing, tenant: Tenant, at_period_end: bool) -> S.Subscription:
    answer = await billing.stub.CancelSubscription(
        bpb.CancelSubscriptionRequest(at_period_end=at_period_end, reason="testing"),
        metadata=tenant.token,
    )
    found: S.Subscription = answer.subscription
    return found


async def resume(billing: Billing, tenant: Tenant) -> S.Subscription:
    answer = await billing.stub.ResumeSubscription(
        bpb.ResumeSubscriptionRequest(), metadata=tenant.token
    )
    found: S.Subscription = answer.subscription
    return found


async def test_cancel_at_period_end_can_be_undone(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    before = await subscription(billing, tenant)

    pending = await cancel(billing, tenant, at_period_end=True)
    assert pending.cancel_at_period_end and pending.status == S.SUBSCRIPTION_STATUS_TRIALING
    assert not pending.HasField("cancel_time")
    assert (await entitlements(billing, tenant)).plan_id == "business"  # until the end

    kept = await resume(billing, tenant)
    assert not kept.cancel_at_period_end
    assert kept.status == S.SUBSCRIPTION_STATUS_TRIALING
    assert kept.current_period_end == before.current_period_end

    error = await fails(resume(billing, tenant), grpc.StatusCode.FAILED_PRECONDITION)
    assert error_info(error).reason == "NO_PENDING_CANCEL"


async def test_pause_falls_back_to_free_and_resume_keeps_the_rest(
    auth: Auth, billing: Billing
) -> None:
    tenant = await new_tenant(auth, billing)
    before = await subscription(billing, tenant)
    with clock_kept(billing):
        paused_at = billing.clock.now
        answer = await billing.stub.PauseSubscription(
            bpb.PauseSubscriptionRequest(), metadata=tenant.token
        )
        paused = answer.subscription
        assert paused.status == S.SUBSCRIPTION_STATUS_PAUSED
        assert when(paused.pause_time) == paused_at
        found = await entitlements(billing, tenant)
        assert (found.plan_id, found.status) == ("free", S.SUBSCRIPTION_STATUS_PAUSED)
        assert list(found.features) == FREE_FEATURES
        assert dict(found.limits) == dict(DEFAULT_PLANS["free"].limits)
        assert found.writes_allowed
        error = await fails(
            billing.stub.PauseSubscription(bpb.PauseSubscriptionRequest(), metadata=tenant.token),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        assert error_info(error).reason == "SUBSCRIPTION_PAUSED"

        move_clock_to(billing, paused_at + timedelta(days=2))
        resumed = await resume(billing, tenant)
    assert resumed.status == S.SUBSCRIPTION_STATUS_TRIALING
    assert not resumed.HasField("pause_time")
    shift = timedelta(days=2)  # the paused days are added to the period
    assert when(resumed.current_period_start) == when(before.current_period_start) + shift
    assert when(resumed.current_period_end) == when(before.current_period_end) + shift
    assert when(resumed.trial_end) == when(before.trial_end) + shift
    found = await entitlements(billing, tenant)
    assert (found.plan_id, found.status) == ("business", S.SUBSCRIPTION_STATUS_TRIALING)
    assert list(found.features) == sorted(FEATURES)


async def test_cancel_now_falls_back_to_free(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    ended = await cancel(billing, tenant, at_period_end=False)
    assert ended.status == S.SUBSCRIPTION_STATUS_CANCELED
    assert when(ended.cancel_time) == billing.clock.now
    assert not ended.cancel_at_period_end
    found = await entitlements(billing, tenant)
    assert (found.plan_id, found.status) == ("free", S.SUBSCRIPTION_STATUS_CANCELED)
    assert list(found.features) == FREE_FEATURES

    for call in (
        cancel(billing, tenant, at_period_end=False),
        resume(billing, tenant),
        billing.stub.ChangePlan(bpb.ChangePlanRequest(plan_id="starter"), metadata=tenant.token),
    ):
        error = await fails(call, grpc.StatusCode.FAILED_PRECONDITION)
        assert error_info(error).reason == "SUBSCRIPTION_CANCELED"


async def test_renewal_ends_a_subscription_set_to_cancel(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    await cancel(billing, tenant, at_period_end=True)
    period_end = when((await subscription(billing, tenant)).current_period_end)
    with clock_kept(billing):
        move_clock_to(billing, period_end + timedelta(minutes=5))
        assert await billing.run_cycle(tenant.tenant_id) == 1
        assert await billing.run_cycle(tenant.tenant_id) == 0  # done; nothing left due
    ended = await subscription(billing, tenant)
    assert ended.status == S.SUBSCRIPTION_STATUS_CANCELED
    assert when(ended.cancel_time) == period_end
    assert when(ended.current_period_end) == period_end  # no new period began
    assert await invoices_of(billing, tenant) == []  # nothing invoiced for after the end
    assert (await entitlements(billing, tenant)).plan_id == "free"
