"""Property-based: random sequences of bookkeeping for a fresh tenant keep the books
sound, on SQLite and PostgreSQL.

A sequence mixes invoices and bills (random lines, quantities, discounts, taxes, in
EUR or USD), posting, payments in or out (partial, exact, over, cross-currency, or
pure credit), later allocations of credit, cancellations (reversals), manual
entries and their reversals, revaluations and new exchange rates at random dates.
A small model follows what each call must do (success or which error) and what the
invoices and payments must show afterwards. After the sequence:

- every entry balances, no line is negative, VerifyLedger finds the chain intact;
- the trial balance's debits equal its credits and the balance sheet balances
  (assets = liabilities + equity with current earnings), now and in the comparison
  column, at several dates, and agrees with the trial balance;
- the subledgers agree with the ledger: per currency, the receivable (payable) is
  what the open invoices (bills) still owe, customer (vendor) credit is what the
  payments left unallocated; in the company currency, within rounding;
- invoice, bill and payment numbers are gap-free.
Right after a revaluation at D every foreign balance of an asset or liability is
carried at D's rate.

How it runs under pytest-asyncio (asyncio_mode=auto, session loop): pytest-asyncio
recognises a Hypothesis test whose inner test is a coroutine function and replaces
that inner test by a synchronous wrapper that runs each example on the session's
event loop runner (`AsyncHypothesisTest` in pytest_asyncio.plugin). So `@given` on
an `async def` works as is, with the session-scoped async fixtures `auth` and
`finance` (their gRPC channels live on that same loop). The examples draw their
operations up front (`st.lists` of plain data), so Hypothesis can shrink a failing
sequence; references to earlier documents are indexes taken modulo what exists.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import grpc
from auth_client import fails, reason  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from finance_client import (  # type: ignore[import-not-found]
    BILL,
    INCOMING,
    INVOICE,
    OUTGOING,
    Tenant,
    accounts_by_code,
    day,
    money,
    new_tenant,
    set_rate,
)
from finance_harness import Finance  # type: ignore[import-not-found]
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from erp.finance.v1 import finance_pb2 as fpb
from erp.finance.v1 import finance_service_pb2 as pb

START = date(2030, 1, 1)
FIRST_RATE = "0.9"
# Before anything, within the year, its end, the day of the last possible revaluation
# reversal, and after every entry a sequence can make.
CHECK_DATES = ["2029-12-31", "2030-02-28", "2030-06-30", "2030-12-31", "2031-01-01", "2031-06-30"]
MANUAL_CODES = ["1100", "3100", "4100", "5200"]  # bank, capital, sales, operating expenses
SUBLEDGER = ("receivable", "payable", "customer_credit", "vendor_credit")


def round_half_up(value: Fraction) -> int:
    magnitude = int(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def on(offset: int) -> date:
    return START + timedelta(days=offset)


# ---- operations -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewInvoice:
    kind: int
    currency: str
    lines: tuple[tuple[str, int, int, int], ...]  # quantity, unit price, discount, tax
    offset: int
    post: bool


@dataclass(frozen=True)
class Post:
    ref: int


@dataclass(frozen=True)
class Cancel:
    ref: int


@dataclass(frozen=True)
class Pay:
    direction: int
    stale: bool  # refer to any document of the kind (drafts, paid, ...), not only open ones
    credit_only: bool  # no allocation: all of it is the party's credit
    refs: tuple[int, ...]
    share: tuple[int, int]  # fraction of what is due
    extra: int  # paid on top: the party's credit
    currency: str  # "" = the first document's
    offset: int


@dataclass(frozen=True)
class Allocate:
    payment_ref: int
    invoice_ref: int
    share: tuple[int, int]


@dataclass(frozen=True)
class Manual:
    debit: str
    credit: str
    currency: str
    amount: int
    offset: int


@dataclass(frozen=True)
class Reverse:
    ref: int
    later: int  # days after the entry; 0 = the entry's own date


@dataclass(frozen=True)
class Revalue:
    offset: int
    rate: str  # a new USD rate on that day first, when set


@dataclass(frozen=True)
class Rate:
    offset: int
    rate: str


# Rates from 0.1 to 2.0 and up to three allocations per payment: wide enough that
# rounding between currencies leaves remainders (a leftover credit is valued on its
# own, the remainder goes to the exchange difference, so no line turns negative).
days = st.integers(0, 364)
refs = st.integers(0, 50)
shares = st.sampled_from([(1, 1), (1, 1), (1, 2), (1, 3), (2, 3)])
lines = st.tuples(
    st.sampled_from(["1", "2", "0.5", "1.5", "3.25", "0.0001", "12.3456"]),
    st.one_of(st.integers(1, 5), st.integers(1, 200_000)),
    st.sampled_from([0, 0, 0, 0, 1000, 2500, 5000, 10000]),
    st.sampled_from([0, 700, 1900, 2000]),
)
rates = st.one_of(
    st.integers(1000, 20000).map(lambda n: f"{n // 10000}.{n % 10000:04d}"),
    st.sampled_from(["0.7777777777", "1.0842", "0.9", "1.5", "0.5", "0.1", "0.3333333333"]),
)
new_invoices = st.builds(
    NewInvoice,
    kind=st.sampled_from([INVOICE, INVOICE, BILL]),
    currency=st.sampled_from(["EUR", "USD"]),
    lines=st.lists(lines, min_size=1, max_size=3).map(tuple),
    offset=days,
    post=st.sampled_from([True, True, True, False]),
)
payments = st.builds(
    Pay,
    direction=st.sampled_from([INCOMING, INCOMING, OUTGOING]),
    stale=st.sampled_from([False, False, False, True]),
    credit_only=st.sampled_from([False, False, False, False, True]),
    refs=st.lists(refs, min_size=1, max_size=3).map(tuple),
    share=shares,
    extra=st.sampled_from([0, 0, 1, 2, 500, 10_000]),
    currency=st.sampled_from(["", "", "EUR", "USD"]),
    offset=days,
)
account_pairs = st.sampled_from([(d, c) for d in MANUAL_CODES for c in MANUAL_CODES if d != c])
manuals = st.builds(
    lambda pair, currency, amount, offset: Manual(pair[0], pair[1], currency, amount, offset),
    account_pairs,
    st.sampled_from(["EUR", "USD"]),
    st.integers(1, 1_000_000),
    days,
)
kinds_of_operation = [
    new_invoices,
    payments,
    payments,
    st.builds(Post, ref=refs),
    st.builds(Cancel, ref=refs),
    st.builds(Allocate, payment_ref=refs, invoice_ref=refs, share=shares),
    manuals,
    st.builds(Reverse, ref=refs, later=st.sampled_from([0, 0, 5, 40])),
    st.builds(Revalue, offset=days, rate=st.just("") | rates),
    st.builds(Rate, offset=days, rate=rates),
]
# Hypothesis draws `one_of` far from uniformly (towards its first branches), so a
# sequence is: a few documents, then one operation of every kind in a drawn order,
# with a few more of any kind in between.
sequences = st.tuples(
    st.lists(new_invoices, min_size=1, max_size=3),
    st.tuples(*kinds_of_operation).flatmap(lambda ops: st.permutations(list(ops))),
    st.lists(st.one_of(*kinds_of_operation), max_size=4),
).map(lambda parts: [*parts[0], *parts[1], *parts[2]])


# ---- the model --------------------------------------------------------------------------


@dataclass
class Doc:
    id: str
    kind: int
    currency: str
    total: int
    issue: date
    state: str = "draft"  # draft, posted, cancelled
    paid: int = 0
    allocations: int = 0
    number: str = ""
    company_total: int = 0

    @property
    def open(self) -> bool:
        return self.state == "posted" and self.paid < self.total

    @property
    def due(self) -> int:
        return self.total - self.paid

    @property
    def expected_state(self) -> int:
        if self.state == "draft":
            return fpb.INVOICE_STATE_DRAFT
        if self.state == "cancelled":
            return fpb.INVOICE_STATE_CANCELLED
        if self.paid == 0:
            return fpb.INVOICE_STATE_POSTED
        if self.paid < self.total:
            return fpb.INVOICE_STATE_PARTIALLY_PAID
        return fpb.INVOICE_STATE_PAID


@dataclass
class Paid:
    id: str
    direction: int
    currency: str
    rate: str
    unallocated: int
    number: str
    allocations: int = 0


@dataclass
class ManualEntry:
    id: str
    day: date
    reversed: bool = False


@dataclass
class Books:
    finance: Finance
    tenant: Tenant
    accounts: dict[str, fpb.Account]  # by code
    rates: dict[date, str] = field(default_factory=lambda: {START: FIRST_RATE})
    docs: list[Doc] = field(default_factory=list)
    payments: list[Paid] = field(default_factory=list)
    manuals: list[ManualEntry] = field(default_factory=list)

    @property
    def meta(self) -> Any:
        return self.tenant.token

    def rate(self, currency: str, when: date) -> str:
        if currency == "EUR":
            return "1"
        return self.rates[max(d for d in self.rates if d <= when)]

    def company(self, amount: int, currency: str, when: date) -> int:
        return round_half_up(amount * Fraction(self.rate(currency, when)))


Outcome = tuple[str, int]  # what an operation did, and how many entries it wrote


def settles(direction: int) -> int:
    return INVOICE if direction == INCOMING else BILL


def line_amounts(quantity: str, price: int, discount: int, tax: int) -> tuple[int, int]:
    """The contract's arithmetic: quantity x price less discount, then tax on the net,
    each rounded half up."""
    net = round_half_up(Fraction(quantity) * price * (10000 - discount) / 10000)
    return net, round_half_up(Fraction(net * tax, 10000))


# ---- running an operation ---------------------------------------------------------------


async def new_invoice(books: Books, op: NewInvoice) -> Outcome:
    issue = on(op.offset)
    request = pb.CreateInvoiceRequest(
        kind=op.kind,  # type: ignore[arg-type]
        party=fpb.Party(name="Customer" if op.kind == INVOICE else "Vendor"),
        issue_date=day(issue),
        currency_code=op.currency,
        lines=[
            fpb.InvoiceLine(
                description="Item",
                quantity=q,
                unit_price=money(op.currency, p),
                discount_bps=d,
                tax_rate_bps=t,
            )
            for q, p, d, t in op.lines
        ],
    )
    made = (await books.finance.stub.CreateInvoice(request, metadata=books.meta)).invoice
    amounts = [line_amounts(*line) for line in op.lines]
    subtotal, tax = sum(n for n, _ in amounts), sum(t for _, t in amounts)
    assert [(li.net.amount_minor, li.tax.amount_minor) for li in made.lines] == amounts
    assert (made.subtotal.amount_minor, made.tax_total.amount_minor) == (subtotal, tax)
    assert made.total == money(op.currency, subtotal + tax)
    assert made.due_date == day(issue + timedelta(days=30))
    doc = Doc(made.id, op.kind, op.currency, subtotal + tax, issue)
    books.docs.append(doc)
    if op.post:
        label, written = await post(books, doc, subtotal, tax)
        return f"created, {label}", written
    return "created", 0


async def post(
    books: Books, doc: Doc, subtotal: int | None = None, tax: int | None = None
) -> Outcome:
    call = books.finance.stub.PostInvoice(pb.PostInvoiceRequest(id=doc.id), metadata=books.meta)
    if doc.state == "cancelled":
        assert reason(await fails(call, grpc.StatusCode.FAILED_PRECONDITION)) == "CANCELLED"
        return "post refused: cancelled", 0
    if doc.state == "draft" and doc.total == 0:
        assert reason(await fails(call, grpc.StatusCode.FAILED_PRECONDITION)) == "EMPTY_INVOICE"
        return "post refused: empty", 0
    done = (await call).invoice
    if doc.state == "posted":  # posting again changes nothing
        assert (done.number, done.company_total_minor) == (doc.number, doc.company_total)
        return "posted again", 0
    rate = books.rate(doc.currency, doc.issue)
    assert done.exchange_rate == rate
    if subtotal is not None and tax is not None:
        # nets and tax are converted line by line, the receivable takes their sum
        want = books.company(subtotal, doc.currency, doc.issue)
        want += books.company(tax, doc.currency, doc.issue)
        assert done.company_total_minor == want
    doc.state, doc.number, doc.company_total = "posted", done.number, done.company_total_minor
    return "posted", 1


async def cancel(books: Books, doc: Doc) -> Outcome:
    call = books.finance.stub.CancelInvoice(pb.CancelInvoiceRequest(id=doc.id), metadata=books.meta)
    if doc.state == "posted" and doc.paid > 0:
        error = await fails(call, grpc.StatusCode.FAILED_PRECONDITION)
        assert reason(error) == "INVOICE_HAS_PAYMENTS"
        return "cancel refused: paid", 0
    done = (await call).invoice
    assert done.state == fpb.INVOICE_STATE_CANCELLED
    before, doc.state = doc.state, "cancelled"
    if before == "posted":
        assert done.cancel_entry_id
        return "cancelled (posted): reversal", 1
    return f"cancelled ({before})", 0


async def pay(books: Books, op: Pay) -> Outcome:
    # The first document referred to decides the direction (the drawn one when the
    # payment is all credit); the others are of its kind.
    candidates = [d for d in books.docs if op.stale or d.open]
    chosen: list[Doc] = []
    for ref in () if op.credit_only else op.refs:
        if chosen:
            candidates = [d for d in candidates if d.kind == chosen[0].kind]
        if candidates and candidates[ref % len(candidates)] not in chosen:
            chosen.append(candidates[ref % len(candidates)])
    direction = (INCOMING if chosen[0].kind == INVOICE else OUTGOING) if chosen else op.direction
    currency = op.currency or (chosen[0].currency if chosen else "EUR")
    allocations: list[tuple[Doc, int]] = []
    amount = op.extra
    for doc in chosen:
        share = doc.due * op.share[0] // op.share[1] if doc.open else doc.total
        part = min(max(share, 1), doc.due) if doc.open else max(share, 1)
        allocations.append((doc, part))
        # in another currency the allocation takes what the rates say: pay enough
        # (USD rates run from 0.1 to 2.0: a EUR invoice takes up to ten times its USD)
        amount += part if doc.currency == currency else 11 * part
    amount = amount or 10_00
    when = on(op.offset)
    request = pb.CreatePaymentRequest(
        direction=direction,  # type: ignore[arg-type]
        party=fpb.Party(name="" if chosen else "Walk-in"),
        date=day(when),
        amount=money(currency, amount),
        allocations=[
            fpb.Allocation(invoice_id=d.id, amount=money(d.currency, a)) for d, a in allocations
        ],
    )
    call = books.finance.stub.CreatePayment(request, metadata=books.meta)
    if any(not d.open for d in chosen):
        assert reason(await fails(call, grpc.StatusCode.FAILED_PRECONDITION)) == "INVOICE_NOT_OPEN"
        return "payment refused: not open", 0
    done = (await call).payment
    assert done.exchange_rate == books.rate(currency, when)
    assert done.company_amount_minor == books.company(amount, currency, when)
    applied = [a.applied.amount_minor for a in done.allocations]
    assert done.unallocated == money(currency, amount - sum(applied))
    for (doc, part), allocation, taken in zip(allocations, done.allocations, applied, strict=True):
        assert allocation.amount == money(doc.currency, part)
        if doc.currency == currency:
            assert taken == part
        doc.paid += part
        doc.allocations += 1
    books.payments.append(
        Paid(
            done.id,
            direction,
            currency,
            done.exchange_rate,
            done.unallocated.amount_minor,
            done.number,
            len(allocations),
        )
    )
    crossed = any(d.currency != currency for d in chosen)
    return f"paid {len(allocations)}{' across currencies' if crossed else ''}", 1


async def allocate(books: Books, op: Allocate) -> Outcome:
    with_credit = [p for p in books.payments if p.unallocated > 0]
    if not with_credit:
        return "nothing to allocate", 0
    payment = with_credit[op.payment_ref % len(with_credit)]
    open_docs = [d for d in books.docs if d.kind == settles(payment.direction) and d.open]
    if not open_docs:
        return "nothing to allocate", 0
    doc = open_docs[op.invoice_ref % len(open_docs)]
    if doc.currency == payment.currency:
        amount = min(doc.due, max(1, payment.unallocated * op.share[0] // op.share[1]))
    else:
        amount = min(doc.due, payment.unallocated // 12)  # see `pay`: up to 10x across
    if amount <= 0:
        return "nothing to allocate", 0
    done = (
        await books.finance.stub.AllocatePayment(
            pb.AllocatePaymentRequest(
                id=payment.id,
                allocations=[fpb.Allocation(invoice_id=doc.id, amount=money(doc.currency, amount))],
            ),
            metadata=books.meta,
        )
    ).payment
    taken = done.allocations[-1].applied.amount_minor
    if doc.currency == payment.currency:
        assert taken == amount
    assert done.unallocated.amount_minor == payment.unallocated - taken
    payment.unallocated -= taken
    payment.allocations += 1
    doc.paid += amount
    doc.allocations += 1
    return "allocated", 1


async def manual(books: Books, op: Manual) -> Outcome:
    when = on(op.offset)
    amount = money(op.currency, op.amount)
    done = await books.finance.stub.CreateJournalEntry(
        pb.CreateJournalEntryRequest(
            date=day(when),
            memo="Manual",
            lines=[
                fpb.JournalLine(account_id=books.accounts[op.debit].id, debit=amount),
                fpb.JournalLine(account_id=books.accounts[op.credit].id, credit=amount),
            ],
        ),
        metadata=books.meta,
    )
    assert done.entry.total_minor == books.company(op.amount, op.currency, when)
    books.manuals.append(ManualEntry(done.entry.id, when))
    return "entered", 1


async def reverse(books: Books, op: Reverse) -> Outcome:
    if not books.manuals:
        return "nothing to reverse", 0
    original = books.manuals[op.ref % len(books.manuals)]
    request = pb.ReverseJournalEntryRequest(id=original.id)
    when = original.day + timedelta(days=op.later)
    if op.later:
        request.date.CopyFrom(day(when))
    call = books.finance.stub.ReverseJournalEntry(request, metadata=books.meta)
    if original.reversed:
        assert reason(await fails(call, grpc.StatusCode.FAILED_PRECONDITION)) == "ALREADY_REVERSED"
        return "reversal refused: done", 0
    done = (await call).entry
    assert (done.reverses_entry_id, done.date, done.source) == (
        original.id,
        day(when),
        fpb.ENTRY_SOURCE_REVERSAL,
    )
    original.reversed = True
    return "manual entry reversed", 1


async def revalue(books: Books, op: Revalue) -> Outcome:
    when = on(op.offset)
    if op.rate:
        await new_rate(books, Rate(op.offset, op.rate))
    done = await books.finance.stub.RevalueForeignBalances(
        pb.RevalueForeignBalancesRequest(date=day(when)), metadata=books.meta
    )
    if done.HasField("entry"):
        assert (done.entry.date, done.reversal.date) == (day(when), day(when + timedelta(days=1)))
        assert done.reversal.reverses_entry_id == done.entry.id
        assert [(x.company_debit_minor, x.company_credit_minor) for x in done.reversal.lines] == [
            (x.company_credit_minor, x.company_debit_minor) for x in done.entry.lines
        ]
    # every foreign balance of money owned or owed is now carried at the day's rate
    monetary = {
        a.id
        for a in books.accounts.values()
        if a.type in (fpb.ACCOUNT_TYPE_ASSET, fpb.ACCOUNT_TYPE_LIABILITY)
    }
    foreign: dict[str, int] = defaultdict(int)
    carried: dict[str, int] = defaultdict(int)
    for entry in await all_entries(books):
        if date(entry.date.year, entry.date.month, entry.date.day) > when:
            continue
        for line in entry.lines:
            if line.account_id in monetary and currency_of(line) == "USD":
                foreign[line.account_id] += line.debit.amount_minor - line.credit.amount_minor
                carried[line.account_id] += line.company_debit_minor - line.company_credit_minor
    for account_id, amount in foreign.items():
        assert carried[account_id] == books.company(amount, "USD", when), account_id
    return ("revalued", 2) if done.HasField("entry") else ("nothing to revalue", 0)


async def new_rate(books: Books, op: Rate) -> Outcome:
    await set_rate(books.finance, books.tenant, "USD", on(op.offset), op.rate)
    books.rates[on(op.offset)] = op.rate
    return "rate set", 0


async def chain_length(books: Books) -> int:
    """Entries in the ledger: the newest one's place in the hash chain."""
    newest = await books.finance.stub.ListJournalEntries(
        pb.ListJournalEntriesRequest(page_size=1), metadata=books.meta
    )
    return newest.entries[0].sequence if newest.entries else 0


