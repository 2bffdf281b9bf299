"""The plan catalog: public listing, versions published by the platform operator,
subscribers kept on their version until migrated; and the internal entitlements RPC."""

from __future__ import annotations

import uuid

import grpc
from auth_client import bad_fields, fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import (  # type: ignore[import-not-found]
    Tenant,
    change_plan,
    error_info,
    new_tenant,
    operator_of,
    plan_price,
    subscription,
)
from billing_harness import AS_AUTH, Billing  # type: ignore[import-not-found]

from erp.billing.v1 import billing_pb2
from erp.billing.v1 import billing_service_pb2 as bpb
from erp.common.v1 import money_pb2
from mesh.config import spiffe_id
from svc_billing.domain.catalog import FEATURES

MONTHLY = billing_pb2.BILLING_INTERVAL_MONTHLY
YEARLY = billing_pb2.BILLING_INTERVAL_YEARLY


def usd(amount: int, currency: str = "USD") -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount)


def copy_of(version: billing_pb2.PlanVersion) -> billing_pb2.PlanVersion:
    """What PublishPlanVersion takes: the content, without plan_id, version and time."""
    found = billing_pb2.PlanVersion()
    found.CopyFrom(version)
    for name in ("plan_id", "version", "create_time"):
        found.ClearField(name)
    return found


def with_monthly_price(version: billing_pb2.PlanVersion, amount: int) -> billing_pb2.PlanVersion:
    found = copy_of(version)
    for price in found.prices:
        if price.interval == MONTHLY:
            price.amount.amount_minor = amount
    return found


async def publish(
    billing: Billing, operator: Tenant, plan_id: str, version: billing_pb2.PlanVersion
) -> billing_pb2.Plan:
    answer = await billing.stub.PublishPlanVersion(
        bpb.PublishPlanVersionRequest(plan_id=plan_id, version=version), metadata=operator.token
    )
    plan: billing_pb2.Plan = answer.plan
    return plan


async def test_public_catalog_needs_no_token(billing: Billing) -> None:
    answer = await billing.stub.ListPlans(bpb.ListPlansRequest())
    assert [p.plan_id for p in answer.plans] == ["free", "starter", "business"]
    monthly = [
        next(x.amount.amount_minor for x in p.current.prices if x.interval == MONTHLY)
        for p in answer.plans
    ]
    assert monthly == sorted(monthly) and monthly[0] == 0
    assert all(p.current.public and p.current.plan_id == p.plan_id for p in answer.plans)
    business = answer.plans[2].current
    assert list(business.features) == sorted(FEATURES)
    assert business.trial_days == 14
    assert [(m.metric, m.unit_price.amount_minor) for m in business.metered_prices] == [
        ("storage_gb", 50)
    ]
    enterprise = await billing.stub.GetPlan(bpb.GetPlanRequest(plan_id="enterprise"))
    assert not enterprise.plan.current.public  # private, but it exists
    addons = await billing.stub.ListAddOns(bpb.ListAddOnsRequest())
    assert [a.addon_id for a in addons.addons] == ["extra_seats", "extra_storage"]
    error = await fails(
        billing.stub.GetPlan(bpb.GetPlanRequest(plan_id="nope")), grpc.StatusCode.NOT_FOUND
    )
    assert error_info(error).reason == "PLAN_NOT_FOUND"


async def test_new_version_keeps_subscribers_until_migrated(auth: Auth, billing: Billing) -> None:
    operator = await new_tenant(auth, billing, "Platform")
    tenant = await new_tenant(auth, billing)
    await change_plan(billing, tenant, "starter")
    current = (await billing.stub.GetPlan(bpb.GetPlanRequest(plan_id="starter"))).plan.current
    old_price = await plan_price(billing, "starter", current.version)
    assert (await subscription(billing, tenant)).plan_version == current.version

    with operator_of(billing, operator):
        try:
            plan = await publish(
                billing, operator, "starter", with_monthly_price(current, old_price + 600)
            )
            new = plan.current
            assert (new.plan_id, new.version) == ("starter", current.version + 1)
            assert await plan_price(billing, "starter") == old_price + 600
            assert await plan_price(billing, "starter", current.version) == old_price
            assert new.HasField("create_time")
            listed = await billing.stub.ListPlans(bpb.ListPlansRequest())
            assert [p.current.version for p in listed.plans if p.plan_id == "starter"] == [
                new.version
            ]

            assert (await subscription(billing, tenant)).plan_version == current.version
            newcomer = await new_tenant(auth, billing)
            await change_plan(billing, newcomer, "starter")
            assert (await subscription(billing, newcomer)).plan_version == new.version

            moved = await billing.stub.MigrateSubscribers(
                bpb.MigrateSubscribersRequest(plan_id="starter", from_version=current.version),
                metadata=operator.token,
            )
            assert moved.to_version == new.version and moved.migrated >= 1
            assert (await subscription(billing, tenant)).plan_version == new.version
            again = await billing.stub.MigrateSubscribers(
                bpb.MigrateSubscribersRequest(plan_id="starter"), metadata=operator.token
            )
            assert (again.migrated, again.to_version) == (0, new.version)
        finally:  # the rest of the session sees the original content again
            await publish(billing, operator, "starter", copy_of(current))
    assert await plan_price(billing, "starter") == old_price


