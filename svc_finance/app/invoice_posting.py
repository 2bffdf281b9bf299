"""Posting invoices and bills: a number from the gap-free sequence of the kind and
year, and the ledger entry (receivable or payable against income or expense and
tax).

Postings of one tenant all need its books locked, so they are batched
(mesh.batching): the requests waiting at one moment are posted in one transaction
that locks the invoices and the books once, reads the role accounts and closed
periods once, and writes every entry, line, event and head move in one statement.
Every check of an invoice comes before anything of it is chained, so one bad
invoice fails alone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from erp.common.v1 import event_pb2
from erp.finance.v1 import finance_pb2 as pb
from mesh.batching import Item
from mesh.context import current_tenant
from mesh.errors import DomainError, FailedPrecondition, NotFound
from mesh.events import envelopes_of
from svc_finance import convert
from svc_finance.app.books import books, roles_cached, with_role
from svc_finance.app.common import Deps, actor_id
from svc_finance.app.invoices import check_line_accounts, line_input
from svc_finance.app.ledger import (
    Chained,
    Posting,
    chain,
    rate_on,
    require_open,
    take_number,
    write,
)
from svc_finance.domain import invoices as rules
from svc_finance.domain.chart import Role
from svc_finance.domain.fx import ONE, to_company
from svc_finance.domain.invoices import Kind, State
from svc_finance.domain.ledger import Line, Source, check_balanced
from svc_finance.events import SOURCE
from svc_finance.store import INVOICE_TABLE, AccountRow, BooksRow, InvoiceRow, Invoices

_POSTED = (
    update(INVOICE_TABLE)
    .where(INVOICE_TABLE.c.id == bindparam("row_id"))
    .values(
        number=bindparam("number"),
        state=State.POSTED.value,
        rate=bindparam("rate"),
        company_total_minor=bindparam("company_total"),
        entry_id=bindparam("entry"),
        posted_at=bindparam("at"),
        updated_at=bindparam("at"),
    )
)


async def post_invoice(deps: Deps, invoice_id: str) -> pb.Invoice:
    """The invoice as posted (or as it was, when posted already)."""
    return await deps.invoice_posting.run(current_tenant(), invoice_id)


async def post_batch(
    session: AsyncSession, deps: Deps, items: Sequence[Item[str, pb.Invoice]]
) -> list[pb.Invoice | Exception]:
    rows = await Invoices(session).lock_many(sorted({item.value for item in items}))
    ledger = await books(session, deps, lock=True)
    now = deps.now()
    answers: list[pb.Invoice | Exception] = []
    chained: list[Chained] = []
    envelopes: list[event_pb2.EventEnvelope] = []
    posted: list[dict[str, object]] = []
    rates: dict[tuple[str, date], str] = {}
    for item in items:
        row = rows.get(item.value)
        try:
            if row is None:
                raise NotFound("invoice not found", reason="NOT_FOUND")
            checked = await checked_lines(session, ledger, row, rates)
        except DomainError as error:  # this invoice's own problem; the others go on
            answers.append(error)
            continue
        if checked is None:
            answers.append(convert.invoice(row))  # posted already: posting is idempotent
            continue
        lines, rate = checked
        kind = Kind(row.kind)
        year = row.issue_date.year
        number = rules.number(kind, year, take_number(ledger, rules.sequence_name(kind, year)))
        memo = f"{number} {row.party.get('name', '')}"[:500]
        posting = Posting(row.issue_date, memo, Source.INVOICE, lines, source_id=row.id)
        entry = chain(ledger, posting, now, item.context.run(actor_id))
        changes = {
            "number": number,
            "state": State.POSTED.value,
            "rate": rate,
            "company_total_minor": entry.posted.entry.total_minor,
            "entry_id": entry.posted.entry.id,
            "posted_at": now,
            "updated_at": now,
        }
        for name, value in changes.items():  # the row as written below
            set_committed_value(row, name, value)
        message = convert.invoice(row)
        answers.append(message)  # the caller's answer is the event's invoice
        events = [entry.event(), (pb.InvoicePosted(invoice=message), row.id)]
        envelopes += item.context.run(envelopes_of, SOURCE, events)
        chained.append(entry)
        posted.append(
            {
                "row_id": row.id,
                "number": number,
                "rate": rate,
                "company_total": entry.posted.entry.total_minor,
                "entry": entry.posted.entry.id,
                "at": now,
            }
        )
    if chained:
        await write(session, ledger, chained, envelopes)
        await session.execute(_POSTED, posted)
    return answers


async def checked_lines(
    session: AsyncSession, ledger: BooksRow, row: InvoiceRow, rates: dict[tuple[str, date], str]
) -> tuple[list[Line], str] | None:
    """The invoice's ledger lines and rate, every check passed (the books are locked,
    so no period can close meanwhile); None when it is posted already."""
    state = State(row.state)
    if state is State.CANCELLED:
        raise FailedPrecondition("a cancelled invoice cannot be posted", reason="CANCELLED")
    if state is not State.DRAFT:
        return None
    if row.total_minor <= 0:
        raise FailedPrecondition("nothing to post: the total is zero", reason="EMPTY_INVOICE")
    kind = Kind(row.kind)
    await check_line_accounts(session, kind, [line_input(v) for v in row.lines])
    await require_open(session, row.issue_date)
    key = (row.currency, row.issue_date)
    if key not in rates:
        rates[key] = await rate_on(session, ledger, row.currency, row.issue_date, "currency_code")
    roles = await roles_cached(session)
    lines = posting_lines(row, kind, rates[key], ledger.company_currency, roles)
    check_balanced(lines)
    return lines, rates[key]


def posting_lines(
    row: InvoiceRow, kind: Kind, rate: str, company: str, roles: dict[Role, AccountRow]
) -> list[Line]:
    """Receivable (payable) for the total against income (expense) per account and
    tax; in the company currency each side is converted once, and the receivable
    takes their sum, so the entry balances exactly. Tax is owed to (or claimed from)
    the tax office in the company currency, so its line is in that currency at the
    invoice's rate, and revaluation leaves it alone."""
    default = with_role(roles, Role.SALES if kind is Kind.INVOICE else Role.PURCHASES)
    nets: dict[str, int] = {}
    for values in row.lines:
        account = values["account_id"] or default.id
        nets[account] = nets.get(account, 0) + values["net_minor"]
    cur = row.currency
    revenue = [
        Line(a, cur, 0, amount, 0, to_company(amount, cur, rate, company), rate, "")
        for a, amount in nets.items()
        if amount
    ]
    if row.tax_minor:
        tax_account = with_role(
            roles, Role.TAX_PAYABLE if kind is Kind.INVOICE else Role.TAX_RECEIVABLE
        )
        tax = to_company(row.tax_minor, cur, rate, company)
        revenue.append(Line(tax_account.id, company, 0, tax, 0, tax, ONE, "Tax"))
    counter = with_role(roles, Role.RECEIVABLE if kind is Kind.INVOICE else Role.PAYABLE)
    company_total = sum(line.company_credit_minor for line in revenue)
    lines = [
        Line(counter.id, cur, row.total_minor, 0, company_total, 0, rate, row.party["name"]),
        *revenue,
    ]
    # A bill is the mirror image: payable credited, expense and input tax debited.
    return lines if kind is Kind.INVOICE else [line.mirrored() for line in lines]
