"""Payments: recording (with allocations to invoices or bills), allocating a
payment's credit later, listing.

An incoming payment debits the bank for its value at the payment date's rate and
credits each invoice's receivable for the part it clears at the invoice's own
rate; what is not allocated is the customer's credit; the difference is realised
exchange gain or loss. Outgoing payments are the mirror image."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from erp.common.v1 import money_pb2
from erp.finance.v1 import finance_pb2 as pb
from erp.finance.v1 import finance_service_pb2 as api
from mesh.context import current_tenant
from mesh.currencies import CODES
from mesh.errors import FailedPrecondition, FieldViolation, InvalidArgument
from mesh.ids import new_id
from mesh.keyset import SortKey, keyset
from mesh.values import check_currency
from svc_finance import convert
from svc_finance.app.books import account_for, books
from svc_finance.app.common import Deps, replayable
from svc_finance.app.invoices import check_party
from svc_finance.app.ledger import Posting, company_line, post, rate_on, take_number
from svc_finance.domain.chart import AccountType, Role
from svc_finance.domain.fx import from_company, to_company
from svc_finance.domain.invoices import OPEN_STATES, Kind, State, state_after_payment
from svc_finance.domain.ledger import AMOUNT_MAX, Line, Source
from svc_finance.domain.payments import settled_company, share
from svc_finance.events import publish
from svc_finance.store import (
    AccountRow,
    Accounts,
    BooksRow,
    InvoiceRow,
    Invoices,
    PaymentRow,
    Payments,
)

INCOMING, OUTGOING = "incoming", "outgoing"
SETTLES = {INCOMING: Kind.INVOICE, OUTGOING: Kind.BILL}
ALLOCATIONS_MAX = 500
REFERENCE_MAX = 200
MEMO_MAX = 500


@dataclass(frozen=True)
class AllocationInput:
    invoice_id: str
    amount: money_pb2.Money


@dataclass
class Settlement:
    invoice: InvoiceRow
    amount: int  # in the invoice's currency
    applied: int  # in the payment's currency
    company: int  # what it takes of the payment, in the company currency
    settled: int  # what it clears of the receivable, in the company currency

    @property
    def difference(self) -> int:
        """Exchange gain (positive) or loss of an incoming payment."""
        return self.company - self.settled


def check_amount(amount: money_pb2.Money, field: str) -> list[FieldViolation]:
    found = check_currency(amount.currency_code, f"{field}.currency_code")
    if not found and amount.currency_code not in CODES:
        found.append(FieldViolation(f"{field}.currency_code", "not a supported currency"))
    if not 0 < amount.amount_minor <= AMOUNT_MAX:
        found.append(FieldViolation(f"{field}.amount_minor", f"must be 1 to {AMOUNT_MAX}"))
    return found


def check_allocations(given: Sequence[AllocationInput]) -> None:
    if len(given) > ALLOCATIONS_MAX:
        raise InvalidArgument.one("allocations", f"at most {ALLOCATIONS_MAX}")
    found: list[FieldViolation] = []
    seen: set[str] = set()
    for i, allocation in enumerate(given):
        if not allocation.invoice_id:
            found.append(FieldViolation(f"allocations[{i}].invoice_id", "is required"))
        elif allocation.invoice_id in seen:
            found.append(FieldViolation(f"allocations[{i}].invoice_id", "given twice"))
        seen.add(allocation.invoice_id)
        found += check_amount(allocation.amount, f"allocations[{i}].amount")
    if found:
        raise InvalidArgument(found)


async def locked_invoices(
    session: AsyncSession, given: Sequence[AllocationInput]
) -> dict[str, InvoiceRow]:
    """The allocations' invoices, locked in id order (no two payments deadlock)."""
    invoices = Invoices(session)
    found: dict[str, InvoiceRow] = {}
    for invoice_id in sorted({a.invoice_id for a in given}):
        row = await invoices.find(invoice_id, lock=True)
        if row is not None:
            found[invoice_id] = row
    missing = [
        FieldViolation(f"allocations[{i}].invoice_id", "no such invoice")
        for i, a in enumerate(given)
        if a.invoice_id not in found
    ]
    if missing:
        raise InvalidArgument(missing)
    return found