async def run(books: Books, op: object) -> None:
    """Run `op`; it must write exactly the entries the model expects (none when it is
    refused), and the invoices and payments must then show what the model says."""
    before = await chain_length(books)
    label, written = await run_one(books, op)
    assert await chain_length(books) == before + written, (op, label)
    event(label)  # `--hypothesis-show-statistics` shows what the sequences did
    await documents_agree(books)


async def run_one(books: Books, op: object) -> Outcome:
    match op:
        case NewInvoice():
            return await new_invoice(books, op)
        case Post(ref=ref) if books.docs:
            return await post(books, books.docs[ref % len(books.docs)])
        case Cancel(ref=ref) if books.docs:
            return await cancel(books, books.docs[ref % len(books.docs)])
        case Pay():
            return await pay(books, op)
        case Allocate():
            return await allocate(books, op)
        case Manual():
            return await manual(books, op)
        case Reverse():
            return await reverse(books, op)
        case Revalue():
            return await revalue(books, op)
        case Rate():
            return await new_rate(books, op)
    return "nothing to do", 0


# ---- what must hold ---------------------------------------------------------------------


def currency_of(line: fpb.JournalLine) -> str:
    if line.HasField("debit"):
        return line.debit.currency_code
    return line.credit.currency_code if line.HasField("credit") else ""


