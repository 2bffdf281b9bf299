"""Tenancy and roles in svc_finance, on SQLite and PostgreSQL: another tenant's id
answers exactly like a missing one, on every RPC that takes an id, and changes
nothing; ids of another tenant inside a request body are refused like missing ones;
a tenant's books, rates, numbers and periods are its own. Viewers and members have
no finance permission at all; an accountant keeps the books."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import grpc
import pytest
from auth_client import bad_fields, fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import error_info  # type: ignore[import-not-found]
from crm_client import Tenant, new_tenant, user_token  # type: ignore[import-not-found]
from finance_client import (  # type: ignore[import-not-found]
    accounts_by_code,
    day,
    draft,
    eur,
    item,
    money,
    pay,
    posted,
    set_rate,
    trial_balance,
)
from finance_harness import Finance  # type: ignore[import-not-found]
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from erp.common.v1 import options_pb2
from erp.finance.v1 import finance_pb2 as fpb
from erp.finance.v1 import finance_service_pb2 as pb
from mesh.ids import new_id

SERVICE = pb.DESCRIPTOR.services_by_name["FinanceService"]
NOT_FOUND = grpc.StatusCode.NOT_FOUND
INVALID = grpc.StatusCode.INVALID_ARGUMENT
DENIED = grpc.StatusCode.PERMISSION_DENIED
ON = date(2025, 9, 10)

# Every RPC whose request names a record by its id.
ID_RPCS = {
    "GetAccount",
    "UpdateAccount",
    "ArchiveAccount",
    "DeleteAccount",
    "GetJournalEntry",
    "ReverseJournalEntry",
    "GetInvoice",
    "UpdateInvoice",
    "PostInvoice",
    "CancelInvoice",
    "GetPayment",
    "AllocatePayment",
    "ListStatementLines",
    "MatchStatementLine",
    "UnmatchStatementLine",
}
# These take an `id` too, but it is a month ("2025-09") of the caller's own books.
PERIOD_RPCS = {"ClosePeriod", "ReopenPeriod"}


def permission_of(rpc: str) -> str:
    rule = SERVICE.methods_by_name[rpc].GetOptions().Extensions[options_pb2.access]
    return str(rule.permission)


def takes_an_id(method: Any) -> bool:
    """Whether the request has `id` or `statement_id`, or a message field with an `id`
    (`account.id`, `invoice.id`)."""
    fields = method.input_type.fields
    if {"id", "statement_id"} & {f.name for f in fields}:
        return True
    return any(f.message_type is not None and "id" in f.message_type.fields_by_name for f in fields)


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def dr(account_id: str, amount: int) -> fpb.JournalLine:
    return fpb.JournalLine(account_id=account_id, debit=eur(amount))


def cr(account_id: str, amount: int) -> fpb.JournalLine:
    return fpb.JournalLine(account_id=account_id, credit=eur(amount))


@dataclass(frozen=True)
class Records:
    """One of each kind of record of a tenant, each in the state in which a call that
    wrongly reached it would succeed and change it."""

    account: str  # unused, not a role: could be renamed, archived, deleted
    bank: str
    sales: str
    entry: str  # manual: could be reversed
    draft: str  # could be changed, posted, cancelled
    invoice: str  # posted, open
    payment: str  # with credit left to allocate
    statement: str
    line: str  # suggested for `payment`: could be confirmed or dropped


async def records_of(finance: Finance, tenant: Tenant) -> Records:
    stub, token = finance.stub, tenant.token
    chart = await accounts_by_code(finance, tenant)
    account = await stub.CreateAccount(
        pb.CreateAccountRequest(code="5210", name="Travel", parent_id=chart["5000"].id),
        metadata=token,
    )
    entry = await stub.CreateJournalEntry(
        pb.CreateJournalEntryRequest(
            date=day(ON),
            memo="Owned",
            lines=[dr(chart["1100"].id, 10_000), cr(chart["3100"].id, 10_000)],
        ),
        metadata=token,
    )
    made = await draft(finance, tenant, on=ON)
    invoice = await posted(finance, tenant, item(eur(20_000)), on=ON)
    paid = await stub.CreatePayment(
        pb.CreatePaymentRequest(
            direction=fpb.PAYMENT_DIRECTION_INCOMING,
            party=fpb.Party(name="Globex"),
            date=day(ON),
            amount=eur(50_000),
            reference="Owned payment",
        ),
        metadata=token,
    )
    payment = paid.payment
    csv = f"date,amount,reference,description\n{ON.isoformat()},500.00,{payment.number},Owned\n"
    imported = await stub.ImportBankStatement(
        pb.ImportBankStatementRequest(format=fpb.STATEMENT_FORMAT_CSV, content=csv.encode()),
        metadata=token,
    )
    (line,) = imported.lines
    assert (line.state, line.payment_id) == (fpb.MATCH_STATE_SUGGESTED, payment.id)
    return Records(
        account=account.account.id,
        bank=chart["1100"].id,
        sales=chart["4100"].id,
        entry=entry.entry.id,
        draft=made.id,
        invoice=invoice.id,
        payment=payment.id,
        statement=imported.statement.id,
        line=line.id,
    )


def missing() -> Records:
    """Ids nobody has."""
    return Records(*(new_id() for _ in range(9)))


async def snapshot(finance: Finance, tenant: Tenant, r: Records) -> list[Message]:
    """Everything the tenant can read about its records (compared before and after)."""
    stub, token = finance.stub, tenant.token
    return [
        await stub.GetAccount(pb.GetAccountRequest(id=r.account), metadata=token),
        await stub.ListAccounts(
            pb.ListAccountsRequest(page_size=500, include_archived=True), metadata=token
        ),
        await stub.GetJournalEntry(pb.GetJournalEntryRequest(id=r.entry), metadata=token),
        await stub.ListJournalEntries(pb.ListJournalEntriesRequest(page_size=500), metadata=token),
        await stub.GetInvoice(pb.GetInvoiceRequest(id=r.draft), metadata=token),
        await stub.GetInvoice(pb.GetInvoiceRequest(id=r.invoice), metadata=token),
        await stub.GetPayment(pb.GetPaymentRequest(id=r.payment), metadata=token),
        await stub.ListStatementLines(
            pb.ListStatementLinesRequest(statement_id=r.statement), metadata=token
        ),
        await stub.ListPeriods(pb.ListPeriodsRequest(fiscal_year=ON.year), metadata=token),
        await stub.ListExchangeRates(pb.ListExchangeRatesRequest(), metadata=token),
        await trial_balance(finance, tenant, "2025-12-31"),
        await stub.VerifyLedger(pb.VerifyLedgerRequest(), metadata=token),
    ]


Call = Callable[[Records], Awaitable[Any]]


def id_calls(finance: Finance, token: Any, mine: Records) -> dict[str, Call]:
    """Every RPC that takes an id, as the caller with `token`, aimed at `r`'s records;
    everything else in the request is the caller's own and valid, so that only the
    id can make it fail."""
    s, m = finance.stub, token
    return {
        "GetAccount": lambda r: s.GetAccount(pb.GetAccountRequest(id=r.account), metadata=m),
        "UpdateAccount": lambda r: s.UpdateAccount(
            pb.UpdateAccountRequest(
                account=fpb.Account(id=r.account, name="Hacked"), update_mask=mask("name")
            ),
            metadata=m,
        ),
        "ArchiveAccount": lambda r: s.ArchiveAccount(
            pb.ArchiveAccountRequest(id=r.account), metadata=m
        ),
        "DeleteAccount": lambda r: s.DeleteAccount(
            pb.DeleteAccountRequest(id=r.account), metadata=m
        ),
        "GetJournalEntry": lambda r: s.GetJournalEntry(
            pb.GetJournalEntryRequest(id=r.entry), metadata=m
        ),
        "ReverseJournalEntry": lambda r: s.ReverseJournalEntry(
            pb.ReverseJournalEntryRequest(id=r.entry, date=day(ON)), metadata=m
        ),
        "GetInvoice": lambda r: s.GetInvoice(pb.GetInvoiceRequest(id=r.invoice), metadata=m),
        "GetInvoice(draft)": lambda r: s.GetInvoice(pb.GetInvoiceRequest(id=r.draft), metadata=m),
        "UpdateInvoice": lambda r: s.UpdateInvoice(
            pb.UpdateInvoiceRequest(invoice=fpb.Invoice(id=r.draft, memo="Hacked")),
            metadata=m,
        ),
        "PostInvoice": lambda r: s.PostInvoice(pb.PostInvoiceRequest(id=r.draft), metadata=m),
        "CancelInvoice": lambda r: s.CancelInvoice(
            pb.CancelInvoiceRequest(id=r.draft, reason="Hacked"), metadata=m
        ),
        "CancelInvoice(posted)": lambda r: s.CancelInvoice(
            pb.CancelInvoiceRequest(id=r.invoice), metadata=m
        ),
        "GetPayment": lambda r: s.GetPayment(pb.GetPaymentRequest(id=r.payment), metadata=m),
        "AllocatePayment": lambda r: s.AllocatePayment(
            pb.AllocatePaymentRequest(
                id=r.payment,
                allocations=[fpb.Allocation(invoice_id=mine.invoice, amount=eur(1_000))],
            ),
            metadata=m,
        ),
        "ListStatementLines": lambda r: s.ListStatementLines(
            pb.ListStatementLinesRequest(statement_id=r.statement), metadata=m
        ),
        "MatchStatementLine": lambda r: s.MatchStatementLine(
            pb.MatchStatementLineRequest(id=r.line), metadata=m
        ),
        "MatchStatementLine(payment)": lambda r: s.MatchStatementLine(
            pb.MatchStatementLineRequest(id=r.line, payment_id=mine.payment), metadata=m
        ),
        "UnmatchStatementLine": lambda r: s.UnmatchStatementLine(
            pb.UnmatchStatementLineRequest(id=r.line), metadata=m
        ),
    }


def test_the_id_table_follows_the_contract() -> None:
    """A new RPC that takes an id shows up here, and must join the table."""
    with_ids = {m.name for m in SERVICE.methods if takes_an_id(m)}
    assert with_ids == ID_RPCS | PERIOD_RPCS
    # Every finance RPC needs a finance permission and the plan's finance feature.
    for method in SERVICE.methods:
        rule = method.GetOptions().Extensions[options_pb2.access]
        assert not rule.public and not rule.internal, method.name
        assert rule.feature == "finance", method.name
        assert rule.permission.startswith("finance.") and rule.permission.count(".") == 2


async def test_another_tenants_ids_are_not_found(auth: Auth, finance: Finance) -> None:
    a = await new_tenant(auth, "Books A")
    b = await new_tenant(auth, "Books B")
    theirs = await records_of(finance, a)
    mine = await records_of(finance, b)
    before = await snapshot(finance, a, theirs)
    calls = id_calls(finance, b.token, mine)
    assert {name.split("(")[0] for name in calls} == ID_RPCS
    nobody = missing()
    for name, call in calls.items():
        foreign = await fails(call(theirs), NOT_FOUND)
        absent = await fails(call(nobody), NOT_FOUND)
        assert foreign.details() == absent.details(), name
        assert error_info(foreign).reason == "NOT_FOUND", name
    assert await snapshot(finance, a, theirs) == before  # nothing of A changed

    # B's own records answer normally: the table aims at ids, not at failing RPCs.
    for name in ("GetAccount", "GetJournalEntry", "GetInvoice", "GetPayment", "ListStatementLines"):
        await calls[name](mine)
    lines = await calls["ListStatementLines"](mine)
    assert [line.id for line in lines.lines] == [mine.line]
    allocated = await calls["AllocatePayment"](mine)
    assert allocated.payment.unallocated == eur(49_000)
    matched = await calls["MatchStatementLine"](mine)
    assert (matched.line.state, matched.line.payment_id) == (fpb.MATCH_STATE_MATCHED, mine.payment)
    assert await snapshot(finance, a, theirs) == before


async def test_periods_are_the_tenants_own(auth: Auth, finance: Finance) -> None:
    """ClosePeriod and ReopenPeriod name a month of the caller's books: B closing or
    reopening a month changes nothing of A's."""
    a = await new_tenant(auth, "Periods A")
    b = await new_tenant(auth, "Periods B")
    theirs = await records_of(finance, a)
    await records_of(finance, b)
    await finance.stub.ClosePeriod(pb.ClosePeriodRequest(id="2025-08"), metadata=a.token)
    before = await snapshot(finance, a, theirs)

    closed = await finance.stub.ClosePeriod(pb.ClosePeriodRequest(id="2025-09"), metadata=b.token)
    assert closed.period.state == fpb.PERIOD_STATE_CLOSED
    opened = await finance.stub.ReopenPeriod(pb.ReopenPeriodRequest(id="2025-08"), metadata=b.token)
    assert opened.period.state == fpb.PERIOD_STATE_OPEN
    await finance.stub.CloseFiscalYear(pb.CloseFiscalYearRequest(year=2024), metadata=b.token)
    assert await snapshot(finance, a, theirs) == before

    listed = await finance.stub.ListPeriods(
        pb.ListPeriodsRequest(fiscal_year=2025), metadata=a.token
    )
    states = {p.id: p.state for p in listed.periods}
    assert (
        states["2025-08"] == fpb.PERIOD_STATE_CLOSED and states["2025-09"] == fpb.PERIOD_STATE_OPEN
    )
    a_2024 = await finance.stub.ListPeriods(
        pb.ListPeriodsRequest(fiscal_year=2024), metadata=a.token
    )
    assert not a_2024.fiscal_year.closed
    # A still posts into the month B closed.
    entry = await finance.stub.CreateJournalEntry(
        pb.CreateJournalEntryRequest(date=day(ON), lines=[dr(theirs.bank, 1), cr(theirs.sales, 1)]),
        metadata=a.token,
    )
    assert entry.entry.number == "JE-000004"  # A's own sequence: entry, invoice, payment


