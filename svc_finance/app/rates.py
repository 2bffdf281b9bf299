"""Exchange rates (entered or imported) and the revaluation of open foreign
balances, posted as unrealised gain or loss and reversed the next day."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.finance.v1 import finance_pb2 as pb
from erp.finance.v1 import finance_service_pb2 as api
from mesh.context import current_tenant
from mesh.currencies import CODES
from mesh.dates import from_date_message, to_date_message
from mesh.errors import FieldViolation, InvalidArgument
from mesh.ids import new_id
from mesh.keyset import SortKey, keyset
from mesh.values import check_currency
from svc_finance.app.books import account_for, books
from svc_finance.app.common import Deps, replayable
from svc_finance.app.journal import reverse
from svc_finance.app.ledger import Posting, company_line, post, rate_on
from svc_finance.domain.chart import AccountType, Role
from svc_finance.domain.fx import check_rate, to_company
from svc_finance.domain.ledger import Line, Source
from svc_finance.store import AccountRow, LineRow, RateRow, Rates

RATES_MAX = 10_000
SOURCE_MAX = 40
MONETARY = (AccountType.ASSET.value, AccountType.LIABILITY.value)


@dataclass(frozen=True)
class RateInput:
    currency: str
    day: date
    rate: str
    source: str


def check_rates(given: Sequence[pb.ExchangeRate], company_currency: str) -> list[RateInput]:
    if not given:
        raise InvalidArgument.one("rates", "give one rate or more")
    if len(given) > RATES_MAX:
        raise InvalidArgument.one("rates", f"at most {RATES_MAX} rates")
    found: list[FieldViolation] = []
    out: list[RateInput] = []
    seen: set[tuple[str, date]] = set()
    for i, rate in enumerate(given):
        where = f"rates[{i}]"
        problems = check_currency(rate.currency_code, f"{where}.currency_code")
        if not problems and rate.currency_code not in CODES:
            problems.append(FieldViolation(f"{where}.currency_code", "not a supported currency"))
        if not problems and rate.currency_code == company_currency:
            problems.append(
                FieldViolation(f"{where}.currency_code", "is the company currency (always 1)")
            )
        problems += check_rate(rate.rate, f"{where}.rate")
        if len(rate.source) > SOURCE_MAX or "\x00" in rate.source:
            problems.append(FieldViolation(f"{where}.source", f"at most {SOURCE_MAX} characters"))
        day = from_date_message(rate.date, f"{where}.date")
        if day is None:
            problems.append(FieldViolation(f"{where}.date", "is required"))
        elif (rate.currency_code, day) in seen:
            problems.append(FieldViolation(f"{where}.date", "given twice for this currency"))
        found += problems
        if not problems and day is not None:
            seen.add((rate.currency_code, day))
            out.append(RateInput(rate.currency_code, day, rate.rate, rate.source or "manual"))
    if found:
        raise InvalidArgument(found)
    return out


async def set_rates(deps: Deps, given: Sequence[pb.ExchangeRate]) -> int:
    async with deps.db.transaction() as session:
        ledger = await books(session, deps, lock=True)  # racing writers of a date take turns
        rates = check_rates(given, ledger.company_currency)
        repo = Rates(session)
        stmt = repo.scoped().where(RateRow.currency.in_({r.currency for r in rates}))
        existing = {(r.currency, r.date): r for r in await session.scalars(stmt)}
        for rate in rates:
            row = existing.get((rate.currency, rate.day))
            if row is None:
                session.add(
                    RateRow(
                        id=new_id(),
                        tenant_id=repo.tenant_id,
                        currency=rate.currency,
                        date=rate.day,
                        rate=rate.rate,
                        source=rate.source,
                    )
                )
            else:
                row.rate, row.source = rate.rate, rate.source
    return len(rates)


async def list_rates(
    deps: Deps, currency: str, page_size: int, page_token: str
) -> tuple[list[pb.ExchangeRate], str]:
    keys = [
        SortKey("date", RateRow.date, descending=True),
        SortKey("currency", RateRow.currency),
    ]
    if currency and check_currency(currency, "currency_code"):
        raise InvalidArgument(check_currency(currency, "currency_code"))
    pages = keyset(keys, page_size, page_token, query=currency)
    stmt = pages.select(RateRow).where(RateRow.tenant_id == current_tenant())
    if currency:
        stmt = stmt.where(RateRow.currency == currency)
    async with deps.db.transaction() as session:
        rows, token = await pages.fetch(session, stmt)
    return [
        pb.ExchangeRate(
            currency_code=r.currency, date=to_date_message(r.date), rate=r.rate, source=r.source
        )
        for r in rows
    ], token


async def revalue(
    deps: Deps, request: api.RevalueForeignBalancesRequest, day: date
) -> api.RevalueForeignBalancesResponse:
    async with deps.db.transaction() as session:

        async def run() -> api.RevalueForeignBalancesResponse:
            ledger = await books(session, deps, lock=True)
            company = ledger.company_currency
            lines: list[Line] = []
            for account_id, currency, foreign, carried in await foreign_balances(
                session, company, day
            ):
                rate = await rate_on(session, ledger, currency, day, "date")
                difference = to_company(foreign, currency, rate, company) - carried
                if difference:
                    debit, credit = (difference, 0) if difference > 0 else (0, -difference)
                    lines.append(
                        Line(
                            account_id, currency, 0, 0, debit, credit, rate, f"{currency} at {rate}"
                        )
                    )
            if not lines:
                return api.RevalueForeignBalancesResponse()
            unrealised = await account_for(session, Role.FX_UNREALISED)
            total = sum(x.company_debit_minor - x.company_credit_minor for x in lines)
            lines.append(
                company_line(unrealised.id, company, -total, "Unrealised exchange difference")
            )
            if day == date.max:
                raise InvalidArgument.one("date", "the reversal would fall after 9999-12-31")
            memo = f"Revaluation of foreign balances at {day.isoformat()}"
            # Restating balances the ledger holds, archived accounts included.
            posting = Posting(day, memo, Source.REVALUATION, lines, accounts_checked=True)
            posted = await post(session, ledger, posting, deps.now())
            back = await reverse(
                session, ledger, posted.entry, posted.lines, day + timedelta(days=1), "", deps
            )
            return api.RevalueForeignBalancesResponse(
                entry=posted.message(back.entry.id), reversal=back.message()
            )

        return await replayable(session, request, api.RevalueForeignBalancesResponse, run)


async def foreign_balances(
    session: AsyncSession, company_currency: str, day: date
) -> list[tuple[str, str, int, int]]:
    """(account, currency, balance in the currency, balance carried in the company
    currency) of every asset and liability account (money owned or owed: income and
    expense stay at their historical rates) and foreign currency, up to `day`."""
    stmt = (
        select(
            LineRow.account_id,
            LineRow.currency,
            func.sum(LineRow.debit_minor - LineRow.credit_minor),
            func.sum(LineRow.company_debit_minor - LineRow.company_credit_minor),
        )
        .join(AccountRow, AccountRow.id == LineRow.account_id)
        .where(
            LineRow.tenant_id == current_tenant(),
            LineRow.date <= day,
            LineRow.currency != company_currency,
            AccountRow.type.in_(MONETARY),
        )
        .group_by(LineRow.account_id, LineRow.currency)
        .order_by(LineRow.account_id, LineRow.currency)
    )
    rows = (await session.execute(stmt)).all()
    return [(a, c, int(f or 0), int(k or 0)) for a, c, f, k in rows]
