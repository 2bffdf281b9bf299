"""Customer invoices and vendor bills: drafts, posting (number and ledger entry),
cancellation by reversal, and drafts raised from won CRM deals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask
from google.type import date_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.common.v1 import event_pb2
from erp.crm.v1 import crm_pb2
from erp.finance.v1 import finance_pb2 as pb
from erp.finance.v1 import finance_service_pb2 as api
from mesh.context import current_tenant
from mesh.currencies import CODES
from mesh.dates import from_date_message, to_date_message
from mesh.db import plausible_id
from mesh.errors import FailedPrecondition, FieldViolation, InvalidArgument
from mesh.ids import new_id
from mesh.keyset import SortKey, keyset
from mesh.values import check_currency, check_email
from svc_finance import convert
from svc_finance.app.books import books
from svc_finance.app.common import Deps, replayable
from svc_finance.app.journal import reverse
from svc_finance.domain import invoices as rules
from svc_finance.domain.chart import AccountType
from svc_finance.domain.invoices import Kind, LineInput, State
from svc_finance.events import publish
from svc_finance.store import AccountRow, Entries, InvoiceRow, Invoices

EDITABLE = ("party", "issue_date", "due_date", "currency_code", "lines", "memo")
# Which accounts a line may name: income for invoices; expense or asset (bought
# equipment) for bills.
LINE_ACCOUNT_TYPES = {
    Kind.INVOICE: (AccountType.INCOME.value,),
    Kind.BILL: (AccountType.EXPENSE.value, AccountType.ASSET.value),
}
ID_MAX = 36
TAX_ID_MAX = 50


@dataclass(frozen=True)
class Draft:
    """A draft's content, checked."""

    party: dict[str, str]
    issue: date
    due: date
    currency: str
    lines: list[LineInput]
    memo: str


def due_after(issue: date, deps: Deps) -> date:
    """The default due date: the payment terms after the issue date."""
    try:
        return issue + timedelta(days=deps.config.payment_terms_days)
    except OverflowError:
        raise InvalidArgument.one("issue_date", "too late for the payment terms") from None


def check_party(values: dict[str, str]) -> list[FieldViolation]:
    found = []
    name = values["name"]
    if not name:
        found.append(FieldViolation("party.name", "is required"))
    elif len(name) > rules.PARTY_NAME_MAX or any(ord(c) < 32 for c in name):
        found.append(
            FieldViolation("party.name", f"at most {rules.PARTY_NAME_MAX} printable characters")
        )
    if values["email"]:
        found += check_email(values["email"], "party.email")
    if len(values["tax_id"]) > TAX_ID_MAX or "\x00" in values["tax_id"]:
        found.append(FieldViolation("party.tax_id", f"at most {TAX_ID_MAX} characters"))
    for key in ("crm_company_id", "crm_contact_id"):
        if len(values[key]) > ID_MAX or "\x00" in values[key]:
            found.append(FieldViolation(f"party.{key}", "not an id"))
    return found


def draft_of(
    deps: Deps,
    company_currency: str,
    party: pb.Party,
    issue_date: date_pb2.Date,
    due_date: date_pb2.Date,
    currency: str,
    lines: Sequence[pb.InvoiceLine],
    memo: str,
) -> Draft:
    values = convert.party_values(party)
    found = check_party(values)
    issue = from_date_message(issue_date, "issue_date") or deps.today()
    due = from_date_message(due_date, "due_date") or due_after(issue, deps)
    found += rules.check_dates(issue, due)
    currency = currency or company_currency
    problems = check_currency(currency, "currency_code")
    if not problems and currency not in CODES:
        problems.append(FieldViolation("currency_code", "not a supported currency"))
    found += problems
    if len(lines) > rules.LINES_MAX:
        found.append(FieldViolation("lines", f"at most {rules.LINES_MAX} lines"))
    if len(memo) > rules.MEMO_MAX or "\x00" in memo:
        found.append(FieldViolation("memo", f"at most {rules.MEMO_MAX} characters"))
    inputs = []
    for i, line in enumerate(lines):
        price_currency = line.unit_price.currency_code
        if price_currency and price_currency != currency:
            found.append(
                FieldViolation(
                    f"lines[{i}].unit_price.currency_code", f"must be the invoice's ({currency})"
                )
            )
        given = LineInput(
            description=line.description.strip(),
            quantity=line.quantity.strip(),
            unit_price_minor=line.unit_price.amount_minor,
            discount_bps=line.discount_bps,
            tax_rate_bps=line.tax_rate_bps,
            account_id=line.account_id,
        )
        problems = rules.check_line(given, f"lines[{i}]")
        found += problems
        if not problems:
            inputs.append(given)
    if not found:
        found += rules.check_totals(rules.totals(inputs))
    if found:
        raise InvalidArgument(found)
    return Draft(values, issue, due, currency, inputs, memo)