async def all_entries(books: Books) -> list[fpb.JournalEntry]:
    found: list[fpb.JournalEntry] = []
    token = ""
    while True:
        page = await books.finance.stub.ListJournalEntries(
            pb.ListJournalEntriesRequest(page_size=500, page_token=token), metadata=books.meta
        )
        found += page.entries
        token = page.next_page_token
        if not token:
            return found


async def documents_agree(books: Books) -> None:
    """What the service shows for every invoice and payment is what the model expects."""
    listed = await books.finance.stub.ListInvoices(
        pb.ListInvoicesRequest(page_size=500), metadata=books.meta
    )
    shown = {i.id: i for i in listed.invoices}
    assert set(shown) == {d.id for d in books.docs}
    for doc in books.docs:
        invoice = shown[doc.id]
        assert (invoice.state, invoice.amount_paid.amount_minor, invoice.number) == (
            doc.expected_state,
            doc.paid,
            doc.number,
        ), doc
        assert invoice.amount_due.amount_minor == doc.due
    paid = await books.finance.stub.ListPayments(
        pb.ListPaymentsRequest(page_size=500), metadata=books.meta
    )
    assert {p.id: p.unallocated.amount_minor for p in paid.payments} == {
        p.id: p.unallocated for p in books.payments
    }


async def books_are_sound(books: Books) -> None:
    entries = await all_entries(books)
    for entry in entries:
        debit = sum(x.company_debit_minor for x in entry.lines)
        credit = sum(x.company_credit_minor for x in entry.lines)
        assert debit == credit == entry.total_minor, entry.number
        for x in entry.lines:
            assert x.company_debit_minor >= 0 and x.company_credit_minor >= 0, entry
            assert x.debit.amount_minor >= 0 and x.credit.amount_minor >= 0, entry
    verified = await books.finance.stub.VerifyLedger(pb.VerifyLedgerRequest(), metadata=books.meta)
    assert (verified.valid, verified.entries_checked, list(verified.problems)) == (
        True,
        len(entries),
        [],
    )
    if entries:
        assert verified.head_hash == max(entries, key=lambda e: e.sequence).hash

    types = {a.id: a.type for a in books.accounts.values()}
    for as_of in CHECK_DATES:
        trial = await books.finance.stub.GetTrialBalance(
            pb.GetTrialBalanceRequest(as_of=as_of), metadata=books.meta
        )
        assert trial.total_debit_minor == trial.total_credit_minor, as_of
        assert trial.total_debit_minor == sum(r.debit_minor for r in trial.lines)
        by_type: dict[int, int] = defaultdict(int)
        for r in trial.lines:
            by_type[types[r.account_id]] += r.balance_minor
        sheet = await books.finance.stub.GetBalanceSheet(
            pb.GetBalanceSheetRequest(as_of=as_of), metadata=books.meta
        )
        assert sheet.total_assets_minor == sheet.total_liabilities_minor + sheet.total_equity_minor
        assert sheet.previous_total_assets_minor == (
            sheet.previous_total_liabilities_minor + sheet.previous_total_equity_minor
        )
        earnings = by_type[fpb.ACCOUNT_TYPE_INCOME] - by_type[fpb.ACCOUNT_TYPE_EXPENSE]
        assert (
            sheet.total_assets_minor,
            sheet.total_liabilities_minor,
            sheet.current_earnings_minor,
            sheet.total_equity_minor,
        ) == (
            by_type[fpb.ACCOUNT_TYPE_ASSET],
            by_type[fpb.ACCOUNT_TYPE_LIABILITY],
            earnings,
            by_type[fpb.ACCOUNT_TYPE_EQUITY] + earnings,
        ), as_of

    # the subledgers, per currency and in the company currency
    roles = {a.id: a.role for a in books.accounts.values()}
    foreign: dict[tuple[str, str], int] = defaultdict(int)
    company: dict[str, int] = defaultdict(int)
    for entry in entries:
        for x in entry.lines:
            role = roles[x.account_id]
            if role in SUBLEDGER:
                foreign[role, currency_of(x)] += x.debit.amount_minor - x.credit.amount_minor
                company[role] += x.company_debit_minor - x.company_credit_minor
    owed: dict[tuple[str, str], int] = defaultdict(int)
    owed_company: dict[str, Fraction] = defaultdict(Fraction)
    slack: dict[str, int] = defaultdict(int)
    for doc in books.docs:
        if doc.open:
            role, sign = ("receivable", 1) if doc.kind == INVOICE else ("payable", -1)
            owed[role, doc.currency] += sign * doc.due
            owed_company[role] += sign * Fraction(doc.company_total * doc.due, doc.total)
            slack[role] += doc.allocations
    for p in books.payments:
        if p.unallocated:
            role, sign = (
                ("customer_credit", -1) if p.direction == INCOMING else ("vendor_credit", 1)
            )
            owed[role, p.currency] += sign * p.unallocated
            owed_company[role] += sign * p.unallocated * Fraction(p.rate)
            slack[role] += 1 + p.allocations
    assert {k: v for k, v in foreign.items() if v} == {k: v for k, v in owed.items() if v}
    for role in SUBLEDGER:
        assert abs(company[role] - owed_company[role]) <= slack[role], (role, company, owed_company)

    # gap-free numbers
    numbers: dict[str, list[int]] = defaultdict(list)
    for doc in books.docs:
        if doc.number:
            prefix, _, value = doc.number.rpartition("-")
            numbers[prefix].append(int(value))
    for p in books.payments:
        prefix, _, value = p.number.rpartition("-")
        numbers[prefix].append(int(value))
    for prefix, taken in numbers.items():
        assert sorted(taken) == list(range(1, len(taken) + 1)), prefix


@settings(
    max_examples=20,
    deadline=None,
    database=None,  # write nothing into the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # No explain phase: it traces every line run (the service runs in this process),
    # which makes a failing example take minutes to report.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
@given(ops=sequences)
async def test_random_bookkeeping_keeps_the_books_sound(
    auth: Auth, finance: Finance, ops: list[object]
) -> None:
    tenant = await new_tenant(auth)
    await set_rate(finance, tenant, "USD", START, FIRST_RATE)
    books = Books(finance, tenant, await accounts_by_code(finance, tenant))
    for op in ops:
        await run(books, op)
    await books_are_sound(books)