async def plan(
    session: AsyncSession,
    ledger: BooksRow,
    direction: str,
    currency: str,
    rate: str,
    day: date,
    given: Sequence[AllocationInput],
    invoices: dict[str, InvoiceRow],
) -> list[Settlement]:
    """Check each allocation against its invoice and work out its amounts; `company`
    is its value at the payment date's rates."""
    company_currency = ledger.company_currency
    plans = []
    for i, allocation in enumerate(given):
        where = f"allocations[{i}]"
        invoice = invoices[allocation.invoice_id]
        kind = Kind(invoice.kind)
        if kind is not SETTLES[direction]:
            raise InvalidArgument.one(
                f"{where}.invoice_id",
                f"{direction} payments settle {SETTLES[direction].value}s; this is a {kind.value}",
            )
        if State(invoice.state) not in OPEN_STATES:
            raise FailedPrecondition(
                f"{invoice.number or 'the draft'} is {invoice.state}; only posted, unpaid "
                "invoices take payments",
                reason="INVOICE_NOT_OPEN",
                metadata={"invoice_id": invoice.id, "field": f"{where}.invoice_id"},
            )
        amount = allocation.amount.amount_minor
        if allocation.amount.currency_code != invoice.currency:
            raise InvalidArgument.one(
                f"{where}.amount.currency_code",
                f"must be the invoice's currency ({invoice.currency})",
            )
        due = invoice.total_minor - invoice.paid_minor
        if amount > due:
            raise InvalidArgument.one(
                f"{where}.amount.amount_minor", f"exceeds the amount due ({due})"
            )
        if invoice.currency == currency:
            applied = amount
            company = to_company(applied, currency, rate, company_currency)
        else:
            invoice_rate = await rate_on(
                session, ledger, invoice.currency, day, f"{where}.amount.currency_code"
            )
            company = to_company(amount, invoice.currency, invoice_rate, company_currency)
            applied = from_company(company, currency, rate, company_currency)
        settled = settled_company(
            invoice.total_minor,
            invoice.paid_minor,
            invoice.company_total_minor,
            invoice.company_settled_minor,
            amount,
        )
        plans.append(Settlement(invoice, amount, applied, company, settled))
    return plans


async def settlement_lines(
    session: AsyncSession, ledger: BooksRow, plans: Sequence[Settlement]
) -> list[Line]:
    """Receivable credits at the invoices' rates and the realised difference, as for
    an incoming payment."""
    receivable = await account_for(session, Role.RECEIVABLE)
    payable = await account_for(session, Role.PAYABLE)
    lines = []
    for p in plans:
        account = receivable if Kind(p.invoice.kind) is Kind.INVOICE else payable
        lines.append(
            Line(
                account.id,
                p.invoice.currency,
                0,
                p.amount,
                0,
                p.settled,
                p.invoice.rate,
                p.invoice.number or "",
            )
        )
    difference = sum(p.difference for p in plans)
    if difference:
        # Sign as for money in: a credit is a gain. The outgoing mirror turns it round.
        lines.append(company_line("", ledger.company_currency, -difference, "Exchange difference"))
    return lines


async def exchange_accounts(session: AsyncSession, lines: list[Line]) -> list[Line]:
    """Give the exchange-difference line (account "") its account by its side."""
    out = []
    for line in lines:
        if line.account_id == "":
            role = Role.FX_LOSS if line.company_debit_minor else Role.FX_GAIN
            line = replace(line, account_id=(await account_for(session, role)).id)
        out.append(line)
    return out


def settle(plans: Sequence[Settlement]) -> list[InvoiceRow]:
    """Apply the plans to their invoices; the ones now fully paid."""
    paid = []
    for p in plans:
        invoice = p.invoice
        invoice.paid_minor += p.amount
        invoice.company_settled_minor += p.settled
        state = state_after_payment(invoice.total_minor, invoice.paid_minor)
        invoice.state = state.value
        if state is State.PAID:
            paid.append(invoice)
    return paid


