"""What svc_billing publishes (stream ERP_BILLING). Each function writes one event
to the outbox of the caller's transaction. What it consumes is in consumers.py."""

from __future__ import annotations

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from erp.billing.v1 import billing_pb2 as pb
from mesh.events import make_envelope, record
from svc_billing.store import TABLES

SOURCE = "billing"
SUBSCRIPTION_CHANGED = "billing.subscription.changed"
ENTITLEMENTS_CHANGED = "billing.entitlements.changed"
INVOICE_OPENED = "billing.invoice.opened"
INVOICE_PAID = "billing.invoice.paid"
INVOICE_PAYMENT_FAILED = "billing.invoice.payment_failed"
INVOICE_VOIDED = "billing.invoice.voided"
INVOICE_UNCOLLECTIBLE = "billing.invoice.uncollectible"
USAGE_REPORTED = "billing.usage.reported"


async def _publish(
    session: AsyncSession, event_type: str, payload: Message, aggregate_id: str, tenant_id: str
) -> None:
    envelope = make_envelope(
        event_type, payload, source=SOURCE, aggregate_id=aggregate_id, tenant_id=tenant_id
    )
    await record(session, TABLES, envelope)


async def subscription_changed(
    session: AsyncSession, sub: pb.Subscription, change: str, previous_plan: str = ""
) -> None:
    payload = pb.SubscriptionChanged(
        subscription=sub, change=change, previous_plan_id=previous_plan
    )
    await _publish(session, SUBSCRIPTION_CHANGED, payload, sub.subscription_id, sub.tenant_id)


async def entitlements_changed(session: AsyncSession, entitlements: pb.Entitlements) -> None:
    payload = pb.EntitlementsChanged(entitlements=entitlements)
    # The tenant is the aggregate: every service's cache keeps one entry per tenant.
    tenant = entitlements.tenant_id
    await _publish(session, ENTITLEMENTS_CHANGED, payload, tenant, tenant)


async def invoice_event(session: AsyncSession, event_type: str, invoice: pb.Invoice) -> None:
    payload: Message
    if event_type == INVOICE_OPENED:
        payload = pb.InvoiceOpened(invoice=invoice)
    elif event_type == INVOICE_PAID:
        payload = pb.InvoicePaid(invoice=invoice)
    elif event_type == INVOICE_VOIDED:
        payload = pb.InvoiceVoided(invoice=invoice)
    elif event_type == INVOICE_UNCOLLECTIBLE:
        payload = pb.InvoiceUncollectible(invoice=invoice)
    else:
        raise ValueError(event_type)
    await _publish(session, event_type, payload, invoice.invoice_id, invoice.tenant_id)


async def payment_failed(session: AsyncSession, invoice: pb.Invoice, code: str) -> None:
    payload = pb.InvoicePaymentFailed(invoice=invoice, failure_code=code)
    await _publish(session, INVOICE_PAYMENT_FAILED, payload, invoice.invoice_id, invoice.tenant_id)