async def test_another_tenants_ids_in_a_body_are_refused(auth: Auth, finance: Finance) -> None:
    """References to another tenant's records inside a request fail exactly like
    references to missing ones, and nothing is made."""
    a = await new_tenant(auth, "Linked A")
    b = await new_tenant(auth, "Linked B")
    theirs = await records_of(finance, a)
    mine = await records_of(finance, b)
    before = await snapshot(finance, a, theirs)
    mine_before = await snapshot(finance, b, mine)
    s, m = finance.stub, b.token
    cases: list[tuple[Callable[[Records], Awaitable[Any]], grpc.StatusCode, str]] = [
        (
            lambda r: s.CreateJournalEntry(
                pb.CreateJournalEntryRequest(
                    date=day(ON), lines=[dr(mine.bank, 100), cr(r.sales, 100)]
                ),
                metadata=m,
            ),
            INVALID,
            "lines[1].account_id",
        ),
        (
            lambda r: s.CreateAccount(
                pb.CreateAccountRequest(code="9999", name="Child", parent_id=r.account),
                metadata=m,
            ),
            INVALID,
            "parent_id",
        ),
        (
            lambda r: s.UpdateAccount(
                pb.UpdateAccountRequest(
                    account=fpb.Account(id=mine.account, parent_id=r.account),
                    update_mask=mask("parent_id"),
                ),
                metadata=m,
            ),
            INVALID,
            "parent_id",
        ),
        (
            lambda r: s.CreateInvoice(
                pb.CreateInvoiceRequest(
                    party=fpb.Party(name="Globex"),
                    lines=[
                        fpb.InvoiceLine(
                            description="X", quantity="1", unit_price=eur(100), account_id=r.sales
                        )
                    ],
                ),
                metadata=m,
            ),
            INVALID,
            "lines[0].account_id",
        ),
        (
            lambda r: s.CreatePayment(
                pb.CreatePaymentRequest(
                    direction=fpb.PAYMENT_DIRECTION_INCOMING,
                    date=day(ON),
                    amount=eur(1_000),
                    allocations=[fpb.Allocation(invoice_id=r.invoice, amount=eur(1_000))],
                ),
                metadata=m,
            ),
            INVALID,
            "allocations[0].invoice_id",
        ),
        (
            lambda r: s.AllocatePayment(
                pb.AllocatePaymentRequest(
                    id=mine.payment,
                    allocations=[fpb.Allocation(invoice_id=r.invoice, amount=eur(1_000))],
                ),
                metadata=m,
            ),
            INVALID,
            "allocations[0].invoice_id",
        ),
        (
            lambda r: s.CreatePayment(
                pb.CreatePaymentRequest(
                    direction=fpb.PAYMENT_DIRECTION_INCOMING,
                    party=fpb.Party(name="Globex"),
                    date=day(ON),
                    amount=eur(1_000),
                    bank_account_id=r.bank,
                ),
                metadata=m,
            ),
            INVALID,
            "bank_account_id",
        ),
        # These two answer NOT_FOUND (not INVALID_ARGUMENT naming the field, as the
        # others do): the same as for a missing id all the same.
        (
            lambda r: s.ImportBankStatement(
                pb.ImportBankStatementRequest(
                    bank_account_id=r.bank,
                    format=fpb.STATEMENT_FORMAT_CSV,
                    content=b"date,amount\n2025-09-11,1.00\n",
                ),
                metadata=m,
            ),
            NOT_FOUND,
            "",
        ),
        (
            lambda r: s.MatchStatementLine(
                pb.MatchStatementLineRequest(id=mine.line, payment_id=r.payment), metadata=m
            ),
            NOT_FOUND,
            "",
        ),
    ]
    nobody = missing()
    for call, code, field in cases:
        foreign = await fails(call(theirs), code)
        absent = await fails(call(nobody), code)
        assert foreign.details() == absent.details(), field
        if field:
            assert bad_fields(foreign) == {field}, foreign.details()
    assert await snapshot(finance, a, theirs) == before
    assert await snapshot(finance, b, mine) == mine_before

    # Filters by another tenant's account find nothing.
    found = await s.ListJournalEntries(
        pb.ListJournalEntriesRequest(account_id=theirs.bank), metadata=m
    )
    assert list(found.entries) == []
    found = await s.ListJournalEntries(
        pb.ListJournalEntriesRequest(account_id=mine.bank), metadata=m
    )
    assert len(found.entries) == 2  # B's capital entry and its payment


