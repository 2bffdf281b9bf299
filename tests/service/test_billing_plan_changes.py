"""Plan changes: free during the trial, prorated once paid, idempotent, and never
below what is in use."""

from __future__ import annotations

import re
from datetime import timedelta
from fractions import Fraction

import grpc
from auth_client import bad_fields, fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import (  # type: ignore[import-not-found]
    activate,
    change_plan,
    clock_kept,
    error_info,
    invite,
    invoices_of,
    move_clock_to,
    new_tenant,
    operator_of,
    plan_price,
    subscription,
    users_become,
    when,
)
from billing_harness import Billing  # type: ignore[import-not-found]

from erp.billing.v1 import billing_pb2
from erp.billing.v1 import billing_service_pb2 as bpb
from svc_billing.domain.money import round_half_up
from svc_billing.domain.proration import prorate

NUMBER = re.compile(r"^ERP-(\d{6})$")
CREDIT = billing_pb2.INVOICE_LINE_KIND_PRORATION_CREDIT
CHARGE = billing_pb2.INVOICE_LINE_KIND_PRORATION_CHARGE


def number_of(invoice: billing_pb2.Invoice) -> int:
    found = NUMBER.match(invoice.number)
    assert found, invoice.number
    return int(found.group(1))


def tax_of(subtotal: int, rate_bps: int) -> int:
    return round_half_up(Fraction(subtotal * rate_bps, 10000))


async def test_change_during_trial_changes_the_plan_without_an_invoice(
    auth: Auth, billing: Billing
) -> None:
    tenant = await new_tenant(auth, billing)
    before = await subscription(billing, tenant)

    answer = await change_plan(billing, tenant, "starter")

    sub = answer.subscription
    assert (sub.plan_id, sub.status) == ("starter", billing_pb2.SUBSCRIPTION_STATUS_TRIALING)
    assert sub.current_period_end == before.current_period_end  # the trial is kept
    assert sub.trial_end == before.trial_end
    assert not answer.HasField("invoice")
    assert await invoices_of(billing, tenant) == []
    assert (await subscription(billing, tenant)) == sub


