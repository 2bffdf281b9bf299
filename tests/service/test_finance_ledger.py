"""svc_finance's ledger through its gRPC API, on SQLite and PostgreSQL: the chart of
accounts, posting (balance, periods, rates), the hash chain and what tampering does
to it, reversals, the year-end close, settings fixed by the first posting,
concurrent posting and idempotent retries.

Every entry is dated explicitly and every report asks for its date: the tests never
depend on the service's clock, which other tests may move."""

from __future__ import annotations

import asyncio
import itertools
from datetime import date

import grpc
import pytest
from auth_client import bad_fields, fails, reason, status_details  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import error_info  # type: ignore[import-not-found]
from crm_client import Tenant, new_tenant  # type: ignore[import-not-found]
from finance_client import (  # type: ignore[import-not-found]
    accounts_by_code,
    accounts_by_role,
    day,
    draft,
    eur,
    item,
    money,
    posted,
    set_rate,
    trial_balance,
)
from finance_harness import Finance  # type: ignore[import-not-found]
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from sqlalchemy import text

from erp.common.v1 import money_pb2
from erp.finance.v1 import finance_pb2 as fpb
from erp.finance.v1 import finance_service_pb2 as pb
from erp.finance.v1 import finance_service_pb2_grpc
from mesh.ids import new_id

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
GENESIS = "0" * 64
ROLES = {
    "bank": "1100",
    "receivable": "1200",
    "tax_receivable": "1300",
    "vendor_credit": "1400",
    "payable": "2100",
    "tax_payable": "2200",
    "customer_credit": "2300",
    "retained_earnings": "3200",
    "sales": "4100",
    "fx_gain": "4800",
    "fx_unrealised": "4900",
    "purchases": "5100",
    "fx_loss": "5800",
}


# ---- helpers ---------------------------------------------------------------------------


def dr(account: fpb.Account | str, amount: money_pb2.Money | int) -> fpb.JournalLine:
    account_id = account if isinstance(account, str) else account.id
    value = eur(amount) if isinstance(amount, int) else amount
    return fpb.JournalLine(account_id=account_id, debit=value)


def cr(account: fpb.Account | str, amount: money_pb2.Money | int) -> fpb.JournalLine:
    account_id = account if isinstance(account, str) else account.id
    value = eur(amount) if isinstance(amount, int) else amount
    return fpb.JournalLine(account_id=account_id, credit=value)


def entry_request(
    on: date, *lines: fpb.JournalLine, memo: str = "", key: str = ""
) -> pb.CreateJournalEntryRequest:
    return pb.CreateJournalEntryRequest(
        date=day(on), memo=memo, lines=list(lines), idempotency_key=key
    )


async def post_entry(
    finance: Finance, tenant: Tenant, on: date, *lines: fpb.JournalLine, memo: str = ""
) -> fpb.JournalEntry:
    made = await finance.stub.CreateJournalEntry(
        entry_request(on, *lines, memo=memo), metadata=tenant.token
    )
    found: fpb.JournalEntry = made.entry
    return found


async def journal(finance: Finance, tenant: Tenant) -> list[fpb.JournalEntry]:
    """The whole journal, newest first."""
    listed = await finance.stub.ListJournalEntries(
        pb.ListJournalEntriesRequest(page_size=500), metadata=tenant.token
    )
    assert not listed.next_page_token
    return list(listed.entries)


async def verify(finance: Finance, tenant: Tenant) -> pb.VerifyLedgerResponse:
    found: pb.VerifyLedgerResponse = await finance.stub.VerifyLedger(
        pb.VerifyLedgerRequest(), metadata=tenant.token
    )
    return found


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """field -> description of the BadRequest detail."""
    for detail in status_details(error).details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return {v.field: v.description for v in bad.field_violations}
    raise AssertionError("no BadRequest detail")


def balances(report: pb.GetTrialBalanceResponse) -> dict[str, int]:
    """Account code -> balance on its normal side."""
    return {line.code: line.balance_minor for line in report.lines}


async def books_of(finance: Finance, auth: Auth) -> tuple[Tenant, dict[str, fpb.Account]]:
    """A new tenant and its accounts by code (the chart seeded)."""
    tenant = await new_tenant(auth)
    return tenant, await accounts_by_code(finance, tenant)


async def rows(finance: Finance, sql: str, **params: object) -> list[tuple[object, ...]]:
    """Run SQL on the service's own database (what an intruder with access could do)."""
    async with finance.running.runtime.db.transaction() as session:
        result = await session.execute(text(sql), params)
        return [tuple(r) for r in result.all()] if result.returns_rows else []


# ---- chart of accounts -----------------------------------------------------------------


