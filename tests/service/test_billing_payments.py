"""Collecting invoices: a declined card leads through past due to suspension and back
when paid; bank transfers are booked by the platform operator."""

from __future__ import annotations

from datetime import timedelta

import grpc
from auth_client import bad_fields, fails, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import (  # type: ignore[import-not-found]
    Tenant,
    activate,
    change_plan,
    clock_kept,
    error_info,
    failure,
    invoices_of,
    move_clock_to,
    new_tenant,
    operator_of,
    stripe_on,
    subscription,
    when,
)
from billing_harness import Billing, eventually  # type: ignore[import-not-found]
from stripe_standin import StripeStandIn  # type: ignore[import-not-found]

from erp.auth.v1 import auth_service_pb2 as apb
from erp.billing.v1 import billing_pb2
from erp.billing.v1 import billing_service_pb2 as bpb

DECLINED = "pm_card_chargeDeclined"
VISA = "pm_card_visa"


async def set_card(billing: Billing, tenant: Tenant, method: str) -> billing_pb2.Subscription:
    answer = await billing.stub.SetPaymentMethod(
        bpb.SetPaymentMethodRequest(provider="stripe", payment_method=method),
        metadata=tenant.token,
    )
    found: billing_pb2.Subscription = answer.subscription
    return found


async def pay(billing: Billing, tenant: Tenant, invoice_id: str) -> bpb.PayInvoiceResponse:
    answer: bpb.PayInvoiceResponse = await billing.stub.PayInvoice(
        bpb.PayInvoiceRequest(invoice_id=invoice_id), metadata=tenant.token
    )
    return answer


async def suspended_by_a_declined_card(
    billing: Billing, tenant: Tenant, standin: StripeStandIn
) -> billing_pb2.Invoice:
    """Card declined at the trial's end, then the grace period runs out. Call inside
    `clock_kept` and `stripe_on`; returns the unpaid invoice."""
    sub = await set_card(billing, tenant, DECLINED)
    assert (sub.payment_provider, sub.has_payment_method) == ("stripe", True)
    invoice: billing_pb2.Invoice = (await activate(billing, tenant))[tenant.tenant_id]
    declined_at = billing.clock.now

    # The cycle charged the card on file itself, and the decline made it past due.
    assert invoice.status == billing_pb2.INVOICE_STATUS_OPEN
    assert invoice.last_payment_error == "Your card has insufficient funds."
    assert invoice.amount_due == invoice.total and invoice.total.amount_minor > 0
    sub = await subscription(billing, tenant)
    assert sub.status == billing_pb2.SUBSCRIPTION_STATUS_PAST_DUE
    assert when(sub.past_due_time) == declined_at
    [intent] = standin.payment_intents.values()
    assert intent["amount"] == invoice.total.amount_minor and intent["currency"] == "usd"
    assert intent["metadata"]["invoice_number"] == invoice.number
    assert standin.requests_to("/v1/payment_intents")[0].idempotency_key == (
        f"{invoice.invoice_id}-auto"
    )

    # Paying by hand with the same card fails the same way; past due since the first.
    move_clock_to(billing, billing.clock.now + timedelta(hours=1))
    failed = await pay(billing, tenant, invoice.invoice_id)
    assert failed.invoice.status == billing_pb2.INVOICE_STATUS_OPEN
    assert failed.invoice.last_payment_error == "Your card has insufficient funds."
    assert failed.subscription.status == billing_pb2.SUBSCRIPTION_STATUS_PAST_DUE
    assert when(failed.subscription.past_due_time) == declined_at
    assert len(standin.payment_intents) == 2
    assert await billing.run_cycle(tenant.tenant_id) == 0  # nothing due, no second auto-charge
    assert len(standin.payment_intents) == 2

    grace = billing.config.dunning_grace
    move_clock_to(billing, declined_at + grace - timedelta(seconds=1))
    assert await billing.run_cycle(tenant.tenant_id) == 0  # not yet
    assert (await subscription(billing, tenant)).status == billing_pb2.SUBSCRIPTION_STATUS_PAST_DUE
    move_clock_to(billing, declined_at + grace)
    assert await billing.run_cycle(tenant.tenant_id) == 1
    assert (await subscription(billing, tenant)).status == billing_pb2.SUBSCRIPTION_STATUS_SUSPENDED
    return invoice


