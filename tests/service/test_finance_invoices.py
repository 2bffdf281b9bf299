"""Customer invoices, vendor bills and payments through svc_finance's gRPC API, on
SQLite and PostgreSQL: the life cycle draft → posted → partially paid → paid with
gap-free numbers, the posting entries and the line arithmetic to the minor unit,
bad inputs named field by field, cancellation by reversal, allocations and
customer credit, realised and unrealised exchange differences, the events on
JetStream and idempotent retries."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import grpc
from auth_client import bad_fields, fails, reason  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from finance_client import (  # type: ignore[import-not-found]
    BILL,
    INCOMING,
    INVOICE,
    OUTGOING,
    Tenant,
    accounts_by_code,
    day,
    draft,
    eur,
    item,
    money,
    new_tenant,
    pay,
    posted,
    set_rate,
    trial_balance,
)
from finance_harness import Finance  # type: ignore[import-not-found]
from google.protobuf import field_mask_pb2
from jetstream_probe import read_event  # type: ignore[import-not-found]

from erp.common.v1 import money_pb2
from erp.finance.v1 import finance_pb2 as fpb
from erp.finance.v1 import finance_service_pb2 as pb
from mesh.events import subject_for

MARCH = date(2030, 3, 10)
FAR = "2039-12-31"  # a trial balance date after everything a test posts

DRAFT = fpb.INVOICE_STATE_DRAFT
POSTED = fpb.INVOICE_STATE_POSTED
PARTIAL = fpb.INVOICE_STATE_PARTIALLY_PAID
PAID = fpb.INVOICE_STATE_PAID
CANCELLED = fpb.INVOICE_STATE_CANCELLED

Side = tuple[str, int, int]  # (account role or code, company debit, company credit)


def usd(amount_minor: int) -> money_pb2.Money:
    return money("USD", amount_minor)


async def names_of(finance: Finance, tenant: Tenant) -> dict[str, str]:
    """Account id → its role, or its code when it has none."""
    return {a.id: a.role or a.code for a in (await accounts_by_code(finance, tenant)).values()}


async def entry(finance: Finance, tenant: Tenant, entry_id: str) -> fpb.JournalEntry:
    found = await finance.stub.GetJournalEntry(
        pb.GetJournalEntryRequest(id=entry_id), metadata=tenant.token
    )
    return found.entry


def sides(found: fpb.JournalEntry, names: dict[str, str]) -> list[Side]:
    """The entry's lines as (account, company debit, company credit), sorted."""
    return sorted(
        (names[line.account_id], line.company_debit_minor, line.company_credit_minor)
        for line in found.lines
    )


def foreign(found: fpb.JournalEntry, names: dict[str, str]) -> list[tuple[str, str, int, int]]:
    """The entry's lines as (account, currency, debit, credit) in the line's currency."""
    return sorted(
        (
            names[line.account_id],
            (line.debit if line.HasField("debit") else line.credit).currency_code,
            line.debit.amount_minor,
            line.credit.amount_minor,
        )
        for line in found.lines
    )


async def entries(finance: Finance, tenant: Tenant) -> list[fpb.JournalEntry]:
    listed = await finance.stub.ListJournalEntries(
        pb.ListJournalEntriesRequest(page_size=500), metadata=tenant.token
    )
    return list(listed.entries)


async def invoices_of(finance: Finance, tenant: Tenant) -> list[fpb.Invoice]:
    listed = await finance.stub.ListInvoices(
        pb.ListInvoicesRequest(page_size=500), metadata=tenant.token
    )
    return list(listed.invoices)


async def payments_of(finance: Finance, tenant: Tenant) -> list[fpb.Payment]:
    listed = await finance.stub.ListPayments(
        pb.ListPaymentsRequest(page_size=500), metadata=tenant.token
    )
    return list(listed.payments)


async def balances(finance: Finance, tenant: Tenant, as_of: str = FAR) -> dict[str, int]:
    """Account role (or code) → balance on its normal side, for accounts not at zero."""
    names = await names_of(finance, tenant)
    report = await trial_balance(finance, tenant, as_of)
    assert report.total_debit_minor == report.total_credit_minor
    return {names[r.account_id]: r.balance_minor for r in report.lines if r.balance_minor}


async def get(finance: Finance, tenant: Tenant, invoice_id: str) -> fpb.Invoice:
    found = await finance.stub.GetInvoice(
        pb.GetInvoiceRequest(id=invoice_id), metadata=tenant.token
    )
    return found.invoice


async def post(finance: Finance, tenant: Tenant, invoice_id: str) -> fpb.Invoice:
    done = await finance.stub.PostInvoice(
        pb.PostInvoiceRequest(id=invoice_id), metadata=tenant.token
    )
    return done.invoice


async def cancel(finance: Finance, tenant: Tenant, invoice_id: str) -> fpb.Invoice:
    done = await finance.stub.CancelInvoice(
        pb.CancelInvoiceRequest(id=invoice_id, reason="ordered twice"), metadata=tenant.token
    )
    return done.invoice


async def new_account(finance: Finance, tenant: Tenant, code: str, kind: int) -> fpb.Account:
    made = await finance.stub.CreateAccount(
        pb.CreateAccountRequest(code=code, name=f"Account {code}", type=kind),  # type: ignore[arg-type]
        metadata=tenant.token,
    )
    return made.account


def paid_state(found: fpb.Invoice) -> tuple[int, int, int]:
    return found.state, found.amount_paid.amount_minor, found.amount_due.amount_minor


# ---- life cycle, numbers, posting entries ------------------------------------------------