async def test_the_default_chart_is_seeded(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    settings = await finance.stub.GetFinanceSettings(
        pb.GetFinanceSettingsRequest(), metadata=tenant.token
    )
    assert settings.settings.company_currency == "EUR"
    assert settings.settings.fiscal_year_start_month == 1
    assert not settings.settings.books_started

    chart = await accounts_by_code(finance, tenant)
    assert len(chart) == 20
    by_role = await accounts_by_role(finance, tenant)
    assert {role: a.code for role, a in by_role.items()} == ROLES
    by_id = {a.id: a for a in chart.values()}
    tops = {code for code, a in chart.items() if not a.parent_id}
    assert tops == {"1000", "2000", "3000", "4000", "5000"}
    for account in chart.values():
        assert not account.used and not account.archived
        if account.parent_id:
            parent = by_id[account.parent_id]
            assert parent.type == account.type, account.code
            assert parent.code[0] == account.code[0] and not parent.parent_id
    types = {code: chart[code].type for code in tops}
    assert types == {
        "1000": fpb.ACCOUNT_TYPE_ASSET,
        "2000": fpb.ACCOUNT_TYPE_LIABILITY,
        "3000": fpb.ACCOUNT_TYPE_EQUITY,
        "4000": fpb.ACCOUNT_TYPE_INCOME,
        "5000": fpb.ACCOUNT_TYPE_EXPENSE,
    }
    # Listing is by code, and filters by type.
    listed = await finance.stub.ListAccounts(
        pb.ListAccountsRequest(type=fpb.ACCOUNT_TYPE_EXPENSE), metadata=tenant.token
    )
    assert [a.code for a in listed.accounts] == ["5000", "5100", "5200", "5800"]


async def test_creating_accounts(auth: Auth, finance: Finance) -> None:
    tenant, chart = await books_of(finance, auth)
    stub, token = finance.stub, tenant.token

    # A child without a type takes its parent's.
    made = await stub.CreateAccount(
        pb.CreateAccountRequest(code="4150", name="Services", parent_id=chart["4000"].id),
        metadata=token,
    )
    child = made.account
    assert (child.code, child.name, child.type, child.parent_id, child.role) == (
        "4150",
        "Services",
        fpb.ACCOUNT_TYPE_INCOME,
        chart["4000"].id,
        "",
    )
    assert not child.used and not child.archived
    got = await stub.GetAccount(pb.GetAccountRequest(id=child.id), metadata=token)
    assert got.account == child
    # A grandchild too, and with the right type given explicitly.
    grand = await stub.CreateAccount(
        pb.CreateAccountRequest(
            code="4150.1", name="Training", parent_id=child.id, type=fpb.ACCOUNT_TYPE_INCOME
        ),
        metadata=token,
    )
    assert grand.account.type == fpb.ACCOUNT_TYPE_INCOME
    top = await stub.CreateAccount(
        pb.CreateAccountRequest(code="6000", name="Other", type=fpb.ACCOUNT_TYPE_EXPENSE),
        metadata=token,
    )
    assert (top.account.type, top.account.parent_id) == (fpb.ACCOUNT_TYPE_EXPENSE, "")

    # Codes are unique in the tenant.
    error = await fails(
        stub.CreateAccount(
            pb.CreateAccountRequest(code="4150", name="Again", type=fpb.ACCOUNT_TYPE_INCOME),
            metadata=token,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert reason(error) == "ACCOUNT_CODE_TAKEN"
    assert dict(error_info(error).metadata) == {"code": "4150"}
    await fails(
        stub.CreateAccount(
            pb.CreateAccountRequest(code="1100", name="Second bank", type=fpb.ACCOUNT_TYPE_ASSET),
            metadata=token,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    # A child of another type than its parent, a top-level account without a type,
    # a parent that does not exist, a bad code.
    error = await fails(
        stub.CreateAccount(
            pb.CreateAccountRequest(
                code="4160", name="Wrong", parent_id=chart["4000"].id, type=fpb.ACCOUNT_TYPE_EXPENSE
            ),
            metadata=token,
        ),
        INVALID,
    )
    assert bad_fields(error) == {"type"}
    assert "income" in violations(error)["type"]
    error = await fails(
        stub.CreateAccount(pb.CreateAccountRequest(code="7000", name="Untyped"), metadata=token),
        INVALID,
    )
    assert bad_fields(error) == {"type"}
    error = await fails(
        stub.CreateAccount(
            pb.CreateAccountRequest(code="4170", name="Orphan", parent_id=new_id()),
            metadata=token,
        ),
        INVALID,
    )
    assert bad_fields(error) == {"parent_id"}
    error = await fails(
        stub.CreateAccount(
            pb.CreateAccountRequest(code="41 70", name="", type=fpb.ACCOUNT_TYPE_INCOME),
            metadata=token,
        ),
        INVALID,
    )
    assert bad_fields(error) == {"code", "name"}

    after = await accounts_by_code(finance, tenant)
    assert set(after) - set(chart) == {"4150", "4150.1", "6000"}


async def test_used_accounts_are_archived_not_deleted(auth: Auth, finance: Finance) -> None:
    tenant, chart = await books_of(finance, auth)
    stub, token = finance.stub, tenant.token
    travel = (
        await stub.CreateAccount(
            pb.CreateAccountRequest(code="5210", name="Travel", parent_id=chart["5000"].id),
            metadata=token,
        )
    ).account
    spare = (
        await stub.CreateAccount(
            pb.CreateAccountRequest(code="5220", name="Spare", parent_id=chart["5000"].id),
            metadata=token,
        )
    ).account
    first = await post_entry(
        finance, tenant, date(2025, 2, 3), dr(travel, 4500), cr(chart["1100"], 4500)
    )
    used = await stub.GetAccount(pb.GetAccountRequest(id=travel.id), metadata=token)
    assert used.account.used
    assert (
        await stub.GetAccount(pb.GetAccountRequest(id=spare.id), metadata=token)
    ).account.used is False

    # Used: not deletable, but archivable.
    error = await fails(
        stub.DeleteAccount(pb.DeleteAccountRequest(id=travel.id), metadata=token), PRECONDITION
    )
    assert reason(error) == "ACCOUNT_USED"
    archived = await stub.ArchiveAccount(pb.ArchiveAccountRequest(id=travel.id), metadata=token)
    assert archived.account.archived and archived.account.used
    listed = await stub.ListAccounts(pb.ListAccountsRequest(page_size=500), metadata=token)
    assert "5210" not in {a.code for a in listed.accounts}
    listed = await stub.ListAccounts(
        pb.ListAccountsRequest(page_size=500, include_archived=True), metadata=token
    )
    assert "5210" in {a.code for a in listed.accounts}

    # An archived account takes no new postings; the line naming it is the field.
    before = await trial_balance(finance, tenant, "2025-12-31")
    error = await fails(
        stub.CreateJournalEntry(
            entry_request(
                date(2025, 2, 4), dr(chart["5200"], 100), dr(travel, 100), cr(chart["1100"], 200)
            ),
            metadata=token,
        ),
        INVALID,
    )
    assert bad_fields(error) == {"lines[1].account_id"}
    assert "archived" in violations(error)["lines[1].account_id"]
    assert [e.id for e in await journal(finance, tenant)] == [first.id]
    assert await trial_balance(finance, tenant, "2025-12-31") == before
    # Its history stays in the reports.
    assert balances(before)["5210"] == 4500

    # Unused: deleted for good.
    await stub.DeleteAccount(pb.DeleteAccountRequest(id=spare.id), metadata=token)
    await fails(
        stub.GetAccount(pb.GetAccountRequest(id=spare.id), metadata=token),
        grpc.StatusCode.NOT_FOUND,
    )
    # A parent with children cannot be deleted either.
    error = await fails(
        stub.DeleteAccount(pb.DeleteAccountRequest(id=chart["5000"].id), metadata=token),
        PRECONDITION,
    )
    assert reason(error) == "ACCOUNT_HAS_CHILDREN"

    # Role accounts: neither archived nor deleted (postings find them by role).
    for code in ("1200", "4900", "3200"):
        error = await fails(
            stub.ArchiveAccount(pb.ArchiveAccountRequest(id=chart[code].id), metadata=token),
            PRECONDITION,
        )
        assert reason(error) == "ACCOUNT_HAS_ROLE", code
        error = await fails(
            stub.DeleteAccount(pb.DeleteAccountRequest(id=chart[code].id), metadata=token),
            PRECONDITION,
        )
        assert reason(error) == "ACCOUNT_HAS_ROLE", code
    still = await accounts_by_role(finance, tenant)
    assert {role: a.code for role, a in still.items()} == ROLES
    assert not any(a.archived for a in still.values())


# ---- posting ---------------------------------------------------------------------------


async def test_balanced_entries_post_in_a_hash_chain(auth: Auth, finance: Finance) -> None:
    tenant, chart = await books_of(finance, auth)
    bank, sales, capital = chart["1100"], chart["4100"], chart["3100"]
    made = [
        await post_entry(
            finance,
            tenant,
            date(2025, 1, 2),
            dr(bank, 1_000_000),
            cr(capital, 1_000_000),
            memo="Capital",
        ),
        await post_entry(finance, tenant, date(2025, 1, 5), dr(bank, 25_000), cr(sales, 25_000)),
        await post_entry(
            finance,
            tenant,
            date(2024, 12, 31),  # the chain follows posting order, not dates
            dr(bank, 700),
            dr(bank, 300),
            cr(sales, 1_000),
        ),
    ]
    assert [e.number for e in made] == ["JE-000001", "JE-000002", "JE-000003"]
    assert [e.sequence for e in made] == [1, 2, 3]
    assert made[0].previous_hash == GENESIS
    assert [e.previous_hash for e in made[1:]] == [e.hash for e in made[:-1]]
    assert len({e.hash for e in made}) == 3
    for entry in made:
        assert len(entry.hash) == 64 and int(entry.hash, 16) >= 0
        assert entry.source == fpb.ENTRY_SOURCE_MANUAL
        assert entry.posted_by == tenant.owner_id
        assert not entry.reverses_entry_id and not entry.reversed_by_entry_id
    first = made[0]
    assert (first.memo, first.total_minor, first.date) == (
        "Capital",
        1_000_000,
        day(date(2025, 1, 2)),
    )
    assert [
        (line.account_id, line.company_debit_minor, line.company_credit_minor)
        for line in first.lines
    ] == [
        (bank.id, 1_000_000, 0),
        (capital.id, 0, 1_000_000),
    ]
    assert [line.exchange_rate for line in first.lines] == ["1", "1"]
    assert first.lines[0].debit == eur(1_000_000) and not first.lines[0].HasField("credit")
    assert made[2].total_minor == 1_000

    for entry in made:
        got = await finance.stub.GetJournalEntry(
            pb.GetJournalEntryRequest(id=entry.id), metadata=tenant.token
        )
        assert got.entry == entry
    assert [e.id for e in await journal(finance, tenant)] == [e.id for e in reversed(made)]

    checked = await verify(finance, tenant)
    assert (checked.valid, checked.entries_checked, checked.head_hash) == (True, 3, made[-1].hash)
    assert not checked.problems
    report = await trial_balance(finance, tenant, "2025-12-31")
    assert report.total_debit_minor == report.total_credit_minor == 1_026_000
    assert balances(report) == {"1100": 1_026_000, "3100": 1_000_000, "4100": 26_000}
    settings = await finance.stub.GetFinanceSettings(
        pb.GetFinanceSettingsRequest(), metadata=tenant.token
    )
    assert settings.settings.books_started
    # Used accounts are marked.
    assert (await accounts_by_code(finance, tenant))["3100"].used


async def test_an_unbalanced_entry_writes_nothing(auth: Auth, finance: Finance) -> None:
    tenant, chart = await books_of(finance, auth)
    bank, sales = chart["1100"], chart["4100"]
    error = await fails(
        finance.stub.CreateJournalEntry(
            entry_request(date(2025, 3, 1), dr(bank, 10_000), cr(sales, 9_000)),
            metadata=tenant.token,
        ),
        INVALID,
    )
    found = violations(error)
    assert set(found) == {"lines"}
    assert "differ by 1000" in found["lines"] and "10000" in found["lines"]
    # Nothing written, and the books have not started (the currency may still change).
    assert await journal(finance, tenant) == []
    settings = await finance.stub.GetFinanceSettings(
        pb.GetFinanceSettingsRequest(), metadata=tenant.token
    )
    assert not settings.settings.books_started

    good = await post_entry(finance, tenant, date(2025, 3, 1), dr(bank, 10_000), cr(sales, 10_000))
    assert good.number == "JE-000001"
    listed = await journal(finance, tenant)
    report = await trial_balance(finance, tenant, "2025-12-31")
    # Debits of several lines against one credit, off by one minor unit.
    error = await fails(
        finance.stub.CreateJournalEntry(
            entry_request(
                date(2025, 3, 2), dr(bank, 5_000), dr(chart["5200"], 5_001), cr(sales, 10_000)
            ),
            metadata=tenant.token,
        ),
        INVALID,
    )
    assert violations(error)["lines"].endswith("differ by 1")
    assert await journal(finance, tenant) == listed
    assert await trial_balance(finance, tenant, "2025-12-31") == report
    # The sequence was not consumed: the next good entry follows without a gap.
    nxt = await post_entry(finance, tenant, date(2025, 3, 2), dr(bank, 1), cr(sales, 1))
    assert (nxt.number, nxt.sequence, nxt.previous_hash) == ("JE-000002", 2, good.hash)
    assert (await verify(finance, tenant)).valid


async def test_malformed_lines_are_refused(auth: Auth, finance: Finance) -> None:
    tenant, chart = await books_of(finance, auth)
    bank, sales = chart["1100"], chart["4100"]
    on = date(2025, 4, 1)
    both = fpb.JournalLine(account_id=bank.id, debit=eur(500), credit=eur(500))
    neither = fpb.JournalLine(account_id=bank.id)
    cases: list[tuple[list[fpb.JournalLine], set[str]]] = [
        ([dr(bank, 500)], {"lines"}),  # one line
        ([], {"lines"}),
        ([both, cr(sales, 500)], {"lines[0]"}),
        ([neither, cr(sales, 500)], {"lines[0]"}),
        (
            [dr(bank, -500), cr(sales, -500)],
            {"lines[0].debit.amount_minor", "lines[1].credit.amount_minor"},
        ),
        (
            [dr(bank, 0), cr(sales, 0)],
            {"lines[0].debit.amount_minor", "lines[1].credit.amount_minor"},
        ),
        ([dr(new_id(), 500), cr(sales, 500)], {"lines[0].account_id"}),  # unknown account
        ([dr("", 500), cr(sales, 500)], {"lines[0].account_id"}),
        ([dr(bank, money("XXX", 500)), cr(sales, 500)], {"lines[0].debit.currency_code"}),
        (
            [dr(bank, 10**15 + 1), cr(sales, 10**15 + 1)],
            {"lines[0].debit.amount_minor", "lines[1].credit.amount_minor"},
        ),
    ]
    for lines, fields in cases:
        error = await fails(
            finance.stub.CreateJournalEntry(entry_request(on, *lines), metadata=tenant.token),
            INVALID,
        )
        assert bad_fields(error) == fields, (lines, error.details())
    error = await fails(
        finance.stub.CreateJournalEntry(
            pb.CreateJournalEntryRequest(lines=[dr(bank, 1), cr(sales, 1)]), metadata=tenant.token
        ),
        INVALID,
    )
    assert bad_fields(error) == {"date"}
    assert await journal(finance, tenant) == []
    assert (await verify(finance, tenant)).entries_checked == 0
    first = await post_entry(finance, tenant, on, dr(bank, 500), cr(sales, 500))
    assert first.number == "JE-000001"


async def test_a_closed_period_takes_no_postings(auth: Auth, finance: Finance) -> None:
    tenant, chart = await books_of(finance, auth)
    stub, token = finance.stub, tenant.token
    bank, sales = chart["1100"], chart["4100"]
    march = await post_entry(finance, tenant, date(2025, 3, 10), dr(bank, 1_000), cr(sales, 1_000))
    invoice = await draft(finance, tenant, on=date(2025, 3, 20))

    closed = await stub.ClosePeriod(pb.ClosePeriodRequest(id="2025-03"), metadata=token)
    period = closed.period
    assert (period.id, period.state, period.fiscal_year) == (
        "2025-03",
        fpb.PERIOD_STATE_CLOSED,
        2025,
    )
    assert (period.start_date, period.end_date) == (day(date(2025, 3, 1)), day(date(2025, 3, 31)))
    assert period.closed_by == tenant.owner_id and period.HasField("close_time")

    listed = await stub.ListPeriods(pb.ListPeriodsRequest(fiscal_year=2025), metadata=token)
    assert [p.id for p in listed.periods] == [f"2025-{m:02d}" for m in range(1, 13)]
    assert [p.state for p in listed.periods] == [
        fpb.PERIOD_STATE_CLOSED if p.id == "2025-03" else fpb.PERIOD_STATE_OPEN
        for p in listed.periods
    ]
    assert listed.periods[1].end_date == day(date(2025, 2, 28))
    assert (listed.fiscal_year.year, listed.fiscal_year.closed) == (2025, False)
    assert (listed.fiscal_year.start_date, listed.fiscal_year.end_date) == (
        day(date(2025, 1, 1)),
        day(date(2025, 12, 31)),
    )

    report = await trial_balance(finance, tenant, "2025-12-31")
    for when in (date(2025, 3, 1), date(2025, 3, 31)):
        error = await fails(
            stub.CreateJournalEntry(
                entry_request(when, dr(bank, 50), cr(sales, 50)), metadata=token
            ),
            PRECONDITION,
        )
        info = error_info(error)
        assert (info.reason, dict(info.metadata)) == ("PERIOD_CLOSED", {"period": "2025-03"})
        assert "2025-03" in (error.details() or "")
    # An invoice dated in it cannot be posted either: it stays a draft, unnumbered.
    error = await fails(
        stub.PostInvoice(pb.PostInvoiceRequest(id=invoice.id), metadata=token), PRECONDITION
    )
    assert reason(error) == "PERIOD_CLOSED"
    still = await stub.GetInvoice(pb.GetInvoiceRequest(id=invoice.id), metadata=token)
    assert (still.invoice.state, still.invoice.number) == (fpb.INVOICE_STATE_DRAFT, "")
    # Reversing into it is a posting too.
    error = await fails(
        stub.ReverseJournalEntry(pb.ReverseJournalEntryRequest(id=march.id), metadata=token),
        PRECONDITION,
    )
    assert reason(error) == "PERIOD_CLOSED"
    assert [e.id for e in await journal(finance, tenant)] == [march.id]
    assert await trial_balance(finance, tenant, "2025-12-31") == report

    # The months around it are open.
    april = await post_entry(finance, tenant, date(2025, 4, 1), dr(bank, 50), cr(sales, 50))
    assert april.number == "JE-000002"
    # Closing twice changes nothing; reopening opens it again.
    again = await stub.ClosePeriod(pb.ClosePeriodRequest(id="2025-03"), metadata=token)
    assert again.period == period
    reopened = await stub.ReopenPeriod(pb.ReopenPeriodRequest(id="2025-03"), metadata=token)
    assert (reopened.period.state, reopened.period.closed_by) == (fpb.PERIOD_STATE_OPEN, "")
    assert not reopened.period.HasField("close_time")
    late = await post_entry(finance, tenant, date(2025, 3, 31), dr(bank, 50), cr(sales, 50))
    assert late.number == "JE-000003"
    done = await stub.PostInvoice(pb.PostInvoiceRequest(id=invoice.id), metadata=token)
    assert (done.invoice.state, done.invoice.number) == (
        fpb.INVOICE_STATE_POSTED,
        "INV-2025-000001",
    )
    listed = await stub.ListPeriods(pb.ListPeriodsRequest(fiscal_year=2025), metadata=token)
    assert {p.state for p in listed.periods} == {fpb.PERIOD_STATE_OPEN}
    for bad in ("2025-13", "2025-3", "March", ""):
        error = await fails(
            stub.ClosePeriod(pb.ClosePeriodRequest(id=bad), metadata=token), INVALID
        )
        assert bad_fields(error) == {"id"}
    assert (await verify(finance, tenant)).valid


async def test_foreign_currency_lines_need_a_rate(auth: Auth, finance: Finance) -> None:
    tenant, chart = await books_of(finance, auth)
    stub, token = finance.stub, tenant.token
    bank, sales = chart["1100"], chart["4100"]
    on = date(2025, 5, 10)

    error = await fails(
        stub.CreateJournalEntry(
            entry_request(on, dr(bank, money("USD", 10_000)), cr(sales, 9_000)), metadata=token
        ),
        PRECONDITION,
    )
    info = error_info(error)
    assert info.reason == "NO_EXCHANGE_RATE"
    assert dict(info.metadata) == {
        "currency": "USD",
        "date": "2025-05-10",
        "field": "lines[0].debit",
    }
    assert await journal(finance, tenant) == []

    await set_rate(finance, tenant, "USD", date(2025, 5, 1), "0.9")
    await set_rate(finance, tenant, "USD", date(2025, 5, 20), "0.95")
    # A rate after the entry's date does not count.
    error = await fails(
        stub.CreateJournalEntry(
            entry_request(date(2025, 4, 30), dr(bank, money("USD", 10_000)), cr(sales, 9_000)),
            metadata=token,
        ),
        PRECONDITION,
    )
    assert dict(error_info(error).metadata)["date"] == "2025-04-30"
    assert await journal(finance, tenant) == []

    # The latest rate on or before the date: 10000 USD minor at 0.9 = 9000 EUR minor.
    first = await post_entry(finance, tenant, on, dr(bank, money("USD", 10_000)), cr(sales, 9_000))
    usd = first.lines[0]
    assert (usd.debit, usd.exchange_rate, usd.company_debit_minor) == (
        money("USD", 10_000),
        "0.9",
        9_000,
    )
    assert (first.lines[1].exchange_rate, first.lines[1].company_credit_minor) == ("1", 9_000)
    assert first.total_minor == 9_000
    later = await post_entry(
        finance, tenant, date(2025, 6, 1), dr(bank, money("USD", 10_000)), cr(sales, 9_500)
    )
    assert (later.lines[0].exchange_rate, later.lines[0].company_debit_minor) == ("0.95", 9_500)
    # Rounded once, half up: 10005 x 0.9 = 9004.5 → 9005.
    rounded = await post_entry(
        finance, tenant, on, dr(bank, money("USD", 10_005)), cr(sales, 9_005)
    )
    assert rounded.lines[0].company_debit_minor == 9_005
    # Both sides foreign but off by rounding in EUR: unbalanced in the company currency.
    error = await fails(
        stub.CreateJournalEntry(
            entry_request(
                on,
                dr(bank, money("USD", 5)),
                dr(chart["5200"], money("USD", 5)),
                cr(sales, money("USD", 10)),
            ),
            metadata=token,
        ),
        INVALID,
    )
    assert violations(error)["lines"].endswith("differ by 1")

    # Minor units differ by currency: JPY has none, KWD three.
    await set_rate(finance, tenant, "JPY", date(2025, 5, 1), "0.0062")
    await set_rate(finance, tenant, "KWD", date(2025, 5, 1), "3")
    yen = await post_entry(finance, tenant, on, dr(bank, money("JPY", 12_345)), cr(sales, 7_654))
    assert yen.lines[0].company_debit_minor == 7_654  # JPY 12,345 x 0.0062 = EUR 76.539
    dinar = await post_entry(finance, tenant, on, dr(bank, money("KWD", 1_235)), cr(sales, 371))
    assert dinar.lines[0].company_debit_minor == 371  # KWD 1.235 x 3 = EUR 3.705
    assert dinar.lines[0].debit == money("KWD", 1_235)

    report = await trial_balance(finance, tenant, "2025-12-31")
    assert balances(report) == {"1100": 9_000 + 9_500 + 9_005 + 7_654 + 371, "4100": 35_530}
    assert report.currency_code == "EUR"
    assert (await journal(finance, tenant))[0].number == "JE-000005"
    rates = await stub.ListExchangeRates(
        pb.ListExchangeRatesRequest(currency_code="USD"), metadata=token
    )
    assert [(r.date, r.rate) for r in rates.rates] == [
        (day(date(2025, 5, 20)), "0.95"),
        (day(date(2025, 5, 1)), "0.9"),
    ]


async def test_reversal(auth: Auth, finance: Finance) -> None:
    tenant, chart = await books_of(finance, auth)
    stub, token = finance.stub, tenant.token
    bank, opex = chart["1100"], chart["5200"]
    await set_rate(finance, tenant, "USD", date(2025, 6, 1), "0.9")
    original = await post_entry(
        finance,
        tenant,
        date(2025, 6, 10),
        dr(opex, money("USD", 1_000)),
        cr(bank, 900),
        memo="Hotel",
    )
    # The rate changes afterwards: the reversal still mirrors the company amounts.
    await set_rate(finance, tenant, "USD", date(2025, 6, 1), "0.8")
    back = (
        await stub.ReverseJournalEntry(
            pb.ReverseJournalEntryRequest(id=original.id, date=day(date(2025, 6, 20))),
            metadata=token,
        )
    ).entry
    assert (back.number, back.source, back.reverses_entry_id) == (
        "JE-000002",
        fpb.ENTRY_SOURCE_REVERSAL,
        original.id,
    )
    assert (back.date, back.memo, back.total_minor) == (
        day(date(2025, 6, 20)),
        "Reversal of JE-000001",
        900,
    )
    assert [
        (
            x.account_id,
            x.debit,
            x.credit,
            x.company_debit_minor,
            x.company_credit_minor,
            x.exchange_rate,
        )
        for x in back.lines
    ] == [
        (opex.id, money_pb2.Money(), money("USD", 1_000), 0, 900, "0.9"),
        (bank.id, eur(900), money_pb2.Money(), 900, 0, "1"),
    ]
    assert not back.lines[0].HasField("debit") and not back.lines[1].HasField("credit")
    got = await stub.GetJournalEntry(pb.GetJournalEntryRequest(id=original.id), metadata=token)
    assert got.entry.reversed_by_entry_id == back.id
    listed = {e.id: e for e in await journal(finance, tenant)}
    assert listed[original.id].reversed_by_entry_id == back.id
    assert balances(await trial_balance(finance, tenant, "2025-12-31")) == {"1100": 0, "5200": 0}

    # At most once.
    error = await fails(
        stub.ReverseJournalEntry(pb.ReverseJournalEntryRequest(id=original.id), metadata=token),
        PRECONDITION,
    )
    info = error_info(error)
    assert (info.reason, dict(info.metadata)) == (
        "ALREADY_REVERSED",
        {"reversed_by_entry_id": back.id},
    )
    # A reversal is not reversed again; invoices and payments are cancelled instead.
    error = await fails(
        stub.ReverseJournalEntry(pb.ReverseJournalEntryRequest(id=back.id), metadata=token),
        PRECONDITION,
    )
    assert reason(error) == "NOT_REVERSIBLE"
    invoice = await posted(finance, tenant, on=date(2025, 6, 12))
    error = await fails(
        stub.ReverseJournalEntry(
            pb.ReverseJournalEntryRequest(id=invoice.entry_id), metadata=token
        ),
        PRECONDITION,
    )
    assert reason(error) == "NOT_REVERSIBLE"
    invoice_entry = await stub.GetJournalEntry(
        pb.GetJournalEntryRequest(id=invoice.entry_id), metadata=token
    )
    assert (invoice_entry.entry.source, invoice_entry.entry.source_id) == (
        fpb.ENTRY_SOURCE_INVOICE,
        invoice.id,
    )
    assert not invoice_entry.entry.reversed_by_entry_id
    await fails(
        stub.ReverseJournalEntry(pb.ReverseJournalEntryRequest(id=new_id()), metadata=token),
        grpc.StatusCode.NOT_FOUND,
    )
    # Without a date, the reversal takes the original's.
    second = await post_entry(finance, tenant, date(2025, 7, 3), dr(opex, 250), cr(bank, 250))
    undone = (
        await stub.ReverseJournalEntry(
            pb.ReverseJournalEntryRequest(id=second.id, memo="Typo"), metadata=token
        )
    ).entry
    assert (undone.date, undone.memo, undone.number) == (day(date(2025, 7, 3)), "Typo", "JE-000005")
    assert len(await journal(finance, tenant)) == 5
    assert (await verify(finance, tenant)).valid


# ---- year-end close --------------------------------------------------------------------


async def test_year_end_close(auth: Auth, finance: Finance) -> None:
    tenant, chart = await books_of(finance, auth)
    stub, token = finance.stub, tenant.token
    bank, sales, opex, retained = chart["1100"], chart["4100"], chart["5200"], chart["3200"]
    await post_entry(finance, tenant, date(2023, 12, 31), dr(bank, 1_000), cr(sales, 1_000))
    await post_entry(finance, tenant, date(2024, 3, 10), dr(bank, 50_000), cr(sales, 50_000))
    await post_entry(finance, tenant, date(2024, 6, 15), dr(opex, 20_000), cr(bank, 20_000))
    invoice = await posted(
        finance, tenant, item(eur(10_000), tax_rate_bps=2000), on=date(2024, 9, 1)
    )
    assert invoice.number == "INV-2024-000001"
    await post_entry(finance, tenant, date(2025, 1, 5), dr(bank, 7_000), cr(sales, 7_000))

    closed_2023 = await stub.CloseFiscalYear(pb.CloseFiscalYearRequest(year=2023), metadata=token)
    assert closed_2023.closing_entry.total_minor == 1_000
    done = await stub.CloseFiscalYear(pb.CloseFiscalYearRequest(year=2024), metadata=token)
    closing = done.closing_entry
    assert (done.fiscal_year.year, done.fiscal_year.closed) == (2024, True)
    assert done.fiscal_year.closing_entry_id == closing.id
    assert (closing.source, closing.date, closing.number) == (
        fpb.ENTRY_SOURCE_YEAR_END_CLOSE,
        day(date(2024, 12, 31)),
        "JE-000007",
    )
    # Income 500.00 + 100.00, expense 200.00: 400.00 to retained earnings.
    moved = {
        line.account_id: (line.company_debit_minor, line.company_credit_minor)
        for line in closing.lines
    }
    assert moved == {sales.id: (60_000, 0), opex.id: (0, 20_000), retained.id: (0, 40_000)}
    assert closing.total_minor == 60_000

    # At the year's end income and expense are at zero, retained earnings hold both years.
    end = await trial_balance(finance, tenant, "2024-12-31")
    found = balances(end)
    assert found["4100"] == 0 and found["5200"] == 0
    assert found["3200"] == 41_000
    assert end.total_debit_minor == end.total_credit_minor
    sheet = await stub.GetBalanceSheet(
        pb.GetBalanceSheetRequest(as_of="2024-12-31"), metadata=token
    )
    assert sheet.current_earnings_minor == 0
    assert sheet.total_assets_minor == sheet.total_liabilities_minor + sheet.total_equity_minor
    assert sheet.total_assets_minor == 1_000 + 50_000 - 20_000 + 12_000
    # 2025 is untouched.
    assert balances(await trial_balance(finance, tenant, "2025-01-31"))["4100"] == 7_000

    # The income statement of the closed year still shows its result.
    income = await stub.GetIncomeStatement(
        pb.GetIncomeStatementRequest(from_date="2024-01-01", to_date="2024-12-31"), metadata=token
    )
    assert (income.total_income_minor, income.total_expense_minor, income.net_income_minor) == (
        60_000,
        20_000,
        40_000,
    )
    assert income.previous_net_income_minor == 1_000  # 2023, its closing entry left out too
    december = await stub.GetIncomeStatement(
        pb.GetIncomeStatementRequest(from_date="2024-12-01", to_date="2024-12-31"), metadata=token
    )
    assert december.net_income_minor == 0

    # All twelve periods closed; posting into the year refused, its months stay closed.
    periods = await stub.ListPeriods(pb.ListPeriodsRequest(fiscal_year=2024), metadata=token)
    assert [p.state for p in periods.periods] == [fpb.PERIOD_STATE_CLOSED] * 12
    assert (periods.fiscal_year.closed, periods.fiscal_year.closing_entry_id) == (True, closing.id)
    before = await journal(finance, tenant)
    error = await fails(
        stub.CreateJournalEntry(
            entry_request(date(2024, 7, 1), dr(bank, 5), cr(sales, 5)), metadata=token
        ),
        PRECONDITION,
    )
    assert (reason(error), dict(error_info(error).metadata)) == (
        "PERIOD_CLOSED",
        {"period": "2024-07"},
    )
    error = await fails(
        stub.ReopenPeriod(pb.ReopenPeriodRequest(id="2024-07"), metadata=token), PRECONDITION
    )
    assert reason(error) == "FISCAL_YEAR_CLOSED"
    error = await fails(
        stub.CloseFiscalYear(pb.CloseFiscalYearRequest(year=2024), metadata=token), PRECONDITION
    )
    assert reason(error) == "FISCAL_YEAR_CLOSED"
    assert await journal(finance, tenant) == before
    # A closed closing entry is not reversible by hand either.
    error = await fails(
        stub.ReverseJournalEntry(
            pb.ReverseJournalEntryRequest(id=closing.id, date=day(date(2025, 1, 1))), metadata=token
        ),
        PRECONDITION,
    )
    assert reason(error) == "NOT_REVERSIBLE"
    # The next year is open, and a year with nothing to close closes without an entry.
    assert (
        await post_entry(finance, tenant, date(2025, 1, 6), dr(bank, 5), cr(sales, 5))
    ).number == "JE-000008"
    empty = await stub.CloseFiscalYear(pb.CloseFiscalYearRequest(year=2022), metadata=token)
    assert empty.fiscal_year.closed and not empty.HasField("closing_entry")
    assert (await verify(finance, tenant)).valid


async def test_year_end_close_includes_archived_accounts(auth: Auth, finance: Finance) -> None:
    """Archiving stops new postings, but the year's balance on the account must still
    move to retained earnings; there is no way to unarchive, so a refusal here would
    leave the year open for good."""
    tenant, chart = await books_of(finance, auth)
    stub, token = finance.stub, tenant.token
    travel = (
        await stub.CreateAccount(
            pb.CreateAccountRequest(code="5210", name="Travel", parent_id=chart["5000"].id),
            metadata=token,
        )
    ).account
    await post_entry(finance, tenant, date(2024, 4, 1), dr(travel, 3_000), cr(chart["1100"], 3_000))
    await stub.ArchiveAccount(pb.ArchiveAccountRequest(id=travel.id), metadata=token)
    done = await stub.CloseFiscalYear(pb.CloseFiscalYearRequest(year=2024), metadata=token)
    moved = {
        x.account_id: (x.company_debit_minor, x.company_credit_minor)
        for x in done.closing_entry.lines
    }
    assert moved == {travel.id: (0, 3_000), chart["3200"].id: (3_000, 0)}
    assert balances(await trial_balance(finance, tenant, "2024-12-31"))["5210"] == 0


async def test_history_on_archived_accounts_can_be_undone(auth: Auth, finance: Finance) -> None:
    """Archiving stops new postings; undoing what was posted before (cancelling the
    invoice, reversing the entry) must still work, since nothing unarchives."""
    tenant, chart = await books_of(finance, auth)
    stub, token = finance.stub, tenant.token
    services = (
        await stub.CreateAccount(
            pb.CreateAccountRequest(code="4150", name="Services", parent_id=chart["4000"].id),
            metadata=token,
        )
    ).account
    line = item(eur(1_000))
    line.account_id = services.id
    invoice = await posted(finance, tenant, line, on=date(2025, 2, 1))
    entry = await post_entry(
        finance, tenant, date(2025, 2, 2), dr(chart["1100"], 500), cr(services, 500)
    )
    await stub.ArchiveAccount(pb.ArchiveAccountRequest(id=services.id), metadata=token)
    cancelled = await stub.CancelInvoice(pb.CancelInvoiceRequest(id=invoice.id), metadata=token)
    assert cancelled.invoice.state == fpb.INVOICE_STATE_CANCELLED
    back = await stub.ReverseJournalEntry(
        pb.ReverseJournalEntryRequest(id=entry.id), metadata=token
    )
    assert back.entry.reverses_entry_id == entry.id
    assert balances(await trial_balance(finance, tenant, "2099-12-31"))["4150"] == 0


# ---- settings --------------------------------------------------------------------------


async def test_the_company_currency_is_fixed_by_the_first_posting(
    auth: Auth, finance: Finance
) -> None:
    tenant, chart = await books_of(finance, auth)
    stub, token = finance.stub, tenant.token

    def change(
        currency: str = "", start_month: int = 0, *paths: str
    ) -> pb.UpdateFinanceSettingsRequest:
        return pb.UpdateFinanceSettingsRequest(
            settings=fpb.FinanceSettings(
                company_currency=currency, fiscal_year_start_month=start_month
            ),
            update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
        )

    changed = await stub.UpdateFinanceSettings(change("USD", 0, "company_currency"), metadata=token)
    assert (changed.settings.company_currency, changed.settings.fiscal_year_start_month) == (
        "USD",
        1,
    )
    changed = await stub.UpdateFinanceSettings(change("CHF", 4), metadata=token)
    assert (changed.settings.company_currency, changed.settings.fiscal_year_start_month) == (
        "CHF",
        4,
    )
    error = await fails(
        stub.UpdateFinanceSettings(change("ZZZ", 0, "company_currency"), metadata=token), INVALID
    )
    assert bad_fields(error) == {"settings.company_currency"}
    changed = await stub.UpdateFinanceSettings(change("EUR", 1), metadata=token)
    assert changed.settings.company_currency == "EUR"

    entry = await post_entry(
        finance, tenant, date(2025, 8, 1), dr(chart["1100"], 100), cr(chart["4100"], 100)
    )
    assert entry.number == "JE-000001"
    got = await stub.GetFinanceSettings(pb.GetFinanceSettingsRequest(), metadata=token)
    assert got.settings.books_started
    for request in (
        change("USD", 0, "company_currency"),
        change("", 7, "fiscal_year_start_month"),
        change("USD", 7),
    ):
        error = await fails(stub.UpdateFinanceSettings(request, metadata=token), PRECONDITION)
        assert reason(error) == "BOOKS_STARTED"
    # The same currency again is still a change of a fixed setting.
    await fails(
        stub.UpdateFinanceSettings(change("EUR", 0, "company_currency"), metadata=token),
        PRECONDITION,
    )
    # The reconciliation rules stay adjustable.
    rules = await stub.UpdateFinanceSettings(
        pb.UpdateFinanceSettingsRequest(
            settings=fpb.FinanceSettings(
                reconciliation_rules=fpb.ReconciliationRules(
                    date_tolerance_days=5, auto_confirm=True
                )
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["reconciliation_rules"]),
        ),
        metadata=token,
    )
    assert rules.settings.reconciliation_rules.date_tolerance_days == 5
    after = await stub.GetFinanceSettings(pb.GetFinanceSettingsRequest(), metadata=token)
    assert (after.settings.company_currency, after.settings.fiscal_year_start_month) == ("EUR", 1)
    report = await trial_balance(finance, tenant, "2025-12-31")
    assert report.currency_code == "EUR"


# ---- the hash chain against tampering --------------------------------------------------


async def test_tampering_with_the_database_is_detected(auth: Auth, finance: Finance) -> None:
    tampered, chart = await books_of(finance, auth)
    truncated = await new_tenant(auth)
    untouched = await new_tenant(auth)
    bank = chart["1100"]

    async def five(tenant: Tenant) -> list[fpb.JournalEntry]:
        codes = await accounts_by_code(finance, tenant)
        return [
            await post_entry(
                finance,
                tenant,
                date(2025, 9, i),
                dr(codes["1100"], 100 * i),
                cr(codes["4100"], 100 * i),
            )
            for i in range(1, 6)
        ]

    entries = await five(tampered)
    cut = await five(truncated)
    kept = await five(untouched)
    for tenant in (tampered, truncated, untouched):
        assert (await verify(finance, tenant)).valid

    # One company amount of the third entry raised by one cent.
    await rows(
        finance,
        "UPDATE fin_lines SET company_debit_minor = company_debit_minor + 1 "
        "WHERE entry_id = :id AND company_debit_minor > 0",
        id=entries[2].id,
    )
    checked = await verify(finance, tampered)
    assert not checked.valid
    assert checked.entries_checked == 5
    assert [(p.entry_id, p.number, p.sequence, p.problem) for p in checked.problems] == [
        (entries[2].id, "JE-000003", 3, "content does not match its hash")
    ]
    assert checked.head_hash == entries[-1].hash
    # The books no longer balance either: what the chain exists to reveal.
    report = await trial_balance(finance, tampered, "2025-12-31")
    assert report.total_debit_minor == report.total_credit_minor + 1
    # A memo rewritten on the first entry: named as well, in chain order.
    await rows(finance, "UPDATE fin_entries SET memo = 'edited' WHERE id = :id", id=entries[0].id)
    checked = await verify(finance, tampered)
    assert [(p.entry_id, p.problem) for p in checked.problems] == [
        (entries[0].id, "content does not match its hash"),
        (entries[2].id, "content does not match its hash"),
    ]

    # The last entry deleted, lines and all: the books still count five.
    await rows(finance, "DELETE FROM fin_lines WHERE entry_id = :id", id=cut[-1].id)
    await rows(finance, "DELETE FROM fin_entries WHERE id = :id", id=cut[-1].id)
    checked = await verify(finance, truncated)
    assert not checked.valid
    assert (checked.entries_checked, checked.head_hash) == (4, cut[3].hash)
    assert [p.sequence for p in checked.problems] == [5]
    assert "journal holds 4" in checked.problems[0].problem
    # An entry deleted from the middle breaks the link of the one after it.
    await rows(finance, "DELETE FROM fin_lines WHERE entry_id = :id", id=cut[1].id)
    await rows(finance, "DELETE FROM fin_entries WHERE id = :id", id=cut[1].id)
    checked = await verify(finance, truncated)
    named = [(p.entry_id, p.problem) for p in checked.problems if p.entry_id]
    assert named == [
        (cut[2].id, "sequence 2 is missing before this entry"),
        (cut[2].id, "does not link to the entry before it"),
    ]
    # A line added to an entry (a second, hidden posting) is caught too.
    await rows(
        finance,
        "INSERT INTO fin_lines (entry_id, line_no, tenant_id, date, account_id, currency, "
        "debit_minor, credit_minor, company_debit_minor, company_credit_minor, rate, description) "
        "VALUES (:id, 3, :tenant, :day, :account, 'EUR', 0, 0, 0, 0, '1', '')",
        id=kept[0].id,
        tenant=untouched.tenant_id,
        day=date(2025, 9, 1),
        account=bank.id,
    )
    checked = await verify(finance, untouched)
    assert [(p.entry_id, p.problem) for p in checked.problems] == [
        (kept[0].id, "content does not match its hash")
    ]
    await rows(finance, "DELETE FROM fin_lines WHERE entry_id = :id AND line_no = 3", id=kept[0].id)

    # A tenant nobody touched verifies valid (and other tenants' damage is not its own).
    clean = await verify(finance, untouched)
    assert (clean.valid, clean.entries_checked, clean.head_hash) == (True, 5, kept[-1].hash)
    assert not clean.problems


# ---- concurrency and retries -----------------------------------------------------------


async def test_concurrent_postings_are_gap_free(auth: Auth, finance: Finance) -> None:
    if auth.backend != "postgresql":
        pytest.skip("SQLite takes writes one at a time: concurrency is PostgreSQL's")
    tenant, chart = await books_of(finance, auth)
    bank, sales, opex = chart["1100"], chart["4100"], chart["5200"]
    clients = 8
    channels = [
        grpc.aio.insecure_channel(f"127.0.0.1:{finance.running.tcp_port}") for _ in range(clients)
    ]
    stubs = [finance_service_pb2_grpc.FinanceServiceStub(c) for c in channels]

    async def work(n: int) -> tuple[list[fpb.JournalEntry], list[fpb.Invoice]]:
        stub = stubs[n]
        entries, invoices = [], []
        for i in range(15):
            amount = 100 * (n + 1) + i
            lines = (
                [dr(bank, amount), cr(sales, amount)]
                if i % 2
                else [dr(opex, amount), cr(bank, amount)]
            )
            made = await stub.CreateJournalEntry(
                entry_request(date(2025, 10, 1 + i), *lines), metadata=tenant.token
            )
            entries.append(made.entry)
            if i % 3 == 2:
                created = await stub.CreateInvoice(
                    pb.CreateInvoiceRequest(
                        party=fpb.Party(name=f"Client {n}"),
                        issue_date=day(date(2025, 10, 20)),
                        lines=[item(eur(10_000), tax_rate_bps=2000)],
                    ),
                    metadata=tenant.token,
                )
                done = await stub.PostInvoice(
                    pb.PostInvoiceRequest(id=created.invoice.id), metadata=tenant.token
                )
                invoices.append(done.invoice)
        return entries, invoices

    try:
        results = await asyncio.gather(*(work(n) for n in range(clients)))
    finally:
        for channel in channels:
            await channel.close()
    entries = [e for mine, _ in results for e in mine]
    invoices = [i for _, mine in results for i in mine]
    assert len(entries) == clients * 15 and len(invoices) == clients * 5
    total = clients * 20
    listed = await journal(finance, tenant)
    assert sorted(e.number for e in listed) == [f"JE-{n:06d}" for n in range(1, total + 1)]
    assert sorted(e.sequence for e in listed) == list(range(1, total + 1))
    by_seq = sorted(listed, key=lambda e: e.sequence)
    assert by_seq[0].previous_hash == GENESIS
    assert all(b.previous_hash == a.hash for a, b in itertools.pairwise(by_seq))
    assert sorted(i.number for i in invoices) == [
        f"INV-2025-{n:06d}" for n in range(1, clients * 5 + 1)
    ]
    assert {i.state for i in invoices} == {fpb.INVOICE_STATE_POSTED}
    checked = await verify(finance, tenant)
    assert (checked.valid, checked.entries_checked) == (True, total)
    report = await trial_balance(finance, tenant, "2025-12-31")
    manual = sum(100 * (n + 1) + i for n in range(clients) for i in range(15))
    assert report.total_debit_minor == report.total_credit_minor == manual + clients * 5 * 12_000
    found = balances(report)
    assert found["1200"] == clients * 5 * 12_000 and found["2200"] == clients * 5 * 2_000


async def test_a_retried_entry_posts_once(auth: Auth, finance: Finance) -> None:
    tenant, chart = await books_of(finance, auth)
    stub, token = finance.stub, tenant.token
    request = entry_request(
        date(2025, 11, 3),
        dr(chart["1100"], 4_200),
        cr(chart["4100"], 4_200),
        memo="Once",
        key="k-1",
    )
    first = await stub.CreateJournalEntry(request, metadata=token)
    again = await stub.CreateJournalEntry(request, metadata=token)
    assert again == first
    assert first.entry.number == "JE-000001"
    assert [e.id for e in await journal(finance, tenant)] == [first.entry.id]
    assert balances(await trial_balance(finance, tenant, "2025-12-31"))["1100"] == 4_200
    # The key is bound to its request.
    changed = entry_request(
        date(2025, 11, 3),
        dr(chart["1100"], 4_300),
        cr(chart["4100"], 4_300),
        memo="Once",
        key="k-1",
    )
    error = await fails(stub.CreateJournalEntry(changed, metadata=token), INVALID)
    assert bad_fields(error) == {"idempotency_key"}
    # Another key posts another entry; keys are the tenant's own.
    other = await stub.CreateJournalEntry(
        entry_request(date(2025, 11, 3), dr(chart["1100"], 1), cr(chart["4100"], 1), key="k-2"),
        metadata=token,
    )
    assert other.entry.number == "JE-000002"
    stranger, theirs = await books_of(finance, auth)
    foreign = await stub.CreateJournalEntry(
        entry_request(
            date(2025, 11, 3),
            dr(theirs["1100"], 4_200),
            cr(theirs["4100"], 4_200),
            memo="Once",
            key="k-1",
        ),
        metadata=stranger.token,
    )
    assert foreign.entry.id != first.entry.id and foreign.entry.number == "JE-000001"
    # A reversal retried with its key reverses once.
    undo = pb.ReverseJournalEntryRequest(id=first.entry.id, idempotency_key="undo-1")
    one = await stub.ReverseJournalEntry(undo, metadata=token)
    two = await stub.ReverseJournalEntry(undo, metadata=token)
    assert one == two and one.entry.number == "JE-000003"
    assert len(await journal(finance, tenant)) == 3
    assert (await verify(finance, tenant)).valid


async def test_a_key_sent_by_racing_retries_posts_once(auth: Auth, finance: Finance) -> None:
    """Six copies of one request at once: one entry. A copy that lost the race is told
    to retry (ABORTED), and its retry gets the first answer."""
    tenant, chart = await books_of(finance, auth)
    request = entry_request(
        date(2025, 11, 4), dr(chart["1100"], 990), cr(chart["4100"], 990), key="race-1"
    )

    async def attempt() -> pb.CreateJournalEntryResponse | grpc.aio.AioRpcError:
        try:
            found: pb.CreateJournalEntryResponse = await finance.stub.CreateJournalEntry(
                request, metadata=tenant.token
            )
            return found
        except grpc.aio.AioRpcError as error:
            return error

    outcomes = await asyncio.gather(*(attempt() for _ in range(6)))
    answers = [o for o in outcomes if isinstance(o, pb.CreateJournalEntryResponse)]
    for outcome in outcomes:
        if isinstance(outcome, grpc.aio.AioRpcError):
            assert outcome.code() == grpc.StatusCode.ABORTED, outcome.details()
            assert reason(outcome) == "IDEMPOTENCY_CONFLICT"
            answers.append(await finance.stub.CreateJournalEntry(request, metadata=tenant.token))
    assert len(answers) == 6
    assert {a.entry.id for a in answers} == {answers[0].entry.id}
    assert answers[0].entry.number == "JE-000001"
    assert [e.id for e in await journal(finance, tenant)] == [answers[0].entry.id]
    checked = await verify(finance, tenant)
    assert (checked.valid, checked.entries_checked) == (True, 1)


# ---- racing writes of one key (PostgreSQL runs them at once) ---------------------------


async def outcome_of(call: object) -> str:
    """ "OK", or the status code's name of a failed call."""
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return str(error.code().name)
    return "OK"


async def test_racing_creates_of_one_code_make_one_account(auth: Auth, finance: Finance) -> None:
    if auth.backend != "postgresql":
        pytest.skip("SQLite takes writes one at a time: the race is PostgreSQL's")
    tenant, _ = await books_of(finance, auth)
    codes = [f"70{n:02d}" for n in range(10)]  # ten rounds: most rounds hit the race
    for code in codes:
        outcomes = await asyncio.gather(
            *(
                outcome_of(
                    finance.stub.CreateAccount(
                        pb.CreateAccountRequest(
                            code=code, name=f"Copy {i}", type=fpb.ACCOUNT_TYPE_EXPENSE
                        ),
                        metadata=tenant.token,
                    )
                )
                for i in range(8)
            )
        )
        assert sorted(outcomes) == ["ALREADY_EXISTS"] * 7 + ["OK"], (code, outcomes)
    chart = await accounts_by_code(finance, tenant)
    assert set(codes) <= set(chart)


async def test_racing_rates_for_one_date_replace_each_other(auth: Auth, finance: Finance) -> None:
    if auth.backend != "postgresql":
        pytest.skip("SQLite takes writes one at a time: the race is PostgreSQL's")
    tenant, _ = await books_of(finance, auth)
    given = [f"0.9{i}" for i in range(8)]
    days = [date(2025, 1, 1 + n) for n in range(10)]  # ten rounds: most rounds hit the race
    for on in days:
        outcomes = await asyncio.gather(
            *(
                outcome_of(
                    finance.stub.SetExchangeRates(
                        pb.SetExchangeRatesRequest(
                            rates=[fpb.ExchangeRate(currency_code="USD", date=day(on), rate=rate)]
                        ),
                        metadata=tenant.token,
                    )
                )
                for rate in given
            )
        )
        assert outcomes == ["OK"] * 8, (on, outcomes)
    listed = await finance.stub.ListExchangeRates(
        pb.ListExchangeRatesRequest(currency_code="USD"), metadata=tenant.token
    )
    assert [r.date for r in listed.rates] == [day(on) for on in reversed(days)]
    assert {r.rate for r in listed.rates} <= set(given)