async def test_trial_end_then_prorated_upgrade(auth: Auth, billing: Billing) -> None:
    operator = await new_tenant(auth, billing, "Platform")
    tenant = await new_tenant(auth, billing)
    with operator_of(billing, operator):
        taxed = await billing.stub.SetTaxRate(
            bpb.SetTaxRateRequest(tenant_id=tenant.tenant_id, tax_rate_bps=1900),
            metadata=operator.token,
        )
    assert taxed.subscription.tax_rate_bps == 1900
    await change_plan(billing, tenant, "starter")
    starter = await plan_price(
        billing, "starter", (await subscription(billing, tenant)).plan_version
    )

    with clock_kept(billing):
        opened = (await activate(billing, tenant))[tenant.tenant_id]
        sub = await subscription(billing, tenant)
        trial_end = when(sub.trial_end)
        assert sub.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE
        assert when(sub.current_period_start) == trial_end
        period_end = when(sub.current_period_end)
        assert period_end > trial_end + timedelta(days=27)  # a month on from the trial's end

        assert opened.status == billing_pb2.INVOICE_STATUS_OPEN
        assert opened.reason == "trial_end"
        assert NUMBER.match(opened.number)
        [line] = opened.lines
        assert line.kind == billing_pb2.INVOICE_LINE_KIND_SUBSCRIPTION
        assert (line.quantity, line.unit_amount.amount_minor) == (1, starter)
        assert line.amount.amount_minor == starter and line.amount.currency_code == "USD"
        assert (when(line.period_start), when(line.period_end)) == (trial_end, period_end)
        assert opened.tax_rate_bps == 1900
        assert opened.subtotal.amount_minor == starter
        assert opened.tax.amount_minor == tax_of(starter, 1900)
        assert opened.total.amount_minor == starter + tax_of(starter, 1900)
        assert opened.amount_due.amount_minor == opened.total.amount_minor
        assert when(opened.issue_time) == billing.clock.now
        assert when(opened.due_time) == billing.clock.now + billing.config.payment_terms

        move_clock_to(billing, billing.clock.now + timedelta(days=10))
        business = await plan_price(billing, "business")
        split = prorate(starter, business, trial_end, period_end, billing.clock.now)
        assert split.credit > 0 and split.charge > split.credit

        preview = (
            await billing.stub.PreviewPlanChange(
                bpb.PreviewPlanChangeRequest(plan_id="business"), metadata=tenant.token
            )
        ).invoice
        assert preview.number == "" and preview.status == billing_pb2.INVOICE_STATUS_DRAFT
        assert [(x.kind, x.amount.amount_minor) for x in preview.lines] == [
            (CREDIT, -split.credit),
            (CHARGE, split.charge),
        ]
        assert (await subscription(billing, tenant)).plan_id == "starter"  # nothing changed

        request = bpb.ChangePlanRequest(plan_id="business", idempotency_key="upgrade-1")
        changed = await billing.stub.ChangePlan(request, metadata=tenant.token)
        invoice = changed.invoice
        assert changed.subscription.plan_id == "business"
        assert changed.subscription.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE
        assert changed.subscription.current_period_end == sub.current_period_end
        assert invoice.reason == "proration"
        assert invoice.status == billing_pb2.INVOICE_STATUS_OPEN
        assert number_of(invoice) == number_of(opened) + 1  # the preview used no number
        assert [(x.kind, x.quantity, x.amount.amount_minor) for x in invoice.lines] == [
            (CREDIT, 1, -split.credit),
            (CHARGE, 1, split.charge),
        ]
        for line in invoice.lines:
            assert (when(line.period_start), when(line.period_end)) == (
                billing.clock.now,
                period_end,
            )
        subtotal = split.charge - split.credit
        assert invoice.subtotal.amount_minor == subtotal
        assert invoice.tax.amount_minor == tax_of(subtotal, 1900)
        assert invoice.total.amount_minor == subtotal + tax_of(subtotal, 1900)
        for field in ("lines", "subtotal", "tax", "total", "tax_rate_bps"):
            assert getattr(preview, field) == getattr(invoice, field), field

        again = await billing.stub.ChangePlan(request, metadata=tenant.token)
        assert again == changed  # replayed, not changed twice
        assert [i.reason for i in await invoices_of(billing, tenant)] == ["proration", "trial_end"]

        error = await fails(
            billing.stub.ChangePlan(
                bpb.ChangePlanRequest(plan_id="starter", idempotency_key="upgrade-1"),
                metadata=tenant.token,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {"idempotency_key"}
        assert (await subscription(billing, tenant)).plan_id == "business"
        assert len(await invoices_of(billing, tenant)) == 2


async def test_downgrade_below_usage_is_refused(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    for _ in range(3):
        await invite(auth, tenant)
    await users_become(billing, tenant, 4)
    before = await subscription(billing, tenant)

    error = await fails(
        billing.stub.ChangePlan(bpb.ChangePlanRequest(plan_id="free"), metadata=tenant.token),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    info = error_info(error)
    assert info.reason == "DOWNGRADE_BELOW_USAGE"
    assert dict(info.metadata) == {
        "limit": "users",
        "allowed": "3",
        "in_use": "4",
        "exceeded": "users",
    }
    assert await subscription(billing, tenant) == before
    assert await invoices_of(billing, tenant) == []
    error = await fails(
        billing.stub.PreviewPlanChange(
            bpb.PreviewPlanChangeRequest(plan_id="free"), metadata=tenant.token
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_info(error).reason == "DOWNGRADE_BELOW_USAGE"


async def test_unknown_or_unchanged_plan(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    error = await fails(change_plan(billing, tenant, "platinum"), grpc.StatusCode.NOT_FOUND)
    assert error_info(error).reason == "PLAN_NOT_FOUND"
    error = await fails(
        change_plan(billing, tenant, "business"), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert error_info(error).reason == "PLAN_UNCHANGED"
    error = await fails(change_plan(billing, tenant, " "), grpc.StatusCode.INVALID_ARGUMENT)
    assert bad_fields(error) == {"plan_id"}


async def test_interval_change_starts_a_new_period(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    await change_plan(billing, tenant, "starter")
    version = (await subscription(billing, tenant)).plan_version
    starter = await plan_price(billing, "starter", version)
    with clock_kept(billing):
        await activate(billing, tenant)
        sub = await subscription(billing, tenant)
        start, end = when(sub.current_period_start), when(sub.current_period_end)
        move_clock_to(billing, billing.clock.now + timedelta(days=5))
        now = billing.clock.now
        answer = await billing.stub.ChangePlan(
            bpb.ChangePlanRequest(plan_id="business", interval=billing_pb2.BILLING_INTERVAL_YEARLY),
            metadata=tenant.token,
        )
    changed = answer.subscription
    assert (changed.plan_id, changed.interval) == ("business", billing_pb2.BILLING_INTERVAL_YEARLY)
    assert when(changed.current_period_start) == now
    year_end = when(changed.current_period_end)
    assert (year_end.year, year_end.month, year_end.day) == (now.year + 1, now.month, now.day)
    yearly = (await billing.stub.GetPlan(bpb.GetPlanRequest(plan_id="business"))).plan.current
    price = next(
        p.amount.amount_minor
        for p in yearly.prices
        if p.interval == billing_pb2.BILLING_INTERVAL_YEARLY
    )
    credit = prorate(starter, 0, start, end, now).credit
    invoice = answer.invoice
    assert [(x.kind, x.amount.amount_minor) for x in invoice.lines] == [
        (CREDIT, -credit),
        (CHARGE, price),
    ]
    assert invoice.total.amount_minor == price - credit  # no tax rate set
    assert (when(invoice.period_start), when(invoice.period_end)) == (now, year_end)
