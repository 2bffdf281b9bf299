"""A signup starts a Business trial in billing from auth's events alone; seats follow
auth's user events."""

from __future__ import annotations

from datetime import timedelta

from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import (  # type: ignore[import-not-found]
    entitlements,
    invite,
    invoices_of,
    new_tenant,
    subscription,
    usage_of,
    users_become,
    when,
)
from billing_harness import Billing  # type: ignore[import-not-found]

from erp.auth.v1 import auth_service_pb2 as apb
from erp.billing.v1 import billing_pb2
from svc_billing.domain.catalog import FEATURES

ALL_FEATURES = sorted(FEATURES)


async def test_signup_starts_a_business_trial(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)

    sub = await subscription(billing, tenant)
    assert sub.tenant_id == tenant.tenant_id
    assert (sub.plan_id, sub.plan_version) == ("business", 1)
    assert sub.status == billing_pb2.SUBSCRIPTION_STATUS_TRIALING
    assert sub.interval == billing_pb2.BILLING_INTERVAL_MONTHLY
    assert sub.currency_code == "USD"
    start, end = when(sub.current_period_start), when(sub.current_period_end)
    assert end - start == timedelta(days=14)
    assert sub.HasField("trial_end") and when(sub.trial_end) == end
    assert not sub.cancel_at_period_end and not sub.HasField("cancel_time")
    assert (sub.payment_provider, sub.has_payment_method, sub.tax_rate_bps) == ("manual", False, 0)
    assert await invoices_of(billing, tenant) == []  # a trial costs nothing

    found = await entitlements(billing, tenant)
    assert found.tenant_id == tenant.tenant_id
    assert (found.plan_id, found.status) == ("business", billing_pb2.SUBSCRIPTION_STATUS_TRIALING)
    assert list(found.features) == ALL_FEATURES
    assert dict(found.limits) == {
        "users": 50,
        "contacts": 50000,
        "storage_gb": 100,
        "ai_tokens": 1000000,
    }
    assert found.writes_allowed and found.version >= 1  # a real snapshot, not the guess


async def test_seats_follow_auth_user_events(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    await users_become(billing, tenant, 1)  # the owner, from auth.user.created
    users = (await usage_of(billing, tenant))["users"]
    assert users.aggregation == billing_pb2.AGGREGATION_LATEST
    assert users.HasField("limit") and users.limit == 50

    invited = await invite(auth, tenant)
    await users_become(billing, tenant, 2)

    await auth.stub.DeactivateUser(
        apb.DeactivateUserRequest(user_id=invited), metadata=tenant.token
    )
    await users_become(billing, tenant, 1)
    assert (await usage_of(billing, tenant))["users"].value == 1
