"""Financial statements: the trial balance, the income statement and the balance
sheet. SQL sums each account's company-currency debits and credits, one aggregate
query per column over `fin_lines` (which carries the entry's date, so no join);
`svc_finance.domain.reports` assembles the report.

Each column is one statement, so it sees one snapshot of the ledger and balances
on its own even while entries are being posted. The chart is read after the sums:
every account a summed line names exists by then (accounts are never deleted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import current_tenant
from mesh.dates import from_iso
from mesh.errors import InvalidArgument, Violations
from svc_finance.app.books import books
from svc_finance.app.common import Deps
from svc_finance.domain.chart import AccountType
from svc_finance.domain.ledger import Source
from svc_finance.domain.periods import end_of_previous_month, previous_span
from svc_finance.domain.reports import (
    AccountInfo,
    BalanceSheet,
    Column,
    IncomeStatement,
    Sums,
    TrialBalance,
    balance_sheet,
    income_statement,
    trial_balance,
)
from svc_finance.store import AccountRow, Books, EntryRow, LineRow


@dataclass(frozen=True)
class TrialBalanceReport:
    as_of: date
    compare_as_of: date
    currency: str
    report: TrialBalance


@dataclass(frozen=True)
class IncomeStatementReport:
    from_date: date
    to_date: date
    previous_from_date: date
    previous_to_date: date
    currency: str
    report: IncomeStatement


@dataclass(frozen=True)
class BalanceSheetReport:
    as_of: date
    compare_as_of: date
    currency: str
    report: BalanceSheet


async def get_trial_balance(deps: Deps, as_of: str, compare_as_of: str) -> TrialBalanceReport:
    """Every account's debits and credits up to `as_of` (today when empty) and up
    to `compare_as_of` (the end of the month before `as_of` when empty)."""
    day, compare = as_of_dates(as_of, compare_as_of, deps.today())
    currency = await _currency(deps)
    async with deps.db.sessions() as session:
        current = await _column(session, sums_up_to(day))
        previous = await _column(session, sums_up_to(compare))
        accounts = await _accounts(session)
    return TrialBalanceReport(day, compare, currency, trial_balance(accounts, current, previous))


async def get_balance_sheet(deps: Deps, as_of: str, compare_as_of: str) -> BalanceSheetReport:
    """Assets, liabilities and equity (with current earnings) at `as_of` and at
    `compare_as_of`, the dates defaulting as for the trial balance."""
    day, compare = as_of_dates(as_of, compare_as_of, deps.today())
    currency = await _currency(deps)
    async with deps.db.sessions() as session:
        current = await _column(session, sums_up_to(day))
        previous = await _column(session, sums_up_to(compare))
        accounts = await _accounts(session)
    return BalanceSheetReport(day, compare, currency, balance_sheet(accounts, current, previous))


async def get_income_statement(deps: Deps, from_date: str, to_date: str) -> IncomeStatementReport:
    """Income and expense from `from_date` to `to_date` (both included, both
    required) and over the span of the same length just before, without the
    year-end closing entries."""
    first, last = period_dates(from_date, to_date)
    try:
        before_first, before_last = previous_span(first, last)
    except (ValueError, OverflowError):
        # The comparison period would start before year 1.
        raise InvalidArgument.one(
            "from_date", "too early to compare with the period before"
        ) from None
    currency = await _currency(deps)
    async with deps.db.sessions() as session:
        current = await _column(session, sums_between(first, last))
        previous = await _column(session, sums_between(before_first, before_last))
        accounts = await _accounts(session)
    return IncomeStatementReport(
        first,
        last,
        before_first,
        before_last,
        currency,
        income_statement(accounts, current, previous),
    )


def as_of_dates(as_of: str, compare_as_of: str, today: date) -> tuple[date, date]:
    """The report date (`today` when empty) and the comparison date (the last day
    of the month before the report date when empty); INVALID_ARGUMENT naming the
    field otherwise."""
    problems = Violations()
    day = compare = None
    for text, field in ((as_of, "as_of"), (compare_as_of, "compare_as_of")):
        try:
            parsed = from_iso(text, field)
        except InvalidArgument as bad:
            problems.extend(bad.violations)
            continue
        if field == "as_of":
            day = parsed
        else:
            compare = parsed
    problems.raise_if_any()
    day = day or today
    if compare is None:
        try:
            compare = end_of_previous_month(day)
        except OverflowError:
            raise InvalidArgument.one("as_of", "too early: no month before it") from None
    return day, compare


def period_dates(from_date: str, to_date: str) -> tuple[date, date]:
    """An income statement's first and last dates: both required, first ≤ last."""
    problems = Violations()
    found: list[date] = []
    for text, field in ((from_date, "from_date"), (to_date, "to_date")):
        try:
            parsed = from_iso(text, field)
        except InvalidArgument as bad:
            problems.extend(bad.violations)
            continue
        if parsed is None:
            problems.add(field, "is required")
        else:
            found.append(parsed)
    problems.raise_if_any()
    first, last = found
    if last < first:
        raise InvalidArgument.one("to_date", "must not be before from_date")
    return first, last


def _sums() -> Select[str, int, int]:
    """Per-account sums of the caller's lines; the callers add the date filter."""
    return (
        select(
            LineRow.account_id,
            func.sum(LineRow.company_debit_minor),
            func.sum(LineRow.company_credit_minor),
        )
        .where(LineRow.tenant_id == current_tenant())
        .group_by(LineRow.account_id)
    )


def sums_up_to(day: date) -> Select[str, int, int]:
    """A balance column: the caller's lines up to `day`."""
    return _sums().where(LineRow.date <= day)


def sums_between(first: date, last: date) -> Select[str, int, int]:
    """A period column: the caller's lines of [first, last] except those of closing
    entries. Closing entries are a few per year: the anti-join probes a small
    hashed set of their ids."""
    closing = select(EntryRow.id).where(
        EntryRow.tenant_id == current_tenant(),
        EntryRow.source == Source.YEAR_END_CLOSE.value,
        EntryRow.date >= first,
        EntryRow.date <= last,
    )
    return _sums().where(
        LineRow.date >= first, LineRow.date <= last, LineRow.entry_id.not_in(closing)
    )


async def _column(session: AsyncSession, stmt: Select[str, int, int]) -> Column:
    # PostgreSQL's SUM of a bigint is a numeric (Decimal): back to int.
    return {
        account_id: Sums(int(debit or 0), int(credit or 0))
        for account_id, debit, credit in await session.execute(stmt)
    }


async def _accounts(session: AsyncSession) -> list[AccountInfo]:
    """The whole chart, archived accounts too (they may hold old lines)."""
    stmt = select(
        AccountRow.id, AccountRow.code, AccountRow.name, AccountRow.type, AccountRow.parent_id
    ).where(AccountRow.tenant_id == current_tenant())
    return [
        AccountInfo(id=r[0], code=r[1], name=r[2], type=AccountType(r[3]), parent_id=r[4])
        for r in await session.execute(stmt)
    ]


async def _currency(deps: Deps) -> str:
    """The company currency; the books are seeded (in a transaction of their own)
    when the tenant has none yet."""
    async with deps.db.sessions() as session:
        repo = Books(session)
        found = await repo.find(repo.tenant_id)
    if found is not None:
        return found.company_currency
    async with deps.db.transaction() as session:
        return (await books(session, deps)).company_currency