async def check_line_accounts(
    session: AsyncSession, kind: Kind, lines: Sequence[LineInput]
) -> None:
    ids = {a for a in (line.account_id for line in lines) if a and plausible_id(a)}
    if not ids:
        return
    stmt = select(AccountRow).where(
        AccountRow.tenant_id == current_tenant(), AccountRow.id.in_(ids)
    )
    known = {row.id: row for row in await session.scalars(stmt)}
    found = []
    for i, line in enumerate(lines):
        if not line.account_id:
            continue
        account = known.get(line.account_id)
        field = f"lines[{i}].account_id"
        if account is None:
            found.append(FieldViolation(field, "no such account"))
        elif account.archived:
            found.append(FieldViolation(field, f"account {account.code} is archived"))
        elif account.type not in LINE_ACCOUNT_TYPES[kind]:
            allowed = " or ".join(LINE_ACCOUNT_TYPES[kind])
            found.append(FieldViolation(field, f"must be an {allowed} account for a {kind.value}"))
    if found:
        raise InvalidArgument(found)


def line_values(line: LineInput) -> dict[str, Any]:
    amounts = rules.amounts(line)
    return {
        "description": line.description,
        "quantity": line.quantity,
        "unit_price_minor": line.unit_price_minor,
        "discount_bps": line.discount_bps,
        "tax_rate_bps": line.tax_rate_bps,
        "account_id": line.account_id,
        "net_minor": amounts.net,
        "tax_minor": amounts.tax,
    }


def apply_draft(row: InvoiceRow, draft: Draft) -> None:
    totals = rules.totals(draft.lines)
    row.party, row.issue_date, row.due_date = draft.party, draft.issue, draft.due
    row.currency, row.memo = draft.currency, draft.memo
    row.lines = [line_values(line) for line in draft.lines]
    row.subtotal_minor, row.tax_minor, row.total_minor = totals.subtotal, totals.tax, totals.total


def new_row(tenant_id: str, kind: Kind, draft: Draft, deps: Deps) -> InvoiceRow:
    now = deps.now()
    row = InvoiceRow(
        id=new_id(),
        tenant_id=tenant_id,
        kind=kind.value,
        number=None,
        state=State.DRAFT.value,
        paid_minor=0,
        rate="",
        company_total_minor=0,
        company_settled_minor=0,
        entry_id="",
        cancel_entry_id="",
        opportunity_id=None,
        created_at=now,
        updated_at=now,
        posted_at=None,
    )
    apply_draft(row, draft)
    return row


async def create_invoice(
    deps: Deps, request: api.CreateInvoiceRequest, kind: Kind
) -> api.CreateInvoiceResponse:
    async with deps.db.transaction() as session:

        async def run() -> api.CreateInvoiceResponse:
            ledger = await books(session, deps)
            draft = draft_of(
                deps,
                ledger.company_currency,
                request.party,
                request.issue_date,
                request.due_date,
                request.currency_code,
                request.lines,
                request.memo,
            )
            await check_line_accounts(session, kind, draft.lines)
            row = new_row(ledger.tenant_id, kind, draft, deps)
            session.add(row)
            await session.flush()
            return api.CreateInvoiceResponse(invoice=convert.invoice(row))

        return await replayable(session, request, api.CreateInvoiceResponse, run)


async def get_invoice(deps: Deps, invoice_id: str) -> InvoiceRow:
    async with deps.db.transaction() as session:
        return await Invoices(session).get(invoice_id)


async def list_invoices(
    deps: Deps, kind: Kind | None, state: State | None, page_size: int, page_token: str
) -> tuple[list[InvoiceRow], str]:
    keys = [
        SortKey("created", InvoiceRow.created_at, descending=True),
        SortKey("id", InvoiceRow.id, descending=True),
    ]
    pages = keyset(keys, page_size, page_token, query=f"{kind}|{state}")
    stmt = pages.select(InvoiceRow).where(InvoiceRow.tenant_id == current_tenant())
    if kind is not None:
        stmt = stmt.where(InvoiceRow.kind == kind.value)
    if state is not None:
        stmt = stmt.where(InvoiceRow.state == state.value)
    async with deps.db.transaction() as session:
        return await pages.fetch(session, stmt)