async def test_a_new_plan_migrates_exactly_its_subscribers(auth: Auth, billing: Billing) -> None:
    operator = await new_tenant(auth, billing, "Platform")
    tenant = await new_tenant(auth, billing)
    plan_id = f"lab-{uuid.uuid4().hex[:8]}"
    content = billing_pb2.PlanVersion(
        name="Lab",
        description="for this test",
        prices=[
            billing_pb2.Price(interval=MONTHLY, amount=usd(5000)),
            billing_pb2.Price(interval=YEARLY, amount=usd(50000)),
        ],
        features=["core", "crm"],
        limits={"users": 20},
        trial_days=7,
        public=True,
    )
    with operator_of(billing, operator):
        first = (await publish(billing, operator, plan_id, content)).current
        try:
            assert (first.plan_id, first.version, first.public) == (plan_id, 1, True)
            await change_plan(billing, tenant, plan_id)
            content.prices[0].amount.amount_minor = 5500
            second = (await publish(billing, operator, plan_id, content)).current
            assert second.version == 2
            assert (await subscription(billing, tenant)).plan_version == 1
            moved = await billing.stub.MigrateSubscribers(
                bpb.MigrateSubscribersRequest(plan_id=plan_id), metadata=operator.token
            )
            assert (moved.migrated, moved.to_version) == (1, 2)
        finally:  # the session's public catalog stays as it was
            content.public = False
            await publish(billing, operator, plan_id, content)
    assert (await subscription(billing, tenant)).plan_version == 2  # not 3: not migrated
    listed = await billing.stub.ListPlans(bpb.ListPlansRequest())
    assert plan_id not in [p.plan_id for p in listed.plans]


async def test_bad_versions_and_non_operators_are_refused(auth: Auth, billing: Billing) -> None:
    operator = await new_tenant(auth, billing, "Platform")
    bad = billing_pb2.PlanVersion(
        name="",
        prices=[billing_pb2.Price(interval=MONTHLY, amount=usd(-1, "usd"))],
        features=["core", "teleport"],
        limits={"users": -1, "planets": 3},
        trial_days=400,
    )
    request = bpb.PublishPlanVersionRequest(plan_id="starter", version=bad)
    error = await fails(
        billing.stub.PublishPlanVersion(request, metadata=operator.token),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert error_info(error).reason == "PLATFORM_OPERATOR_ONLY"
    before = (await billing.stub.GetPlan(bpb.GetPlanRequest(plan_id="starter"))).plan
    with operator_of(billing, operator):
        error = await fails(
            billing.stub.PublishPlanVersion(request, metadata=operator.token),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {
            "version.name",
            "version.prices[0].amount.currency_code",
            "version.prices[0].amount.amount_minor",
            "version.features",
            "version.limits.users",
            "version.limits.planets",
            "version.trial_days",
        }
        mixed = billing_pb2.PlanVersion(
            name="Mixed",
            prices=[
                billing_pb2.Price(interval=MONTHLY, amount=usd(100)),
                billing_pb2.Price(interval=YEARLY, amount=usd(1000, "EUR")),
            ],
        )
        error = await fails(
            billing.stub.PublishPlanVersion(
                bpb.PublishPlanVersionRequest(plan_id="starter", version=mixed),
                metadata=operator.token,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {"version.prices"}
    assert (await billing.stub.GetPlan(bpb.GetPlanRequest(plan_id="starter"))).plan == before
    error = await fails(
        billing.stub.MigrateSubscribers(
            bpb.MigrateSubscribersRequest(plan_id="starter"), metadata=operator.token
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert error_info(error).reason == "PLATFORM_OPERATOR_ONLY"


async def test_a_tenant_cannot_pick_a_private_plan(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    error = await fails(change_plan(billing, tenant, "enterprise"), grpc.StatusCode.NOT_FOUND)
    assert error_info(error).reason == "PLAN_NOT_FOUND"
    assert (await subscription(billing, tenant)).plan_id == "business"


async def test_tenant_entitlements_are_for_mesh_services_only(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    request = bpb.GetTenantEntitlementsRequest(tenant_id=tenant.tenant_id)
    callers = [
        (),
        tenant.token,  # a user's token is not a mesh identity
        (("x-forwarded-client-cert", f"By=x;URI={spiffe_id('edge')}"),),
        (("x-forwarded-client-cert", "By=x;URI=spiffe://elsewhere.example/svc/auth"),),
    ]
    for metadata in callers:
        error = await fails(
            billing.stub.GetTenantEntitlements(request, metadata=metadata),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert error_info(error).reason == "INTERNAL_ONLY"

    found = (await billing.stub.GetTenantEntitlements(request, metadata=AS_AUTH)).entitlements
    assert (found.tenant_id, found.plan_id) == (tenant.tenant_id, "business")
    assert found.status == billing_pb2.SUBSCRIPTION_STATUS_TRIALING
    assert list(found.features) == sorted(FEATURES)
    assert found.writes_allowed and found.version >= 1

    unknown = str(uuid.uuid4())  # not signed up (yet): the trial plan, as version 0
    guess = (
        await billing.stub.GetTenantEntitlements(
            bpb.GetTenantEntitlementsRequest(tenant_id=unknown), metadata=AS_AUTH
        )
    ).entitlements
    assert (guess.tenant_id, guess.plan_id, guess.version) == (unknown, "business", 0)
    error = await fails(
        billing.stub.GetTenantEntitlements(bpb.GetTenantEntitlementsRequest(), metadata=AS_AUTH),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"tenant_id"}