def allocation_values(
    plans: Sequence[Settlement], entry_id: str, direction: str
) -> list[dict[str, object]]:
    # `difference` is an incoming payment's gain; paying out, the same sign is a loss.
    sign = 1 if direction == INCOMING else -1
    return [
        {
            "invoice_id": p.invoice.id,
            "invoice_number": p.invoice.number or "",
            "currency": p.invoice.currency,
            "amount_minor": p.amount,
            "applied_minor": p.applied,
            "difference_minor": sign * p.difference,
            "entry_id": entry_id,
        }
        for p in plans
    ]


async def bank_account(session: AsyncSession, account_id: str) -> AccountRow:
    if not account_id:
        return await account_for(session, Role.BANK)
    found = await Accounts(session).find(account_id)
    if found is None:
        raise InvalidArgument.one("bank_account_id", "no such account")
    if found.type != AccountType.ASSET.value or found.archived:
        raise InvalidArgument.one("bank_account_id", "must be an asset account in use")
    return found


async def create_payment(
    deps: Deps,
    request: api.CreatePaymentRequest,
    direction: str,
    day: date | None,
    given: Sequence[AllocationInput],
) -> api.CreatePaymentResponse:
    found = check_amount(request.amount, "amount")
    if len(request.reference) > REFERENCE_MAX or "\x00" in request.reference:
        found.append(FieldViolation("reference", f"at most {REFERENCE_MAX} characters"))
    if len(request.memo) > MEMO_MAX or "\x00" in request.memo:
        found.append(FieldViolation("memo", f"at most {MEMO_MAX} characters"))
    if found:
        raise InvalidArgument(found)
    check_allocations(given)
    party = convert.party_values(request.party)
    async with deps.db.transaction() as session:

        async def run() -> api.CreatePaymentResponse:
            invoices = await locked_invoices(session, given)
            if not party["name"] and given:
                party.update(invoices[given[0].invoice_id].party)
            problems = check_party(party)
            if problems:
                raise InvalidArgument(problems)
            ledger = await books(session, deps, lock=True)
            when = day or deps.today()
            currency, amount = request.amount.currency_code, request.amount.amount_minor
            rate = await rate_on(session, ledger, currency, when, "amount.currency_code")
            company_amount = to_company(amount, currency, rate, ledger.company_currency)
            plans = await plan(session, ledger, direction, currency, rate, when, given, invoices)
            applied = sum(p.applied for p in plans)
            if applied > amount:
                raise InvalidArgument.one(
                    "allocations", f"take {applied}, more than the payment's {amount}"
                )
            unallocated = amount - applied
            # The credit left is valued on its own at the payment's rate; what rounding
            # leaves between the parts goes to the last allocation (and so to the
            # exchange difference), never to the credit: no line can turn negative.
            company_unallocated = to_company(unallocated, currency, rate, ledger.company_currency)
            remainder = company_amount - sum(p.company for p in plans) - company_unallocated
            if plans:
                plans[-1].company += remainder
            else:
                company_unallocated += remainder
            bank = await bank_account(session, request.bank_account_id)
            lines = [Line(bank.id, currency, amount, 0, company_amount, 0, rate, party["name"])]
            lines += await settlement_lines(session, ledger, plans)
            if unallocated:
                credit_role = Role.CUSTOMER_CREDIT if direction == INCOMING else Role.VENDOR_CREDIT
                credit = await account_for(session, credit_role)
                lines.append(
                    Line(
                        credit.id, currency, 0, unallocated, 0, company_unallocated, rate, "Credit"
                    )
                )
            if direction == OUTGOING:
                lines = [line.mirrored() for line in lines]
            lines = await exchange_accounts(session, lines)
            year = when.year
            number = f"PAY-{year:04d}-{take_number(ledger, f'PAY-{year:04d}'):06d}"
            memo = f"{number} {party['name']}"[:500]
            payment_id = new_id()
            posted = await post(
                session,
                ledger,
                Posting(when, memo, Source.PAYMENT, lines, source_id=payment_id),
                deps.now(),
            )
            paid_now = settle(plans)
            row = PaymentRow(
                id=payment_id,
                tenant_id=ledger.tenant_id,
                number=number,
                direction=direction,
                party=party,
                date=when,
                currency=currency,
                amount_minor=amount,
                bank_account_id=bank.id,
                reference=request.reference.strip(),
                memo=request.memo,
                rate=rate,
                company_amount_minor=company_amount,
                unallocated_minor=unallocated,
                company_unallocated_minor=company_unallocated,
                allocations=allocation_values(plans, posted.entry.id, direction),
                entry_ids=[posted.entry.id],
                reconciled=False,
                created_at=deps.now(),
            )
            session.add(row)
            await announce(session, row, paid_now)
            return api.CreatePaymentResponse(payment=convert.payment(row))

        return await replayable(session, request, api.CreatePaymentResponse, run)


