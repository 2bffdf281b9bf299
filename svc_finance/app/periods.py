"""Periods and fiscal years: closing and reopening months, and the year-end close
that moves the year's income and expense to retained earnings."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.finance.v1 import finance_pb2 as pb
from erp.finance.v1 import finance_service_pb2 as api
from mesh.context import current_tenant
from mesh.dates import to_date_message
from mesh.errors import FailedPrecondition
from mesh.ids import new_id
from mesh.timestamps import to_timestamp
from svc_finance.app.books import account_for, books
from svc_finance.app.common import Deps, actor_id, replayable
from svc_finance.app.ledger import Posting, company_line, post
from svc_finance.domain.chart import AccountType, Role
from svc_finance.domain.ledger import Source
from svc_finance.domain.periods import (
    fiscal_year_of,
    month_bounds,
    parse_month,
    year_bounds,
    year_months,
)
from svc_finance.store import (
    AccountRow,
    FiscalYearRow,
    FiscalYears,
    LineRow,
    PeriodRow,
    Periods,
)

PROFIT_AND_LOSS = (AccountType.INCOME.value, AccountType.EXPENSE.value)


def period_message(year: int, month: int, row: PeriodRow | None, start_month: int) -> pb.Period:
    first, last = month_bounds(year, month)
    closed = row is not None and row.closed
    return pb.Period(
        id=f"{year:04d}-{month:02d}",
        start_date=to_date_message(first),
        end_date=to_date_message(last),
        state=pb.PERIOD_STATE_CLOSED if closed else pb.PERIOD_STATE_OPEN,
        close_time=to_timestamp(row.closed_at) if closed and row else None,
        closed_by=row.closed_by if closed and row else "",
        fiscal_year=fiscal_year_of(first, start_month),
    )


def year_message(year: int, start_month: int, row: FiscalYearRow | None) -> pb.FiscalYear:
    first, last = year_bounds(year, start_month)
    return pb.FiscalYear(
        year=year,
        start_date=to_date_message(first),
        end_date=to_date_message(last),
        closed=row is not None,
        closing_entry_id=row.closing_entry_id if row else "",
    )


async def list_periods(deps: Deps, year: int) -> api.ListPeriodsResponse:
    async with deps.db.transaction() as session:
        ledger = await books(session, deps)
        start = ledger.fiscal_year_start_month
        year = year or fiscal_year_of(deps.today(), start)
        year_bounds(year, start)  # a year a date cannot hold answers below
        months = year_months(year, start)
        names = [f"{y:04d}-{m:02d}" for y, m in months]
        stmt = select(PeriodRow).where(
            PeriodRow.tenant_id == current_tenant(), PeriodRow.month.in_(names)
        )
        rows = {r.month: r for r in await session.scalars(stmt)}
        closed_year = await FiscalYears(session).of_year(year)
    return api.ListPeriodsResponse(
        fiscal_year=year_message(year, start, closed_year),
        periods=[period_message(y, m, rows.get(f"{y:04d}-{m:02d}"), start) for y, m in months],
    )


async def close_period(deps: Deps, period_id: str) -> pb.Period:
    year, month = parse_month(period_id)
    async with deps.db.transaction() as session:
        ledger = await books(session, deps, lock=True)  # waits for postings in flight
        row = await mark_closed(session, f"{year:04d}-{month:02d}", deps)
        return period_message(year, month, row, ledger.fiscal_year_start_month)


async def mark_closed(session: AsyncSession, month: str, deps: Deps) -> PeriodRow:
    periods = Periods(session)
    row = await periods.of_month(month, lock=True)
    if row is None:
        row = PeriodRow(id=new_id(), tenant_id=periods.tenant_id, month=month, closed=False)
        session.add(row)
    if not row.closed:
        row.closed, row.closed_at, row.closed_by = True, deps.now(), actor_id()
    return row


async def reopen_period(deps: Deps, period_id: str) -> pb.Period:
    year, month = parse_month(period_id)
    async with deps.db.transaction() as session:
        ledger = await books(session, deps, lock=True)
        start = ledger.fiscal_year_start_month
        fiscal = fiscal_year_of(date(year, month, 1), start)
        if await FiscalYears(session).of_year(fiscal) is not None:
            raise FailedPrecondition(
                f"fiscal year {fiscal} is closed; its periods stay closed",
                reason="FISCAL_YEAR_CLOSED",
            )
        row = await Periods(session).of_month(f"{year:04d}-{month:02d}", lock=True)
        if row is not None:
            row.closed, row.closed_at, row.closed_by = False, None, ""
        return period_message(year, month, row, start)


async def close_year(
    deps: Deps, request: api.CloseFiscalYearRequest
) -> api.CloseFiscalYearResponse:
    async with deps.db.transaction() as session:

        async def run() -> api.CloseFiscalYearResponse:
            ledger = await books(session, deps, lock=True)
            start = ledger.fiscal_year_start_month
            first, last = year_bounds(request.year, start)
            years = FiscalYears(session)
            if await years.of_year(request.year) is not None:
                raise FailedPrecondition(
                    f"fiscal year {request.year} is already closed", reason="FISCAL_YEAR_CLOSED"
                )
            balances = await profit_and_loss(session, first, last)
            closing = None
            if balances:
                retained = await account_for(session, Role.RETAINED_EARNINGS)
                cur = ledger.company_currency
                # Each account's balance reversed; the net lands on retained earnings.
                lines = [company_line(a, cur, credit - debit) for a, debit, credit in balances]
                net = sum(debit - credit for _, debit, credit in balances)
                lines.append(company_line(retained.id, cur, net, "Result of the year"))
                lines = [
                    line for line in lines if line.company_debit_minor or line.company_credit_minor
                ]
                if len(lines) >= 2:
                    # The ledger's own balances: archived accounts are closed too.
                    posting = Posting(
                        last,
                        f"Year-end close {request.year}",
                        Source.YEAR_END_CLOSE,
                        lines,
                        accounts_checked=True,
                    )
                    closing = await post(
                        session, ledger, posting, deps.now(), into_closed_period=True
                    )
            for y, m in year_months(request.year, start):
                await mark_closed(session, f"{y:04d}-{m:02d}", deps)
            row = FiscalYearRow(
                id=new_id(),
                tenant_id=ledger.tenant_id,
                year=request.year,
                closing_entry_id=closing.entry.id if closing else "",
                closed_at=deps.now(),
            )
            session.add(row)
            return api.CloseFiscalYearResponse(
                fiscal_year=year_message(request.year, start, row),
                closing_entry=closing.message() if closing else None,
            )

        return await replayable(session, request, api.CloseFiscalYearResponse, run)


async def profit_and_loss(
    session: AsyncSession, first: date, last: date
) -> list[tuple[str, int, int]]:
    """(account, debits, credits) of every income and expense account in the span."""
    stmt = (
        select(
            LineRow.account_id,
            func.sum(LineRow.company_debit_minor),
            func.sum(LineRow.company_credit_minor),
        )
        .join(AccountRow, AccountRow.id == LineRow.account_id)
        .where(
            LineRow.tenant_id == current_tenant(),
            LineRow.date >= first,
            LineRow.date <= last,
            AccountRow.type.in_(PROFIT_AND_LOSS),
        )
        .group_by(LineRow.account_id)
        .order_by(LineRow.account_id)
    )
    rows = (await session.execute(stmt)).all()
    return [(a, int(d or 0), int(c or 0)) for a, d, c in rows if (d or 0) != (c or 0)]
