"""Invoices: issuing (numbered without gaps), collecting through the provider,
and the operator's bank-transfer booking, void and write-off."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from erp.billing.v1 import billing_pb2 as pb
from mesh import paging
from mesh.context import acting_for_tenant
from mesh.errors import FailedPrecondition, InvalidArgument
from mesh.idempotency import remember, replayed
from mesh.ids import new_id
from svc_billing import convert, events
from svc_billing.app import catalog
from svc_billing.app.common import Deps, R, Replay, require_platform_operator
from svc_billing.app.entitlements import limits_of, save
from svc_billing.app.usage import value
from svc_billing.domain import subscription as rules
from svc_billing.domain.invoicing import (
    InvoiceStatus,
    Line,
    format_number,
    renewal_lines,
    totals,
    transition,
)
from svc_billing.payments import ChargeRequest, ProviderUnavailable, manual_reference_valid
from svc_billing.store import (
    TABLES,
    InvoiceRow,
    Invoices,
    PaymentRow,
    SubscriptionRow,
    Subscriptions,
    next_number,
)

log = logging.getLogger("svc_billing.invoices")


def draft(
    deps: Deps,
    sub: SubscriptionRow,
    lines: Sequence[Line],
    reason: str,
    period: tuple[datetime, datetime],
) -> InvoiceRow:
    """An unsaved draft with its totals (PreviewPlanChange shows one)."""
    sums = totals(lines, sub.tax_rate_bps)
    return InvoiceRow(
        id=new_id(),
        tenant_id=sub.tenant_id,
        number=None,
        status=str(InvoiceStatus.DRAFT),
        currency=sub.currency,
        lines=[convert.line_json(line) for line in lines],
        subtotal=sums.subtotal,
        tax_rate_bps=sub.tax_rate_bps,
        tax=sums.tax,
        total=sums.total,
        amount_paid=0,
        subscription_id=sub.id,
        period_start=period[0],
        period_end=period[1],
        reason=reason,
        payment_reference="",
        last_payment_error="",
        payment_attempts=0,
        created_at=deps.now(),
    )


async def issue(
    session: AsyncSession,
    deps: Deps,
    sub: SubscriptionRow,
    lines: Sequence[Line],
    reason: str,
    period: tuple[datetime, datetime],
) -> InvoiceRow | None:
    """Finalize an invoice at once (draft -> open, numbered); None when it has no lines.

    A negative total (a downgrade's credit) is not collected: it goes to the
    tenant's credit balance, and the balance is taken off the next invoices.
    """
    if not lines:
        return None
    now = deps.now()
    row = Invoices(session, sub.tenant_id).add(draft(deps, sub, lines, reason, period))
    row.status = str(transition(InvoiceStatus.DRAFT, InvoiceStatus.OPEN))
    row.number = format_number(deps.config.issuer, await next_number(session, deps.config.issuer))
    row.issued_at = now
    row.due_at = now + deps.config.payment_terms
    if row.total < 0:
        sub.credit_balance += -row.total
        row.amount_paid = row.total
        row.payment_reference = "credited to the account balance"
    elif sub.credit_balance > 0 and row.total > 0:
        applied = min(sub.credit_balance, row.total)
        sub.credit_balance -= applied
        row.amount_paid = applied
        row.payment_reference = "account credit"
    await session.flush()
    await events.invoice_event(session, events.INVOICE_OPENED, convert.invoice_message(row))
    if row.amount_paid >= row.total:
        await _mark_paid(session, row, row.payment_reference, now)
    return row


async def issue_for_period(
    session: AsyncSession,
    deps: Deps,
    row: SubscriptionRow,
    sub: rules.Subscription,
    reason: str,
    closed: tuple[datetime, datetime] | None,
) -> InvoiceRow | None:
    """The invoice of `sub`'s current period, in advance: plan and add-ons, plus the
    overage of the `closed` period (in arrears). None when it would be for nothing."""
    plan = await catalog.version(session, sub.plan_id, sub.plan_version)
    known = await catalog.addons(session)
    chosen = {k: (known[k], q) for k, q in sub.addons.items() if k in known}
    _, _, limits = await limits_of(session, sub)
    used = {} if closed is None else {m: (await value(session, m, closed))[1] for m in plan.metered}
    period = (sub.period_start, sub.period_end)
    lines = renewal_lines(
        plan, sub.interval, chosen, used, limits, *period, usage_period=closed or period
    )
    if sum(line.amount for line in lines) == 0:
        return None  # the Free plan: no invoice for nothing
    return await issue(session, deps, row, lines, reason, period)


async def _mark_paid(session: AsyncSession, row: InvoiceRow, reference: str, now: datetime) -> None:
    row.status = str(transition(InvoiceStatus(row.status), InvoiceStatus.PAID))
    row.amount_paid = max(row.amount_paid, row.total)
    row.paid_at = now
    row.payment_reference = reference
    row.last_payment_error = ""
    await events.invoice_event(session, events.INVOICE_PAID, convert.invoice_message(row))


async def _restore_if_settled(
    session: AsyncSession, deps: Deps, sub_row: SubscriptionRow, now: datetime
) -> None:
    """Paying the last overdue invoice brings a past-due or suspended tenant back."""
    if await Invoices(session, sub_row.tenant_id).blocking(now):
        return
    sub = convert.subscription(sub_row)
    restored = rules.payment_succeeded(sub, now)
    if restored != sub:
        await save(session, sub_row, restored, "reactivated", now)
    if restored.period_start != sub.period_start:
        # Suspended past the period's end: service resumes with a fresh period,
        # invoiced like a renewal (suspended time is not billed).
        await issue_for_period(session, deps, sub_row, restored, "renewal", None)


@dataclass(frozen=True)
class Paid:
    invoice: InvoiceRow
    subscription: SubscriptionRow


async def pay(
    deps: Deps, invoice_id: str, idempotency_key: str, replay: Replay[R, Paid] | None = None
) -> R | Paid:
    """Charge an open invoice with the payment method on file.

    The provider is called outside any transaction (it is a network call), with the
    caller's idempotency key (or one per attempt), so a retried call charges at most
    once; with `replay`, a retry with the same key also gets the first answer back.
    """
    async with deps.db.sessions() as session:
        if replay is not None:
            first = await replayed(session, TABLES, replay.request, replay.response_type)
            if first is not None:
                return first
        row = await Invoices(session).get(invoice_id)
        sub = await Subscriptions(session).get(row.subscription_id)
        if row.status not in ("open", "uncollectible"):
            raise FailedPrecondition(
                f"invoice {row.number} is {row.status}; only open invoices are paid",
                reason="INVOICE_NOT_OPEN",
                metadata={"status": row.status},
            )
        provider = deps.providers.get(sub.provider)
        if sub.provider == "manual" or provider is None:
            raise FailedPrecondition(
                f"this subscription pays by bank transfer: transfer "
                f"{(row.total - row.amount_paid) / 100:.2f} {row.currency} quoting {row.number}",
                reason="MANUAL_PAYMENT_REQUIRED",
                metadata={"invoice_number": row.number or ""},
            )
        attempt = row.payment_attempts + 1  # counted once the provider has answered
        request = ChargeRequest(
            tenant_id=row.tenant_id,
            invoice_id=row.id,
            invoice_number=row.number or "",
            amount_minor=row.total - row.amount_paid,
            currency=row.currency,
            customer_ref=sub.customer_ref or None,
            payment_method=sub.payment_method or None,
            idempotency_key=idempotency_key or f"{row.id}-attempt-{attempt}",
        )
    try:
        result = await provider.charge(request)
    except ProviderUnavailable as exc:
        log.warning("payment provider unavailable", extra={"error": str(exc)})
        raise FailedPrecondition(
            "the payment provider cannot be reached right now; nothing was charged, "
            "try again in a few minutes",
            reason="PROVIDER_UNAVAILABLE",
        ) from None
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Invoices(session).get(invoice_id)
        sub = await Subscriptions(session).get(row.subscription_id)
        row.payment_attempts += 1
        if result.customer_ref:
            sub.customer_ref = result.customer_ref
        Invoices(session).session.add(
            PaymentRow(
                id=new_id(),
                tenant_id=row.tenant_id,
                invoice_id=row.id,
                provider=provider.name,
                amount=request.amount_minor,
                currency=row.currency,
                succeeded=result.succeeded,
                reference=result.reference,
                failure_code=result.failure_code,
                created_at=now,
            )
        )
        if result.succeeded and row.status in ("open", "uncollectible"):
            await _mark_paid(session, row, result.reference, now)
            await _restore_if_settled(session, deps, sub, now)
        elif not result.succeeded:
            row.last_payment_error = result.failure_message[:500] or result.failure_code
            await events.payment_failed(session, convert.invoice_message(row), result.failure_code)
            failed = rules.payment_failed(convert.subscription(sub), now)
            if failed != convert.subscription(sub):
                await save(session, sub, failed, "past_due", now)
        paid = Paid(row, sub)
        if replay is not None:
            answer = replay.render(paid)
            await remember(session, TABLES, replay.request, answer)
            return answer
    return paid


async def record_manual_payment(
    deps: Deps, tenant_id: str, invoice_id: str, reference: str
) -> InvoiceRow:
    require_platform_operator(deps)
    if not manual_reference_valid(reference):
        raise InvalidArgument.one("reference", "the bank transfer reference, 1-140 characters")
    now = deps.now()
    with acting_for_tenant(tenant_id):
        async with deps.db.transaction() as session:
            row = await Invoices(session).get(invoice_id)
            sub = await Subscriptions(session).get(row.subscription_id)
            await _mark_paid(session, row, reference, now)
            await _restore_if_settled(session, deps, sub, now)
    return row


async def close(deps: Deps, tenant_id: str, invoice_id: str, target: InvoiceStatus) -> InvoiceRow:
    """Void or write off a tenant's invoice (operators)."""
    require_platform_operator(deps)
    now = deps.now()
    with acting_for_tenant(tenant_id):
        async with deps.db.transaction() as session:
            row = await Invoices(session).get(invoice_id)
            row.status = str(transition(InvoiceStatus(row.status), target))
            kind = (
                events.INVOICE_VOIDED
                if target is InvoiceStatus.VOID
                else (events.INVOICE_UNCOLLECTIBLE)
            )
            await events.invoice_event(session, kind, convert.invoice_message(row))
            if target is InvoiceStatus.VOID:
                sub = await Subscriptions(session).get(row.subscription_id)
                await _restore_if_settled(session, deps, sub, now)
    return row


async def get(deps: Deps, invoice_id: str) -> InvoiceRow:
    async with deps.db.sessions() as session:
        return await Invoices(session).get(invoice_id)


async def page(
    deps: Deps, request: paging.Page, status: pb.InvoiceStatus.ValueType
) -> list[InvoiceRow]:
    wanted = convert.INVOICE_STATUS_OF.get(status) if status else None
    async with deps.db.sessions() as session:
        return await Invoices(session).page(request.after, request.size, wanted)