async def test_declined_card_to_suspension_and_back(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    with clock_kept(billing):
        async with stripe_on(billing) as standin:
            invoice = await suspended_by_a_declined_card(billing, tenant, standin)

            # Reads work while suspended.
            sub = await subscription(billing, tenant)
            assert sub.status == billing_pb2.SUBSCRIPTION_STATUS_SUSPENDED
            listed = await invoices_of(billing, tenant)
            assert [i.invoice_id for i in listed] == [invoice.invoice_id]
            found = await billing.stub.ListEntitlements(
                bpb.ListEntitlementsRequest(), metadata=tenant.token
            )
            assert found.entitlements.status == billing_pb2.SUBSCRIPTION_STATUS_SUSPENDED
            assert not found.entitlements.writes_allowed
            assert found.entitlements.plan_id == "business"  # reads keep the plan's features
            error = await fails(
                change_plan(billing, tenant, "starter"), grpc.StatusCode.FAILED_PRECONDITION
            )
            assert (await subscription(billing, tenant)).plan_id == "business"

            # A new card is allowed while suspended; paying restores service.
            await set_card(billing, tenant, VISA)
            paid = await pay(billing, tenant, invoice.invoice_id)
            assert paid.invoice.status == billing_pb2.INVOICE_STATUS_PAID
            assert paid.invoice.payment_reference.startswith("pi_")
            assert paid.invoice.last_payment_error == ""
            assert paid.invoice.amount_due.amount_minor == 0
            assert paid.invoice.amount_paid == invoice.total
            assert when(paid.invoice.paid_time) == billing.clock.now
            assert paid.subscription.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE
            assert not paid.subscription.HasField("past_due_time")
            assert paid.subscription.current_period_end == sub.current_period_end
            assert len(standin.payment_intents) == 3
            assert len(standin.customers) == 1  # the customer from the first try is kept

            error = await fails(
                pay(billing, tenant, invoice.invoice_id), grpc.StatusCode.FAILED_PRECONDITION
            )
            assert error_info(error).reason == "INVOICE_NOT_OPEN"
            assert len(standin.payment_intents) == 3  # nothing charged twice


async def test_suspended_tenant_cannot_write_anywhere(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    with clock_kept(billing):
        async with stripe_on(billing) as standin:
            invoice = await suspended_by_a_declined_card(billing, tenant, standin)

            async def refused_by(call: object) -> grpc.aio.AioRpcError | None:
                error = await failure(call)
                if error is None or error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    return None
                return error if error_info(error).reason == "TENANT_SUSPENDED" else None

            error = await eventually(lambda: refused_by(change_plan(billing, tenant, "starter")))
            assert error_info(error).metadata["plan"] == "business"
            invite = apb.InviteUserRequest(email=unique_email())
            await eventually(
                lambda: refused_by(auth.stub.InviteUser(invite, metadata=tenant.token))
            )
            me = await auth.stub.GetMe(apb.GetMeRequest(), metadata=tenant.token)
            assert me.tenant_id == tenant.tenant_id  # reads work in every service
            await billing.stub.GetSubscription(bpb.GetSubscriptionRequest(), metadata=tenant.token)

            await set_card(billing, tenant, VISA)  # during_suspension
            paid = await pay(billing, tenant, invoice.invoice_id)  # during_suspension
            assert paid.subscription.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE

            async def invited() -> apb.InviteUserResponse | None:
                error = await failure(auth.stub.InviteUser(invite, metadata=tenant.token))
                if error is not None:
                    return None
                return apb.InviteUserResponse()

            await eventually(invited)


async def test_bank_transfer_is_booked_by_the_operator(auth: Auth, billing: Billing) -> None:
    operator = await new_tenant(auth, billing, "Platform")
    tenant = await new_tenant(auth, billing)
    with clock_kept(billing):
        invoice = (await activate(billing, tenant))[tenant.tenant_id]
    assert (await subscription(billing, tenant)).payment_provider == "manual"

    error = await fails(
        pay(billing, tenant, invoice.invoice_id), grpc.StatusCode.FAILED_PRECONDITION
    )
    info = error_info(error)
    assert info.reason == "MANUAL_PAYMENT_REQUIRED"
    assert dict(info.metadata) == {"invoice_number": invoice.number}
    assert invoice.number in (error.details() or "")
    amount = invoice.total.amount_minor
    assert f"{amount // 100}.{amount % 100:02d} USD" in (error.details() or "")

    booking = bpb.RecordManualPaymentRequest(
        tenant_id=tenant.tenant_id, invoice_id=invoice.invoice_id, reference="BANK-REF-1"
    )
    error = await fails(  # the tenant's own owner is no platform operator
        billing.stub.RecordManualPayment(booking, metadata=tenant.token),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert error_info(error).reason == "PLATFORM_OPERATOR_ONLY"
    error = await fails(
        billing.stub.RecordManualPayment(booking, metadata=operator.token),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert error_info(error).reason == "PLATFORM_OPERATOR_ONLY"
    assert (await invoices_of(billing, tenant))[0].status == billing_pb2.INVOICE_STATUS_OPEN

    with operator_of(billing, operator):
        error = await fails(
            billing.stub.RecordManualPayment(
                bpb.RecordManualPaymentRequest(
                    tenant_id=tenant.tenant_id, invoice_id=invoice.invoice_id, reference="a\nb"
                ),
                metadata=operator.token,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {"reference"}
        error = await fails(  # the invoice is looked up in the tenant named, not the caller's
            billing.stub.RecordManualPayment(
                bpb.RecordManualPaymentRequest(
                    tenant_id=operator.tenant_id,
                    invoice_id=invoice.invoice_id,
                    reference="BANK-REF-1",
                ),
                metadata=operator.token,
            ),
            grpc.StatusCode.NOT_FOUND,
        )

        paid = (await billing.stub.RecordManualPayment(booking, metadata=operator.token)).invoice
        assert paid.status == billing_pb2.INVOICE_STATUS_PAID
        assert paid.payment_reference == "BANK-REF-1"
        assert paid.amount_paid == invoice.total and paid.amount_due.amount_minor == 0
        assert paid.HasField("paid_time")
        mine = await billing.stub.GetInvoice(
            bpb.GetInvoiceRequest(invoice_id=invoice.invoice_id), metadata=tenant.token
        )
        assert mine.invoice == paid

        error = await fails(
            billing.stub.VoidInvoice(
                bpb.VoidInvoiceRequest(tenant_id=tenant.tenant_id, invoice_id=invoice.invoice_id),
                metadata=operator.token,
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        info = error_info(error)
        assert info.reason == "INVOICE_TRANSITION"
        assert dict(info.metadata) == {"from": "paid", "to": "void"}
        error = await fails(  # booked once only
            billing.stub.RecordManualPayment(booking, metadata=operator.token),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        assert error_info(error).reason == "INVOICE_TRANSITION"
    assert (await invoices_of(billing, tenant))[0] == paid


async def test_card_payments_need_a_configured_provider(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    error = await fails(set_card(billing, tenant, VISA), grpc.StatusCode.FAILED_PRECONDITION)
    info = error_info(error)
    assert (info.reason, dict(info.metadata)) == ("PROVIDER_NOT_CONFIGURED", {"provider": "stripe"})
    error = await fails(
        billing.stub.SetPaymentMethod(
            bpb.SetPaymentMethodRequest(provider="paypal"), metadata=tenant.token
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"provider"}
    async with stripe_on(billing):
        error = await fails(set_card(billing, tenant, "card_123"), grpc.StatusCode.INVALID_ARGUMENT)
        assert bad_fields(error) == {"payment_method"}
    assert (await subscription(billing, tenant)).payment_provider == "manual"


async def test_paying_after_the_period_ran_out_invoices_the_fresh_period(
    auth: Auth, billing: Billing
) -> None:
    tenant = await new_tenant(auth, billing)
    with clock_kept(billing):
        async with stripe_on(billing) as standin:
            invoice = await suspended_by_a_declined_card(billing, tenant, standin)
            period_end = when((await subscription(billing, tenant)).current_period_end)
            move_clock_to(billing, period_end + timedelta(days=3))
            assert await billing.run_cycle(tenant.tenant_id) == 0  # suspended: no renewal

            await set_card(billing, tenant, VISA)
            paid = await pay(billing, tenant, invoice.invoice_id)
            restarted = billing.clock.now
            sub = paid.subscription
            assert sub.status == billing_pb2.SUBSCRIPTION_STATUS_ACTIVE
            assert when(sub.current_period_start) == restarted  # suspended time is not billed
            renewal = [i for i in await invoices_of(billing, tenant) if i.reason == "renewal"]
            assert len(renewal) == 1, "the fresh period was never invoiced"
            [line] = renewal[0].lines
            assert line.kind == billing_pb2.INVOICE_LINE_KIND_SUBSCRIPTION
            assert (when(line.period_start), when(line.period_end)) == (
                restarted,
                when(sub.current_period_end),
            )


async def test_a_retried_payment_with_its_key_answers_the_same_and_charges_once(
    auth: Auth, billing: Billing
) -> None:
    tenant = await new_tenant(auth, billing)
    with clock_kept(billing):
        async with stripe_on(billing) as standin:
            invoice = await suspended_by_a_declined_card(billing, tenant, standin)
            await set_card(billing, tenant, VISA)
            intents = len(standin.payment_intents)
            request = bpb.PayInvoiceRequest(invoice_id=invoice.invoice_id, idempotency_key="k-1")
            first = await billing.stub.PayInvoice(request, metadata=tenant.token)
            again = await billing.stub.PayInvoice(request, metadata=tenant.token)
            assert first.invoice.status == billing_pb2.INVOICE_STATUS_PAID
            assert again == first
            assert len(standin.payment_intents) == intents + 1
            # The provider saw the caller's key: a retry after a lost answer is safe too.
            assert standin.requests_to("/v1/payment_intents")[-1].idempotency_key == "k-1"
            other = bpb.PayInvoiceRequest(invoice_id="another", idempotency_key="k-1")
            error = await fails(
                billing.stub.PayInvoice(other, metadata=tenant.token),
                grpc.StatusCode.INVALID_ARGUMENT,
            )
            assert bad_fields(error) == {"idempotency_key"}