async def test_books_rates_and_numbers_are_the_tenants_own(auth: Auth, finance: Finance) -> None:
    a = await new_tenant(auth, "Own A")
    b = await new_tenant(auth, "Own B")
    await records_of(finance, a)
    await set_rate(finance, a, "USD", date(2025, 1, 1), "0.9")
    await finance.stub.UpdateFinanceSettings(
        pb.UpdateFinanceSettingsRequest(
            settings=fpb.FinanceSettings(
                reconciliation_rules=fpb.ReconciliationRules(date_tolerance_days=9)
            ),
            update_mask=mask("reconciliation_rules.date_tolerance_days"),
        ),
        metadata=a.token,
    )
    chart = await accounts_by_code(finance, b)
    s, m = finance.stub, b.token
    # A's rate is not B's: B has none.
    rates = await s.ListExchangeRates(pb.ListExchangeRatesRequest(), metadata=m)
    assert list(rates.rates) == []
    error = await fails(
        s.CreateJournalEntry(
            pb.CreateJournalEntryRequest(
                date=day(ON),
                lines=[
                    fpb.JournalLine(account_id=chart["1100"].id, debit=money("USD", 1_000)),
                    cr(chart["4100"].id, 900),
                ],
            ),
            metadata=m,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_info(error).reason == "NO_EXCHANGE_RATE"
    settings = await s.GetFinanceSettings(pb.GetFinanceSettingsRequest(), metadata=m)
    assert settings.settings.reconciliation_rules.date_tolerance_days == 3
    assert not settings.settings.books_started
    # B's numbers start at one, its reports and chain hold its own entries only.
    assert len(chart) == 20  # A's extra account is not in B's chart
    entry = await s.CreateJournalEntry(
        pb.CreateJournalEntryRequest(
            date=day(ON), lines=[dr(chart["1100"].id, 700), cr(chart["4100"].id, 700)]
        ),
        metadata=m,
    )
    assert (entry.entry.number, entry.entry.sequence) == ("JE-000001", 1)
    invoice = await posted(finance, b, on=ON)
    assert invoice.number == "INV-2025-000001"
    payment = await pay(finance, b, eur(100), (invoice.id, eur(100)), on=ON)
    assert payment.number == "PAY-2025-000001"
    report = await trial_balance(finance, b, "2025-12-31")
    assert report.total_debit_minor == 700 + 12_000 + 100
    checked = await s.VerifyLedger(pb.VerifyLedgerRequest(), metadata=m)
    assert (checked.valid, checked.entries_checked) == (True, 3)
    listed = await s.ListInvoices(pb.ListInvoicesRequest(), metadata=m)
    assert [i.id for i in listed.invoices] == [invoice.id]
    paid = await s.ListPayments(pb.ListPaymentsRequest(), metadata=m)
    assert [p.id for p in paid.payments] == [payment.id]


# ---- roles ---------------------------------------------------------------------------


def empty_call(finance: Finance, rpc: str, token: Any) -> Awaitable[Any]:
    """`rpc` with an empty request (the permission check comes before any other)."""
    method = SERVICE.methods_by_name[rpc]
    request = getattr(pb, method.input_type.name)()
    return getattr(finance.stub, rpc)(request, metadata=token)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Staff:
    tenant: Tenant
    records: Records
    viewer: Any
    member: Any
    accountant: Any


@pytest.fixture(scope="module")
async def staff(auth: Auth, finance: Finance) -> Staff:
    """A tenant with records, and tokens of a viewer, a member and an accountant."""
    tenant = await new_tenant(auth, "Staff Ltd")
    records = await records_of(finance, tenant)
    return Staff(
        tenant,
        records,
        viewer=await user_token(auth, tenant, "viewer"),
        member=await user_token(auth, tenant, "member"),
        accountant=await user_token(auth, tenant, "accountant"),
    )


@pytest.mark.parametrize("role", ["viewer", "member"])
async def test_viewers_and_members_have_no_finance_access(
    finance: Finance, staff: Staff, role: str
) -> None:
    token = getattr(staff, role)
    before = await snapshot(finance, staff.tenant, staff.records)
    for method in SERVICE.methods:
        error = await fails(empty_call(finance, method.name, token), DENIED)
        info = error_info(error)
        assert (info.reason, dict(info.metadata)) == (
            "PERMISSION_DENIED",
            {"permission": permission_of(method.name)},
        ), method.name
    # Aimed at real records with valid requests: refused all the same.
    for call in id_calls(finance, token, staff.records).values():
        await fails(call(staff.records), DENIED)
    chart = await accounts_by_code(finance, staff.tenant)
    await fails(
        finance.stub.CreateJournalEntry(
            pb.CreateJournalEntryRequest(
                date=day(ON), lines=[dr(chart["1100"].id, 5), cr(chart["4100"].id, 5)]
            ),
            metadata=token,
        ),
        DENIED,
    )
    await fails(
        finance.stub.GetTrialBalance(pb.GetTrialBalanceRequest(as_of="2025-12-31"), metadata=token),
        DENIED,
    )
    assert await snapshot(finance, staff.tenant, staff.records) == before


async def test_an_accountant_keeps_the_books(finance: Finance, staff: Staff) -> None:
    s, m = finance.stub, staff.accountant
    r = staff.records
    chart = await accounts_by_code(finance, staff.tenant)
    before = await trial_balance(finance, staff.tenant, "2025-12-31")
    made = await s.CreateJournalEntry(
        pb.CreateJournalEntryRequest(
            date=day(ON),
            memo="By the accountant",
            lines=[dr(chart["5200"].id, 2_500), cr(chart["1100"].id, 2_500)],
        ),
        metadata=m,
    )
    entry = made.entry
    assert entry.posted_by and entry.posted_by != staff.tenant.owner_id
    # Reports, the chain and the journal.
    report = await s.GetTrialBalance(pb.GetTrialBalanceRequest(as_of="2025-12-31"), metadata=m)
    assert report.total_debit_minor == before.total_debit_minor + 2_500
    assert report == await trial_balance(finance, staff.tenant, "2025-12-31")
    income = await s.GetIncomeStatement(
        pb.GetIncomeStatementRequest(from_date="2025-01-01", to_date="2025-12-31"), metadata=m
    )
    assert income.total_expense_minor == 2_500
    sheet = await s.GetBalanceSheet(pb.GetBalanceSheetRequest(as_of="2025-12-31"), metadata=m)
    assert sheet.total_assets_minor == sheet.total_liabilities_minor + sheet.total_equity_minor
    checked = await s.VerifyLedger(pb.VerifyLedgerRequest(), metadata=m)
    assert checked.valid and checked.head_hash == entry.hash
    got = await s.GetJournalEntry(pb.GetJournalEntryRequest(id=r.entry), metadata=m)
    assert got.entry.memo == "Owned"
    # Documents, periods and rates too.
    invoice = await posted(finance, Tenant(staff.tenant.tenant_id, "", m), on=ON)
    assert invoice.state == fpb.INVOICE_STATE_POSTED
    await set_rate(finance, Tenant(staff.tenant.tenant_id, "", m), "USD", ON, "0.9")
    back = await s.ReverseJournalEntry(pb.ReverseJournalEntryRequest(id=entry.id), metadata=m)
    assert back.entry.reverses_entry_id == entry.id
    closed = await s.ClosePeriod(pb.ClosePeriodRequest(id="2025-01"), metadata=m)
    assert closed.period.closed_by == entry.posted_by
    await s.ReopenPeriod(pb.ReopenPeriodRequest(id="2025-01"), metadata=m)
    assert (await s.VerifyLedger(pb.VerifyLedgerRequest(), metadata=m)).valid