# (quantity, unit price, discount bps, tax bps) → (net, tax), each rounded half up once
ARITHMETIC: list[tuple[tuple[str, int, int, int], tuple[int, int]]] = [
    (("1.5", 100_00, 1000, 2000), (135_00, 27_00)),  # 1.5 x 100.00 - 10 %, 20 % tax
    (("1.5", 333, 0, 2000), (500, 100)),  # 499.5 → 500 (to the services account)
    (("1", 5, 0, 1000), (5, 1)),  # tax 0.5 → 1
    (("1", 5, 0, 1000), (5, 1)),  # per line: two halves make 2, not round(1.0)
    (("3", 1235, 5000, 2000), (1853, 371)),  # 1852.5 → 1853, tax 370.6 → 371
    (("0.0001", 5000, 0, 0), (1, 0)),  # 0.5 → 1
    (("2.5", 101, 0, 1000), (253, 25)),  # 252.5 → 253, tax 25.3 → 25
    (("1", 999, 1500, 1900), (849, 161)),  # 849.15 → 849, tax 161.31 → 161
    (("1.2345", 100, 0, 2000), (123, 25)),  # 123.45 → 123, tax 24.6 → 25
]


async def test_an_invoice_from_draft_to_paid(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    names = await names_of(finance, tenant)
    services = await new_account(finance, tenant, "4200", fpb.ACCOUNT_TYPE_INCOME)
    names[services.id] = "4200"
    lines = [
        item(eur(price), quantity, tax_rate_bps=tax, discount_bps=discount)
        for (quantity, price, discount, tax), _ in ARITHMETIC
    ]
    lines[1].account_id = services.id

    made = await draft(finance, tenant, *lines, on=MARCH)
    assert (made.state, made.number, made.entry_id, made.kind) == (DRAFT, "", "", INVOICE)
    assert made.due_date == day(MARCH + timedelta(days=30))  # the payment terms
    assert [(li.net.amount_minor, li.tax.amount_minor) for li in made.lines] == [
        want for _, want in ARITHMETIC
    ]
    assert [li.total.amount_minor for li in made.lines] == [n + t for _, (n, t) in ARITHMETIC]
    subtotal, tax = sum(n for _, (n, _) in ARITHMETIC), sum(t for _, (_, t) in ARITHMETIC)
    assert (subtotal, tax) == (170_89, 33_84)
    assert (made.subtotal, made.tax_total, made.total) == (eur(170_89), eur(33_84), eur(204_73))
    assert made.amount_due == eur(204_73)

    done = await post(finance, tenant, made.id)
    assert (done.state, done.number) == (POSTED, "INV-2030-000001")
    assert (done.exchange_rate, done.company_total_minor) == ("1", 204_73)
    posting = await entry(finance, tenant, done.entry_id)
    assert (posting.source, posting.source_id, posting.date) == (
        fpb.ENTRY_SOURCE_INVOICE,
        made.id,
        day(MARCH),
    )
    assert sides(posting, names) == [
        ("4200", 0, 500),
        ("receivable", 204_73, 0),
        ("sales", 0, 170_89 - 500),
        ("tax_payable", 0, 33_84),
    ]
    assert posting.total_minor == 204_73

    first = await pay(finance, tenant, eur(62_00), (done.id, eur(62_00)), on=MARCH)
    assert paid_state(await get(finance, tenant, done.id)) == (PARTIAL, 62_00, 142_73)
    assert first.number == "PAY-2030-000001"
    second = await pay(
        finance, tenant, eur(142_73), (done.id, eur(142_73)), on=MARCH + timedelta(days=5)
    )
    assert second.number == "PAY-2030-000002"
    assert paid_state(await get(finance, tenant, done.id)) == (PAID, 204_73, 0)
    assert await balances(finance, tenant) == {
        "bank": 204_73,
        "4200": 500,
        "sales": 165_89,
        "tax_payable": 33_84,
    }


async def test_numbers_are_gap_free_per_kind_and_year(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    one = await posted(finance, tenant, on=MARCH)
    bill = await posted(finance, tenant, kind=BILL, on=MARCH)
    next_year = await posted(finance, tenant, on=date(2031, 1, 5))
    two = await posted(finance, tenant, on=MARCH + timedelta(days=1))
    assert [one.number, two.number, next_year.number, bill.number] == [
        "INV-2030-000001",
        "INV-2030-000002",
        "INV-2031-000001",
        "BILL-2030-000001",
    ]

    # A post that fails does not use up a number: a closed period (the number is
    # taken before the ledger refuses the month) and a missing exchange rate.
    await finance.stub.ClosePeriod(pb.ClosePeriodRequest(id="2030-05"), metadata=tenant.token)
    may = await draft(finance, tenant, on=date(2030, 5, 2))
    error = await fails(post(finance, tenant, may.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason(error) == "PERIOD_CLOSED"
    pounds = await draft(finance, tenant, item(money("GBP", 100_00)), currency="GBP", on=MARCH)
    error = await fails(post(finance, tenant, pounds.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason(error) == "NO_EXCHANGE_RATE"
    for failed in (may, pounds):
        again = await get(finance, tenant, failed.id)
        assert (again.state, again.number, again.entry_id) == (DRAFT, "", "")

    three = await posted(finance, tenant, on=MARCH)
    assert three.number == "INV-2030-000003"
    await finance.stub.ReopenPeriod(pb.ReopenPeriodRequest(id="2030-05"), metadata=tenant.token)
    assert (await post(finance, tenant, may.id)).number == "INV-2030-000004"
    assert len(await entries(finance, tenant)) == 6  # one per posted document


async def test_concurrent_posts_take_distinct_numbers(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    drafts = [await draft(finance, tenant, on=MARCH) for _ in range(6)]
    done = await asyncio.gather(*(post(finance, tenant, d.id) for d in drafts))
    assert sorted(d.number for d in done) == [f"INV-2030-{n:06d}" for n in range(1, 7)]
    # the same draft posted by several callers at once: one number, one entry
    one = await draft(finance, tenant, on=MARCH)
    same = await asyncio.gather(*(post(finance, tenant, one.id) for _ in range(4)))
    assert {(d.number, d.entry_id) for d in same} == {(same[0].number, same[0].entry_id)}
    assert same[0].number == "INV-2030-000007"
    assert len(await entries(finance, tenant)) == 7
    verified = await finance.stub.VerifyLedger(pb.VerifyLedgerRequest(), metadata=tenant.token)
    assert (verified.valid, verified.entries_checked) == (True, 7)


async def test_a_bill_posts_the_mirror_image(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    names = await names_of(finance, tenant)
    codes = await accounts_by_code(finance, tenant)
    rent = item(eur(1000_00), tax_rate_bps=1900, description="Rent")
    rent.account_id = codes["5200"].id  # operating expenses
    bill = await posted(
        finance, tenant, item(eur(250_00), "2", tax_rate_bps=1900), rent, kind=BILL, on=MARCH
    )
    assert (bill.kind, bill.number, bill.state) == (BILL, "BILL-2030-000001", POSTED)
    assert (bill.subtotal, bill.tax_total, bill.total) == (
        eur(1500_00),
        eur(285_00),
        eur(1785_00),
    )
    assert sides(await entry(finance, tenant, bill.entry_id), names) == [
        ("5200", 1000_00, 0),
        ("payable", 0, 1785_00),
        ("purchases", 500_00, 0),
        ("tax_receivable", 285_00, 0),
    ]

    # an invoice line must name an income account; a bill line an expense or asset one
    wrong = item(eur(1_00))
    wrong.account_id = codes["4100"].id
    error = await fails(
        finance.stub.CreateInvoice(
            pb.CreateInvoiceRequest(kind=BILL, party=fpb.Party(name="Initech"), lines=[wrong]),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"lines[0].account_id"}


# ---- bad input --------------------------------------------------------------------------


def good_request() -> pb.CreateInvoiceRequest:
    return pb.CreateInvoiceRequest(
        kind=INVOICE,
        party=fpb.Party(name="Globex", email="ap@globex.example.com"),
        issue_date=day(MARCH),
        due_date=day(MARCH + timedelta(days=14)),
        currency_code="EUR",
        lines=[item(eur(100_00), "2", tax_rate_bps=2000)],
    )


async def test_a_negative_quantity_is_refused_and_nothing_is_written(
    auth: Auth, finance: Finance
) -> None:
    tenant = await new_tenant(auth)
    request = good_request()
    request.lines[0].quantity = "-1"
    error = await fails(
        finance.stub.CreateInvoice(request, metadata=tenant.token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"lines[0].quantity"}
    assert await invoices_of(finance, tenant) == []
    assert await entries(finance, tenant) == []

    # nor can a draft be changed to one
    made = await draft(finance, tenant, on=MARCH)
    error = await fails(
        finance.stub.UpdateInvoice(
            pb.UpdateInvoiceRequest(
                invoice=fpb.Invoice(id=made.id, lines=[item(eur(100_00), "-2")]),
                update_mask=field_mask_pb2.FieldMask(paths=["lines"]),
            ),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"lines[0].quantity"}
    assert await get(finance, tenant, made.id) == made


async def test_bad_invoices_name_their_fields(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)

    def no_name(r: pb.CreateInvoiceRequest) -> None:
        r.party.name = "   "

    def unknown_currency(r: pb.CreateInvoiceRequest) -> None:
        r.currency_code = "XYZ"
        for line in r.lines:
            line.unit_price.currency_code = "XYZ"

    def price_in_another_currency(r: pb.CreateInvoiceRequest) -> None:
        r.lines[0].unit_price.currency_code = "USD"

    def due_before_issue(r: pb.CreateInvoiceRequest) -> None:
        r.due_date.CopyFrom(day(MARCH - timedelta(days=1)))

    def tax_above_100_percent(r: pb.CreateInvoiceRequest) -> None:
        r.lines[0].tax_rate_bps = 10001

    def negative_discount(r: pb.CreateInvoiceRequest) -> None:
        r.lines[0].discount_bps = -1

    def too_many_lines(r: pb.CreateInvoiceRequest) -> None:
        r.lines.extend(item(eur(1_00)) for _ in range(499))  # 501 with the two below

    def five_decimals(r: pb.CreateInvoiceRequest) -> None:
        r.lines[0].quantity = "1.00001"

    def zero_quantity(r: pb.CreateInvoiceRequest) -> None:
        r.lines[0].quantity = "0"

    def blank_description(r: pb.CreateInvoiceRequest) -> None:
        r.lines[1].description = " "

    def two_at_once(r: pb.CreateInvoiceRequest) -> None:
        r.party.name = ""
        r.lines[1].quantity = "-0.5"

    cases = [
        (no_name, {"party.name"}),
        (unknown_currency, {"currency_code"}),
        (price_in_another_currency, {"lines[0].unit_price.currency_code"}),
        (due_before_issue, {"due_date"}),
        (tax_above_100_percent, {"lines[0].tax_rate_bps"}),
        (negative_discount, {"lines[0].discount_bps"}),
        (too_many_lines, {"lines"}),
        (five_decimals, {"lines[0].quantity"}),
        (zero_quantity, {"lines[0].quantity"}),
        (blank_description, {"lines[1].description"}),
        (two_at_once, {"party.name", "lines[1].quantity"}),
    ]
    for change, fields in cases:
        request = good_request()
        request.lines.append(item(eur(5_00)))
        change(request)
        error = await fails(
            finance.stub.CreateInvoice(request, metadata=tenant.token),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == fields, change.__name__
    assert await invoices_of(finance, tenant) == []

    # exactly 500 lines and 100 % tax are fine
    request = good_request()
    request.lines[0].tax_rate_bps = 10000
    request.lines.extend(item(eur(1_00)) for _ in range(499))
    made = (await finance.stub.CreateInvoice(request, metadata=tenant.token)).invoice
    assert (len(made.lines), made.total) == (500, eur(400_00 + 499_00))


# ---- drafts, posting twice, cancelling ---------------------------------------------------


async def test_only_drafts_change_and_posting_twice_changes_nothing(
    auth: Auth, finance: Finance
) -> None:
    tenant = await new_tenant(auth)
    made = await draft(finance, tenant, on=MARCH)
    changed = (
        await finance.stub.UpdateInvoice(
            pb.UpdateInvoiceRequest(
                invoice=fpb.Invoice(
                    id=made.id, memo="PO 4711", lines=[item(eur(50_00), "2", tax_rate_bps=1000)]
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["memo", "lines"]),
            ),
            metadata=tenant.token,
        )
    ).invoice
    assert (changed.state, changed.memo, changed.party.name) == (DRAFT, "PO 4711", "Globex")
    assert (changed.subtotal, changed.tax_total, changed.total) == (
        eur(100_00),
        eur(10_00),
        eur(110_00),
    )

    first = await post(finance, tenant, made.id)
    assert (first.state, first.number, first.total) == (POSTED, "INV-2030-000001", eur(110_00))
    again = await post(finance, tenant, made.id)
    assert again == first
    assert [e.id for e in await entries(finance, tenant)] == [first.entry_id]

    error = await fails(
        finance.stub.UpdateInvoice(
            pb.UpdateInvoiceRequest(invoice=fpb.Invoice(id=made.id, memo="late change")),
            metadata=tenant.token,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "NOT_DRAFT"
    assert await get(finance, tenant, made.id) == first


async def test_cancelling_drafts_and_posted_invoices(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    names = await names_of(finance, tenant)
    await posted(finance, tenant, item(eur(70_00), tax_rate_bps=2000), on=MARCH)
    before = await balances(finance, tenant)
    assert before == {"receivable": 84_00, "sales": 70_00, "tax_payable": 14_00}

    # a draft is dropped: no entry
    dropped = await draft(finance, tenant, on=MARCH)
    gone = await cancel(finance, tenant, dropped.id)
    assert (gone.state, gone.number, gone.entry_id, gone.cancel_entry_id) == (CANCELLED, "", "", "")
    assert len(await entries(finance, tenant)) == 1
    error = await fails(post(finance, tenant, dropped.id), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason(error) == "CANCELLED"

    # a posted invoice is reversed, dated the invoice date when that is after today
    later = await posted(finance, tenant, item(eur(33_33), "3", tax_rate_bps=700), on=MARCH)
    assert later.number == "INV-2030-000002"
    back = await cancel(finance, tenant, later.id)
    assert (back.state, back.number, back.entry_id) == (CANCELLED, later.number, later.entry_id)
    assert back.cancel_entry_id
    reversal = await entry(finance, tenant, back.cancel_entry_id)
    original = await entry(finance, tenant, later.entry_id)
    assert (reversal.source, reversal.reverses_entry_id, reversal.date) == (
        fpb.ENTRY_SOURCE_REVERSAL,
        later.entry_id,
        day(MARCH),
    )
    assert original.reversed_by_entry_id == reversal.id
    assert sides(reversal, names) == sorted((a, c, d) for a, d, c in sides(original, names))
    assert sides(reversal, names) == [
        ("receivable", 0, 106_99),
        ("sales", 99_99, 0),
        ("tax_payable", 7_00, 0),
    ]
    assert await balances(finance, tenant) == before
    assert await cancel(finance, tenant, later.id) == back  # cancelling again changes nothing
    assert len(await entries(finance, tenant)) == 3

    # ... and dated today when the invoice date is past
    today = finance.clock().date()
    old = await posted(finance, tenant, on=today - timedelta(days=40))
    reversed_old = await entry(
        finance, tenant, (await cancel(finance, tenant, old.id)).cancel_entry_id
    )
    assert reversed_old.date == day(today)
    assert await balances(finance, tenant) == before

    # paid, even in part: no cancelling
    partly = await posted(finance, tenant, on=MARCH)
    await pay(finance, tenant, eur(1_00), (partly.id, eur(1_00)), on=MARCH)
    fully = await posted(finance, tenant, on=MARCH)
    await pay(finance, tenant, eur(120_00), (fully.id, eur(120_00)), on=MARCH)
    for invoice, state in ((partly, PARTIAL), (fully, PAID)):
        error = await fails(
            cancel(finance, tenant, invoice.id), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert reason(error) == "INVOICE_HAS_PAYMENTS"
        assert (await get(finance, tenant, invoice.id)).state == state


# ---- payments ---------------------------------------------------------------------------


async def test_partial_and_over_payments_and_allocating_credit(
    auth: Auth, finance: Finance
) -> None:
    tenant = await new_tenant(auth)
    names = await names_of(finance, tenant)
    first = await posted(finance, tenant, on=MARCH)  # 120.00
    second = await posted(finance, tenant, item(eur(20_00), tax_rate_bps=2000), on=MARCH)  # 24.00

    part = await pay(finance, tenant, eur(50_00), (first.id, eur(50_00)), on=MARCH)
    assert (part.unallocated, part.company_amount_minor, part.exchange_rate) == (
        eur(0),
        50_00,
        "1",
    )
    assert (part.party.name, part.direction) == ("Globex", INCOMING)  # from the invoice
    assert sides(await entry(finance, tenant, part.entry_ids[0]), names) == [
        ("bank", 50_00, 0),
        ("receivable", 0, 50_00),
    ]
    assert paid_state(await get(finance, tenant, first.id)) == (PARTIAL, 50_00, 70_00)

    # more than is due on the invoice: refused, nothing written
    error = await fails(
        pay(finance, tenant, eur(100_00), (first.id, eur(70_01)), on=MARCH),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"allocations[0].amount.amount_minor"}
    assert len(await payments_of(finance, tenant)) == 1

    # 100.00 for the 70.00 left: 30.00 stays as the customer's credit
    over = await pay(finance, tenant, eur(100_00), (first.id, eur(70_00)), on=MARCH)
    assert over.unallocated == eur(30_00)
    assert [(a.invoice_id, a.amount, a.applied) for a in over.allocations] == [
        (first.id, eur(70_00), eur(70_00))
    ]
    assert sides(await entry(finance, tenant, over.entry_ids[0]), names) == [
        ("bank", 100_00, 0),
        ("customer_credit", 0, 30_00),
        ("receivable", 0, 70_00),
    ]
    assert paid_state(await get(finance, tenant, first.id)) == (PAID, 120_00, 0)
    listed = await finance.stub.ListPayments(
        pb.ListPaymentsRequest(unallocated_only=True), metadata=tenant.token
    )
    assert [p.id for p in listed.payments] == [over.id]

    # the credit later settles other invoices, dated the later of the two dates;
    # not more than the credit, though
    later = MARCH + timedelta(days=3)
    third = await posted(finance, tenant, item(eur(10_00)), on=later)

    async def allocate(*given: tuple[str, int]) -> fpb.Payment:
        done = await finance.stub.AllocatePayment(
            pb.AllocatePaymentRequest(
                id=over.id,
                allocations=[fpb.Allocation(invoice_id=i, amount=eur(a)) for i, a in given],
            ),
            metadata=tenant.token,
        )
        return done.payment

    error = await fails(
        allocate((second.id, 24_00), (third.id, 10_00)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert bad_fields(error) == {"allocations"}  # 34.00 of a 30.00 credit
    applied = await allocate((second.id, 24_00), (third.id, 5_00))
    assert applied.unallocated == eur(1_00)
    assert len(applied.entry_ids) == 2
    allocated = await entry(finance, tenant, applied.entry_ids[1])
    assert allocated.date == day(later)
    assert sides(allocated, names) == [
        ("customer_credit", 29_00, 0),
        ("receivable", 0, 5_00),
        ("receivable", 0, 24_00),
    ]
    assert paid_state(await get(finance, tenant, second.id)) == (PAID, 24_00, 0)
    assert paid_state(await get(finance, tenant, third.id)) == (PARTIAL, 5_00, 5_00)
    assert await balances(finance, tenant) == {
        "bank": 150_00,
        "customer_credit": 1_00,
        "receivable": 5_00,
        "sales": 130_00,
        "tax_payable": 24_00,
    }


async def test_payments_settle_the_right_kind_of_document(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    names = await names_of(finance, tenant)
    invoice = await posted(finance, tenant, on=MARCH)
    bill = await posted(finance, tenant, item(eur(80_00), tax_rate_bps=2500), kind=BILL, on=MARCH)
    assert bill.total == eur(100_00)

    error = await fails(
        pay(finance, tenant, eur(100_00), (bill.id, eur(100_00)), on=MARCH),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"allocations[0].invoice_id"}
    error = await fails(
        pay(finance, tenant, eur(100_00), (invoice.id, eur(100_00)), direction=OUTGOING),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"allocations[0].invoice_id"}
    a_draft = await draft(finance, tenant, on=MARCH)
    error = await fails(
        pay(finance, tenant, eur(1_00), (a_draft.id, eur(1_00))),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "INVOICE_NOT_OPEN"
    assert await payments_of(finance, tenant) == []

    # outgoing: the payable is debited and the bank credited; too much is an advance
    out = await pay(
        finance, tenant, eur(130_00), (bill.id, eur(100_00)), direction=OUTGOING, on=MARCH
    )
    assert (out.direction, out.unallocated, out.party.name) == (OUTGOING, eur(30_00), "Globex")
    assert sides(await entry(finance, tenant, out.entry_ids[0]), names) == [
        ("bank", 0, 130_00),
        ("payable", 100_00, 0),
        ("vendor_credit", 30_00, 0),
    ]
    assert paid_state(await get(finance, tenant, bill.id)) == (PAID, 100_00, 0)

    second_bill = await posted(finance, tenant, item(eur(12_00)), kind=BILL, on=MARCH)
    used = (
        await finance.stub.AllocatePayment(
            pb.AllocatePaymentRequest(
                id=out.id,
                allocations=[fpb.Allocation(invoice_id=second_bill.id, amount=eur(12_00))],
            ),
            metadata=tenant.token,
        )
    ).payment
    assert used.unallocated == eur(18_00)
    assert sides(await entry(finance, tenant, used.entry_ids[1]), names) == [
        ("payable", 12_00, 0),
        ("vendor_credit", 0, 12_00),
    ]
    assert await balances(finance, tenant) == {
        "bank": -130_00,
        "purchases": 92_00,
        "receivable": 120_00,
        "sales": 100_00,
        "tax_payable": 20_00,
        "tax_receivable": 20_00,
        "vendor_credit": 18_00,
    }


async def test_two_payments_racing_for_one_invoice(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    invoice = await posted(finance, tenant, on=MARCH)  # 120.00
    results = await asyncio.gather(
        *(pay(finance, tenant, eur(120_00), (invoice.id, eur(120_00)), on=MARCH) for _ in range(3)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, fpb.Payment)]
    lost = [r for r in results if not isinstance(r, fpb.Payment)]
    assert len(won) == 1, results
    for error in lost:
        assert isinstance(error, grpc.aio.AioRpcError), error
        assert (error.code(), reason(error)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "INVOICE_NOT_OPEN",
        )
    assert paid_state(await get(finance, tenant, invoice.id)) == (PAID, 120_00, 0)
    assert [p.id for p in await payments_of(finance, tenant)] == [won[0].id]
    assert (await balances(finance, tenant))["bank"] == 120_00


async def test_a_credit_left_after_rounded_allocations_is_valued_at_the_payment_rate(
    auth: Auth, finance: Finance
) -> None:
    tenant = await new_tenant(auth)
    names = await names_of(finance, tenant)
    await set_rate(finance, tenant, "USD", date(2030, 3, 1), "0.5")
    cents = [
        await posted(finance, tenant, item(usd(1)), currency="USD", on=MARCH) for _ in range(3)
    ]
    assert [c.company_total_minor for c in cents] == [1, 1, 1]  # 0.5 rounds up
    # USD 0.04 at 0.5 is EUR 0.02; three cents go to the invoices, one stays as credit
    paid = await pay(finance, tenant, usd(4), *((c.id, usd(1)) for c in cents), on=MARCH)
    assert (paid.company_amount_minor, paid.unallocated) == (2, usd(1))
    found = await entry(finance, tenant, paid.entry_ids[0])
    for line in found.lines:
        assert line.company_debit_minor >= 0 and line.company_credit_minor >= 0, line
    credit = [x for x in found.lines if names[x.account_id] == "customer_credit"]
    # the customer's USD 0.01 is worth EUR 0.005, half up 0.01, at the payment's rate
    assert [(x.credit, x.company_credit_minor) for x in credit] == [(usd(1), 1)]


# ---- foreign currency -------------------------------------------------------------------


async def test_realised_exchange_gains_and_losses(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    names = await names_of(finance, tenant)
    await set_rate(finance, tenant, "USD", date(2030, 3, 1), "0.9")
    await set_rate(finance, tenant, "USD", date(2030, 4, 1), "0.95")
    await set_rate(finance, tenant, "USD", date(2030, 5, 1), "0.85")
    april, may = date(2030, 4, 15), date(2030, 5, 2)

    invoice = await posted(
        finance, tenant, item(usd(1000_00), tax_rate_bps=2000), currency="USD", on=MARCH
    )
    assert (invoice.total, invoice.exchange_rate, invoice.company_total_minor) == (
        usd(1200_00),
        "0.9",
        1080_00,
    )
    posting = await entry(finance, tenant, invoice.entry_id)
    assert sides(posting, names) == [
        ("receivable", 1080_00, 0),
        ("sales", 0, 900_00),
        ("tax_payable", 0, 180_00),
    ]
    assert foreign(posting, names) == [
        ("receivable", "USD", 1200_00, 0),
        ("sales", "USD", 0, 1000_00),
        ("tax_payable", "EUR", 0, 180_00),
    ]

    # paid at 0.95: 1140.00 in the bank for a receivable of 1080.00, 60.00 gained
    paid = await pay(finance, tenant, usd(1200_00), (invoice.id, usd(1200_00)), on=april)
    assert (paid.exchange_rate, paid.company_amount_minor) == ("0.95", 1140_00)
    assert [(a.applied, a.exchange_difference_minor) for a in paid.allocations] == [
        (usd(1200_00), 60_00)
    ]
    assert sides(await entry(finance, tenant, paid.entry_ids[0]), names) == [
        ("bank", 1140_00, 0),
        ("fx_gain", 0, 60_00),
        ("receivable", 0, 1080_00),
    ]
    assert paid_state(await get(finance, tenant, invoice.id)) == (PAID, 1200_00, 0)

    # paid in two parts at 0.85: each part clears its share of the 90.00 receivable
    small = await posted(finance, tenant, item(usd(100_00)), currency="USD", on=MARCH)
    assert small.company_total_minor == 90_00
    one = await pay(finance, tenant, usd(33_33), (small.id, usd(33_33)), on=may)
    # 33.33 x 0.85 = 28.3305 → 28.33 against 90.00 x 33.33 % = 29.997 → 30.00
    assert (one.company_amount_minor, one.allocations[0].exchange_difference_minor) == (
        28_33,
        -1_67,
    )
    assert sides(await entry(finance, tenant, one.entry_ids[0]), names) == [
        ("bank", 28_33, 0),
        ("fx_loss", 1_67, 0),
        ("receivable", 0, 30_00),
    ]
    two = await pay(finance, tenant, usd(66_67), (small.id, usd(66_67)), on=may)
    # 66.67 x 0.85 = 56.6695 → 56.67 against the 60.00 left
    assert sides(await entry(finance, tenant, two.entry_ids[0]), names) == [
        ("bank", 56_67, 0),
        ("fx_loss", 3_33, 0),
        ("receivable", 0, 60_00),
    ]

    # a bill: the payable was booked at 0.9, paying it at 0.95 costs 5.00 more
    bill = await posted(finance, tenant, item(usd(100_00)), kind=BILL, currency="USD", on=MARCH)
    out = await pay(
        finance, tenant, usd(100_00), (bill.id, usd(100_00)), direction=OUTGOING, on=april
    )
    assert out.allocations[0].exchange_difference_minor == -5_00  # a loss (the contract)
    assert sides(await entry(finance, tenant, out.entry_ids[0]), names) == [
        ("bank", 0, 95_00),
        ("fx_loss", 5_00, 0),
        ("payable", 90_00, 0),
    ]
    assert await balances(finance, tenant) == {
        "bank": 1140_00 + 28_33 + 56_67 - 95_00,
        "fx_gain": 60_00,
        "fx_loss": 1_67 + 3_33 + 5_00,
        "purchases": 90_00,
        "sales": 990_00,
        "tax_payable": 180_00,
    }


async def test_a_payment_in_euro_settles_a_dollar_invoice(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    names = await names_of(finance, tenant)
    await set_rate(finance, tenant, "USD", date(2030, 3, 1), "0.9")
    await set_rate(finance, tenant, "USD", date(2030, 4, 1), "0.95")
    invoice = await posted(finance, tenant, item(usd(200_00)), currency="USD", on=MARCH)
    assert invoice.company_total_minor == 180_00

    # USD 200.00 is worth EUR 190.00 on the payment date: that is what it takes
    paid = await pay(finance, tenant, eur(200_00), (invoice.id, usd(200_00)), on=date(2030, 4, 15))
    assert [(a.amount, a.applied, a.exchange_difference_minor) for a in paid.allocations] == [
        (usd(200_00), eur(190_00), 10_00)
    ]
    assert (paid.unallocated, paid.company_amount_minor, paid.exchange_rate) == (
        eur(10_00),
        200_00,
        "1",
    )
    found = await entry(finance, tenant, paid.entry_ids[0])
    assert sides(found, names) == [
        ("bank", 200_00, 0),
        ("customer_credit", 0, 10_00),
        ("fx_gain", 0, 10_00),
        ("receivable", 0, 180_00),
    ]
    assert foreign(found, names) == [
        ("bank", "EUR", 200_00, 0),
        ("customer_credit", "EUR", 0, 10_00),
        ("fx_gain", "EUR", 0, 10_00),
        ("receivable", "USD", 0, 200_00),
    ]
    assert paid_state(await get(finance, tenant, invoice.id)) == (PAID, 200_00, 0)


async def test_currencies_with_other_minor_units(auth: Auth, finance: Finance) -> None:
    """A rate is per unit: yen have no minor unit and dinars three, euro two."""
    tenant = await new_tenant(auth)
    names = await names_of(finance, tenant)
    await set_rate(finance, tenant, "JPY", date(2030, 3, 1), "0.0061")
    await set_rate(finance, tenant, "JPY", date(2030, 4, 1), "0.0065")
    await set_rate(finance, tenant, "KWD", date(2030, 3, 1), "2.95")

    yen = await posted(finance, tenant, item(money("JPY", 12345)), currency="JPY", on=MARCH)
    assert (yen.total, yen.company_total_minor) == (money("JPY", 12345), 75_30)  # 75.3045
    dinars = await posted(finance, tenant, item(money("KWD", 1234)), currency="KWD", on=MARCH)
    assert dinars.company_total_minor == 3_64  # 1.234 x 2.95 = 3.6403

    paid = await pay(
        finance, tenant, money("JPY", 12345), (yen.id, money("JPY", 12345)), on=date(2030, 4, 2)
    )
    assert paid.company_amount_minor == 80_24  # 80.2425
    assert sides(await entry(finance, tenant, paid.entry_ids[0]), names) == [
        ("bank", 80_24, 0),
        ("fx_gain", 0, 4_94),
        ("receivable", 0, 75_30),
    ]
    # EUR 3.64 settle the dinar invoice: KWD 1.234 at 2.95 is 3.64 on that day
    euros = await pay(
        finance, tenant, eur(3_64), (dinars.id, money("KWD", 1234)), on=date(2030, 4, 2)
    )
    assert [(a.applied, a.exchange_difference_minor) for a in euros.allocations] == [(eur(3_64), 0)]
    assert euros.unallocated == eur(0)
    assert paid_state(await get(finance, tenant, dinars.id)) == (PAID, 1234, 0)


async def test_no_rate_no_posting(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    await set_rate(finance, tenant, "USD", date(2030, 3, 1), "0.9")
    pounds = await draft(finance, tenant, item(money("GBP", 10_00)), currency="GBP", on=MARCH)
    early = await draft(finance, tenant, item(usd(10_00)), currency="USD", on=date(2030, 2, 28))
    for made in (pounds, early):
        error = await fails(post(finance, tenant, made.id), grpc.StatusCode.FAILED_PRECONDITION)
        assert reason(error) == "NO_EXCHANGE_RATE"
        still = await get(finance, tenant, made.id)
        assert (still.state, still.number, still.entry_id) == (DRAFT, "", "")
    assert await entries(finance, tenant) == []
    await set_rate(finance, tenant, "GBP", date(2030, 1, 1), "1.1")
    done = await post(finance, tenant, pounds.id)
    assert (done.number, done.exchange_rate, done.company_total_minor) == (
        "INV-2030-000001",
        "1.1",
        11_00,
    )


async def test_revaluing_open_foreign_balances(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    names = await names_of(finance, tenant)
    await set_rate(finance, tenant, "USD", date(2030, 3, 1), "0.9")

    async def revalue(on: date) -> pb.RevalueForeignBalancesResponse:
        done: pb.RevalueForeignBalancesResponse = await finance.stub.RevalueForeignBalances(
            pb.RevalueForeignBalancesRequest(date=day(on)), metadata=tenant.token
        )
        return done

    await posted(finance, tenant, item(eur(50_00)), on=MARCH)
    nothing = await revalue(date(2030, 3, 31))  # only euro is open
    assert not nothing.HasField("entry") and not nothing.HasField("reversal")
    invoice = await posted(finance, tenant, item(usd(1000_00)), currency="USD", on=MARCH)
    assert not (await revalue(date(2030, 3, 31))).HasField("entry")  # still at 0.9
    assert len(await entries(finance, tenant)) == 2

    # at 0.92 the open USD 1000.00 is worth 20.00 more
    await set_rate(finance, tenant, "USD", date(2030, 3, 31), "0.92")
    done = await revalue(date(2030, 3, 31))
    assert (done.entry.source, done.entry.date) == (
        fpb.ENTRY_SOURCE_REVALUATION,
        day(date(2030, 3, 31)),
    )
    assert sides(done.entry, names) == [("fx_unrealised", 0, 20_00), ("receivable", 20_00, 0)]
    assert (done.reversal.source, done.reversal.date, done.reversal.reverses_entry_id) == (
        fpb.ENTRY_SOURCE_REVERSAL,
        day(date(2030, 4, 1)),
        done.entry.id,
    )
    assert sides(done.reversal, names) == [("fx_unrealised", 20_00, 0), ("receivable", 0, 20_00)]
    assert done.entry.reversed_by_entry_id == done.reversal.id
    assert (await entry(finance, tenant, done.entry.id)).reversed_by_entry_id == done.reversal.id
    assert await balances(finance, tenant, "2030-03-31") == {
        "fx_unrealised": 20_00,
        "receivable": 970_00,
        "sales": 950_00,
    }
    assert await balances(finance, tenant, "2030-04-01") == {"receivable": 950_00, "sales": 950_00}

    # settled later at 0.95, the gain is realised against the posting rate, not 0.92
    await set_rate(finance, tenant, "USD", date(2030, 4, 10), "0.95")
    paid = await pay(
        finance, tenant, usd(1000_00), (invoice.id, usd(1000_00)), on=date(2030, 4, 15)
    )
    assert sides(await entry(finance, tenant, paid.entry_ids[0]), names) == [
        ("bank", 950_00, 0),
        ("fx_gain", 0, 50_00),
        ("receivable", 0, 900_00),
    ]
    # now the dollars sit in the bank: a foreign bank balance is revalued too
    await set_rate(finance, tenant, "USD", date(2030, 4, 30), "0.96")
    bank = await revalue(date(2030, 4, 30))
    assert sides(bank.entry, names) == [("bank", 10_00, 0), ("fx_unrealised", 0, 10_00)]
    assert await balances(finance, tenant, "2030-04-30") == {
        "bank": 960_00,
        "fx_gain": 50_00,
        "fx_unrealised": 10_00,
        "receivable": 50_00,
        "sales": 950_00,
    }


# ---- events -----------------------------------------------------------------------------


async def test_events_on_jetstream(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    invoice = await posted(finance, tenant, on=MARCH)
    payment = await pay(finance, tenant, eur(120_00), (invoice.id, eur(120_00)), on=MARCH)

    def subject(event_type: str) -> str:
        return subject_for(event_type, tenant.tenant_id)

    got_posted = fpb.InvoicePosted()
    envelope = await read_event(
        auth.nats_url,
        subject("finance.invoice.posted"),
        got_posted,
        match=lambda e: e.invoice.id == invoice.id,
    )
    assert (envelope.event_type, envelope.tenant_id, envelope.source) == (
        "finance.invoice.posted",
        tenant.tenant_id,
        "finance",
    )
    assert (got_posted.invoice.number, got_posted.invoice.state) == ("INV-2030-000001", POSTED)
    assert got_posted.invoice.entry_id == invoice.entry_id

    got_paid = fpb.InvoicePaid()
    await read_event(
        auth.nats_url,
        subject("finance.invoice.paid"),
        got_paid,
        match=lambda e: e.invoice.id == invoice.id,
    )
    assert paid_state(got_paid.invoice) == (PAID, 120_00, 0)

    recorded = fpb.PaymentRecorded()
    await read_event(
        auth.nats_url,
        subject("finance.payment.recorded"),
        recorded,
        match=lambda e: e.payment.id == payment.id,
    )
    assert recorded.payment == payment

    for entry_id in (invoice.entry_id, payment.entry_ids[0]):
        entered = fpb.JournalEntryPosted()
        await read_event(
            auth.nats_url,
            subject("finance.entry.posted"),
            entered,
            match=lambda e, wanted=entry_id: e.entry.id == wanted,
        )
        assert entered.entry == await entry(finance, tenant, entry_id)


# ---- idempotency ------------------------------------------------------------------------


async def test_retries_with_an_idempotency_key(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    request = good_request()
    request.idempotency_key = "create-invoice-1"
    first = (await finance.stub.CreateInvoice(request, metadata=tenant.token)).invoice
    again = (await finance.stub.CreateInvoice(request, metadata=tenant.token)).invoice
    assert again == first
    assert [i.id for i in await invoices_of(finance, tenant)] == [first.id]
    other = pb.CreateInvoiceRequest()
    other.CopyFrom(request)
    other.memo = "not the same request"
    error = await fails(
        finance.stub.CreateInvoice(other, metadata=tenant.token), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert bad_fields(error) == {"idempotency_key"}

    await post(finance, tenant, first.id)
    payment = pb.CreatePaymentRequest(
        direction=INCOMING,
        date=day(MARCH),
        amount=eur(100_00),
        allocations=[fpb.Allocation(invoice_id=first.id, amount=eur(100_00))],
        idempotency_key="pay-1",
    )
    one = (await finance.stub.CreatePayment(payment, metadata=tenant.token)).payment
    two = (await finance.stub.CreatePayment(payment, metadata=tenant.token)).payment
    assert two == one
    assert [p.id for p in await payments_of(finance, tenant)] == [one.id]
    assert paid_state(await get(finance, tenant, first.id)) == (PARTIAL, 100_00, 140_00)
    assert len(await entries(finance, tenant)) == 2
    assert await balances(finance, tenant) == {
        "bank": 100_00,
        "receivable": 140_00,
        "sales": 200_00,
        "tax_payable": 40_00,
    }


async def test_concurrent_retries_with_one_key_get_the_first_result(
    auth: Auth, finance: Finance
) -> None:
    """A client that times out and retries while its first call is still running:
    every call answers the first result, or ABORTED (whose retry gets the replay),
    and the invoice is paid once."""
    tenant = await new_tenant(auth)
    for round_ in range(10):
        invoice = await posted(finance, tenant, on=MARCH)
        call = pb.CreatePaymentRequest(
            direction=INCOMING,
            date=day(MARCH),
            amount=eur(120_00),
            allocations=[fpb.Allocation(invoice_id=invoice.id, amount=eur(120_00))],
            idempotency_key=f"retry-{round_}",
        )
        results = await asyncio.gather(
            *(finance.stub.CreatePayment(call, metadata=tenant.token) for _ in range(2)),
            return_exceptions=True,
        )
        answers = []
        for result in results:
            if isinstance(result, grpc.aio.AioRpcError):
                assert result.code() == grpc.StatusCode.ABORTED, (result.code(), result.details())
                result = await finance.stub.CreatePayment(call, metadata=tenant.token)
            answers.append(result.payment)
        assert answers[0] == answers[1]
        assert paid_state(await get(finance, tenant, invoice.id)) == (PAID, 120_00, 0)
    assert len(await payments_of(finance, tenant)) == 10