async def announce(session: AsyncSession, row: PaymentRow, paid: Sequence[InvoiceRow]) -> None:
    await publish(session, pb.PaymentRecorded(payment=convert.payment(row)), row.id)
    for invoice in paid:
        await publish(session, pb.InvoicePaid(invoice=convert.invoice(invoice)), invoice.id)


async def allocate_payment(
    deps: Deps, request: api.AllocatePaymentRequest, given: Sequence[AllocationInput]
) -> api.AllocatePaymentResponse:
    if not given:
        raise InvalidArgument.one("allocations", "give one allocation or more")
    check_allocations(given)
    async with deps.db.transaction() as session:

        async def run() -> api.AllocatePaymentResponse:
            row = await Payments(session).get(request.id, lock=True)
            invoices = await locked_invoices(session, given)
            ledger = await books(session, deps, lock=True)
            if row.unallocated_minor <= 0:
                raise FailedPrecondition(
                    f"{row.number} has no credit left to allocate", reason="NO_CREDIT"
                )
            when = max([row.date, *(invoices[a.invoice_id].issue_date for a in given)])
            plans = await plan(
                session, ledger, row.direction, row.currency, row.rate, when, given, invoices
            )
            applied = sum(p.applied for p in plans)
            if applied > row.unallocated_minor:
                raise InvalidArgument.one(
                    "allocations",
                    f"take {applied}, more than the payment's credit of {row.unallocated_minor}",
                )
            # The credit was booked at the payment's rate: each allocation takes its
            # share of that value; the last one all that is left.
            pool, pool_company = row.unallocated_minor, row.company_unallocated_minor
            for p in plans:
                p.company = share(pool_company, pool, p.applied)
                pool, pool_company = pool - p.applied, pool_company - p.company
            credit_role = Role.CUSTOMER_CREDIT if row.direction == INCOMING else Role.VENDOR_CREDIT
            credit = await account_for(session, credit_role)
            taken = sum(p.company for p in plans)
            lines = [Line(credit.id, row.currency, applied, 0, taken, 0, row.rate, "Credit used")]
            lines += await settlement_lines(session, ledger, plans)
            if row.direction == OUTGOING:
                lines = [line.mirrored() for line in lines]
            lines = await exchange_accounts(session, lines)
            memo = f"{row.number} allocated"
            posted = await post(
                session,
                ledger,
                Posting(when, memo, Source.PAYMENT, lines, source_id=row.id),
                deps.now(),
            )
            paid_now = settle(plans)
            row.unallocated_minor -= applied
            row.company_unallocated_minor -= taken
            row.allocations = [
                *row.allocations,
                *allocation_values(plans, posted.entry.id, row.direction),
            ]
            row.entry_ids = [*row.entry_ids, posted.entry.id]
            await announce(session, row, paid_now)
            return api.AllocatePaymentResponse(payment=convert.payment(row))

        return await replayable(session, request, api.AllocatePaymentResponse, run)


async def get_payment(deps: Deps, payment_id: str) -> PaymentRow:
    async with deps.db.transaction() as session:
        return await Payments(session).get(payment_id)


async def list_payments(
    deps: Deps, direction: str, unallocated_only: bool, page_size: int, page_token: str
) -> tuple[list[PaymentRow], str]:
    keys = [
        SortKey("created", PaymentRow.created_at, descending=True),
        SortKey("id", PaymentRow.id, descending=True),
    ]
    pages = keyset(keys, page_size, page_token, query=f"{direction}|{unallocated_only}")
    stmt = pages.select(PaymentRow).where(PaymentRow.tenant_id == current_tenant())
    if direction:
        stmt = stmt.where(PaymentRow.direction == direction)
    if unallocated_only:
        stmt = stmt.where(PaymentRow.unallocated_minor > 0)
    async with deps.db.transaction() as session:
        return await pages.fetch(session, stmt)