async def update_invoice(deps: Deps, given: pb.Invoice, paths: Sequence[str]) -> InvoiceRow:
    """AIP-134: a path names a field to replace (a message field as a whole, or one
    of the party's fields: `party.email`); the rest of the draft stays."""
    mask = FieldMask(paths=list(paths))
    for path in paths:
        top, _, sub = path.partition(".")
        if top not in EDITABLE or (sub and top != "party"):
            raise InvalidArgument.one("update_mask", f'"{path}" cannot be changed')
    if not mask.IsValidForDescriptor(pb.Invoice.DESCRIPTOR):
        raise InvalidArgument.one("update_mask", "names a field an invoice does not have")
    async with deps.db.transaction() as session:
        row = await Invoices(session).get(given.id, lock=True)
        rules.require_draft(State(row.state), "changed")
        ledger = await books(session, deps)
        merged = convert.invoice(row)
        mask.MergeMessage(given, merged, replace_message_field=True, replace_repeated_field=True)
        if "lines" not in paths:  # the stored prices follow the invoice's new currency
            for line in merged.lines:
                line.unit_price.currency_code = merged.currency_code
        draft = draft_of(
            deps,
            ledger.company_currency,
            merged.party,
            merged.issue_date,
            merged.due_date,
            merged.currency_code,
            merged.lines,
            merged.memo,
        )
        kind = Kind(row.kind)
        await check_line_accounts(session, kind, draft.lines)
        apply_draft(row, draft)
        row.updated_at = deps.now()
        return row


def line_input(values: dict[str, Any]) -> LineInput:
    return LineInput(
        values["description"],
        values["quantity"],
        values["unit_price_minor"],
        values["discount_bps"],
        values["tax_rate_bps"],
        values["account_id"],
    )


async def cancel_invoice(deps: Deps, invoice_id: str, reason: str) -> InvoiceRow:
    if len(reason) > 500 or "\x00" in reason:
        raise InvalidArgument.one("reason", "at most 500 characters")
    async with deps.db.transaction() as session:
        row = await Invoices(session).get(invoice_id, lock=True)
        state = State(row.state)
        if state is State.CANCELLED:
            return row
        if state in (State.PARTIALLY_PAID, State.PAID):
            raise FailedPrecondition(
                "payments are allocated to this invoice; it cannot be cancelled",
                reason="INVOICE_HAS_PAYMENTS",
            )
        now = deps.now()
        if state is State.POSTED:
            ledger = await books(session, deps, lock=True)
            entries = Entries(session)
            original = await entries.get(row.entry_id)
            lines = (await entries.lines_of([original.id]))[original.id]
            day = max(deps.today(), row.issue_date)
            memo = f"Cancellation of {row.number}" + (f": {reason}" if reason else "")
            back = await reverse(session, ledger, original, lines, day, memo[:500], deps)
            row.cancel_entry_id = back.entry.id
        row.state, row.updated_at = State.CANCELLED.value, now
        await publish(session, pb.InvoiceCancelled(invoice=convert.invoice(row)), row.id)
        return row


async def draft_from_opportunity(
    session: AsyncSession,
    deps: Deps,
    envelope: event_pb2.EventEnvelope,
    won: crm_pb2.OpportunityWon,
) -> None:
    """A won deal becomes a draft invoice for its amount (once per deal)."""
    deal = won.opportunity
    invoices = Invoices(session)
    if not deal.id or await invoices.of_opportunity(deal.id) is not None:
        return
    ledger = await books(session, deps)
    bill_to = won.bill_to
    name = bill_to.company_name or bill_to.contact_name or deal.name or "Customer"
    amount = won.amount if won.HasField("amount") else deal.amount
    currency = amount.currency_code or ledger.company_currency
    if currency not in CODES:
        currency = ledger.company_currency
    line = pb.InvoiceLine(
        description=(deal.name or "Won opportunity")[: rules.DESCRIPTION_MAX],
        quantity="1",
        unit_price=convert.money(currency, max(0, amount.amount_minor)),
    )
    party = pb.Party(
        name=name[: rules.PARTY_NAME_MAX],
        email=bill_to.email,
        crm_company_id=bill_to.company_id,
        crm_contact_id=bill_to.contact_id,
    )
    if check_email(party.email.strip().lower(), "email"):
        party.email = ""
    issue = to_date_message(envelope.occurred_at.ToDatetime().date())
    no_due_date = date_pb2.Date()  # all zero: the payment terms decide
    draft = draft_of(deps, ledger.company_currency, party, issue, no_due_date, currency, [line], "")
    row = new_row(ledger.tenant_id, Kind.INVOICE, draft, deps)
    row.opportunity_id = deal.id
    row.memo = f"Won opportunity {deal.name}"[: rules.MEMO_MAX]
    session.add(row)
    await session.flush()
    await publish(session, pb.InvoiceDrafted(invoice=convert.invoice(row)), row.id)
