"""Client-side helpers for the svc_billing service tests: a tenant signed up through
svc_auth and known to billing, the billing clock moved for one test only, platform
operators, the Stripe stand-in as the card provider, and google.rpc ErrorInfo."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
from auth_client import bearer, signup, status_details, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_harness import Billing, eventually  # type: ignore[import-not-found]
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from stripe_standin import StripeStandIn  # type: ignore[import-not-found]

from erp.auth.v1 import auth_service_pb2 as apb
from erp.billing.v1 import billing_pb2
from erp.billing.v1 import billing_service_pb2 as bpb
from erp.common.v1 import paging_pb2
from svc_billing.payments import StripeProvider

Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Tenant:
    """A tenant signed up through svc_auth, with its owner's bearer metadata."""

    tenant_id: str
    owner_id: str
    token: Metadata


def when(stamp: timestamp_pb2.Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def stamp(moment: datetime) -> timestamp_pb2.Timestamp:
    found = timestamp_pb2.Timestamp()
    found.FromDatetime(moment)
    return found


async def subscription(billing: Billing, tenant: Tenant) -> billing_pb2.Subscription:
    answer = await billing.stub.GetSubscription(bpb.GetSubscriptionRequest(), metadata=tenant.token)
    found: billing_pb2.Subscription = answer.subscription
    return found


async def new_tenant(auth: Auth, billing: Billing, name: str = "Acme Ltd") -> Tenant:
    """Sign up through auth and wait until billing has its trial (from the event)."""
    signed = await signup(auth.stub, tenant=name)
    tenant = Tenant(
        signed.tenant.tenant_id, signed.user.user_id, bearer(signed.tokens.access_token)
    )

    async def known() -> billing_pb2.Subscription | None:
        return await subscription(billing, tenant)

    await eventually(known)
    return tenant


async def usage_of(billing: Billing, tenant: Tenant) -> dict[str, billing_pb2.MetricUsage]:
    answer = await billing.stub.GetUsage(bpb.GetUsageRequest(), metadata=tenant.token)
    return {m.metric: m for m in answer.metrics}


async def users_become(billing: Billing, tenant: Tenant, count: int) -> None:
    """Wait until billing counts `count` seats (auth's user events arrive later)."""

    async def probe() -> bool | None:
        return True if (await usage_of(billing, tenant))["users"].value == count else None

    await eventually(probe)


async def invite(auth: Auth, tenant: Tenant, roles: tuple[str, ...] = ()) -> str:
    answer = await auth.stub.InviteUser(
        apb.InviteUserRequest(email=unique_email("invitee"), roles=list(roles)),
        metadata=tenant.token,
    )
    user_id: str = answer.user.user_id
    return user_id


async def entitlements(billing: Billing, tenant: Tenant) -> billing_pb2.Entitlements:
    answer = await billing.stub.ListEntitlements(
        bpb.ListEntitlementsRequest(), metadata=tenant.token
    )
    found: billing_pb2.Entitlements = answer.entitlements
    return found


async def invoices_of(billing: Billing, tenant: Tenant) -> list[billing_pb2.Invoice]:
    """Every invoice of the tenant, newest first (one page of up to 500)."""
    answer = await billing.stub.ListInvoices(
        bpb.ListInvoicesRequest(page=paging_pb2.PageRequest(page_size=500)), metadata=tenant.token
    )
    return list(answer.invoices)


async def plan_price(billing: Billing, plan_id: str, version: int = 0) -> int:
    """The monthly price of a plan version (the catalog may have been republished)."""
    answer = await billing.stub.GetPlan(bpb.GetPlanRequest(plan_id=plan_id, version=version))
    for price in answer.plan.current.prices:
        if price.interval == billing_pb2.BILLING_INTERVAL_MONTHLY:
            amount: int = price.amount.amount_minor
            return amount
    raise AssertionError(f"{plan_id} v{version} has no monthly price")


async def change_plan(
    billing: Billing, tenant: Tenant, plan_id: str, key: str = ""
) -> bpb.ChangePlanResponse:
    answer: bpb.ChangePlanResponse = await billing.stub.ChangePlan(
        bpb.ChangePlanRequest(plan_id=plan_id, idempotency_key=key), metadata=tenant.token
    )
    return answer


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The google.rpc.ErrorInfo detail (reason and metadata) of a failed call."""
    for detail in status_details(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError("no ErrorInfo detail")


async def failure(call: object) -> grpc.aio.AioRpcError | None:
    """The error of an awaited call, None when it succeeded (for eventually probes)."""
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error
    return None


# ---- the billing clock ----------------------------------------------------------------


@contextmanager
def clock_kept(billing: Billing) -> Iterator[None]:
    """Move the shared billing clock in a test; it is back where it was afterwards,
    so no other test sees the time this one travelled to."""
    before = billing.clock.now
    try:
        yield
    finally:
        billing.clock.now = before


def move_clock_to(billing: Billing, moment: datetime) -> None:
    """Forward only: the billing clock never runs backwards within a test."""
    assert moment >= billing.clock.now, f"clock at {billing.clock.now}, asked for {moment}"
    billing.clock.now = moment


async def activate(billing: Billing, *tenants: Tenant) -> dict[str, billing_pb2.Invoice]:
    """End the tenants' trials: move the clock an hour past the latest trial end and
    run the cycle for each, in the order given. Returns the trial_end invoice of each
    tenant (by tenant id). Call inside `clock_kept`."""
    ends = [when((await subscription(billing, t)).trial_end) for t in tenants]
    move_clock_to(billing, max(ends) + timedelta(hours=1))
    opened = {}
    for tenant in tenants:
        assert await billing.run_cycle(tenant.tenant_id) == 1
        found = [i for i in await invoices_of(billing, tenant) if i.reason == "trial_end"]
        assert len(found) == 1, found
        opened[tenant.tenant_id] = found[0]
    return opened


# ---- platform operators and the card provider -----------------------------------------


@contextmanager
def operator_of(billing: Billing, tenant: Tenant) -> Iterator[None]:
    """The tenant's administrators run the platform for the duration."""
    before = billing.config.platform_tenants
    billing.config.platform_tenants = before | {tenant.tenant_id}
    try:
        yield
    finally:
        billing.config.platform_tenants = before


@asynccontextmanager
async def stripe_on(billing: Billing) -> AsyncIterator[StripeStandIn]:
    """Card payments through a local Stripe stand-in on the shared billing instance."""
    providers = billing.service.deps.providers
    assert "stripe" not in providers, "another test left a card provider behind"
    with StripeStandIn() as standin:
        providers["stripe"] = StripeProvider(
            StripeStandIn.API_KEY, api_base=standin.url, timeout_seconds=5
        )
        try:
            yield standin
        finally:
            del providers["stripe"]
