"""Bank reconciliation: import a statement file and match its lines to payments,
list a statement's lines, match a line by hand (or confirm its suggestion) and
undo a match.

A payment is suggested or matched to one line at most: an import passes over
payments already reconciled or suggested to a waiting line, and matching a
payment by hand withdraws its suggestion from any other line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mesh import paging
from mesh.db import bulk_insert
from mesh.errors import FailedPrecondition, InvalidArgument
from mesh.ids import new_id
from mesh.keyset import SortKey, keyset
from svc_finance.app.books import account_for, books
from svc_finance.app.common import Deps
from svc_finance.domain import matching, statements
from svc_finance.domain.chart import AccountType, Role
from svc_finance.domain.matching import MANUAL_REASON, Candidate, Item, MatchState, Rules
from svc_finance.domain.statements import Format
from svc_finance.store import (
    AccountRow,
    Accounts,
    PaymentRow,
    Payments,
    StatementLineRow,
    StatementLines,
    StatementRow,
    Statements,
)

LINES_PAGE_DEFAULT = 200
LINES_PAGE_MAX = 1000
LOOKUP_CHUNK = 1000  # ids per IN (...): well below every driver's parameter limit


@dataclass(frozen=True)
class Imported:
    statement: StatementRow
    lines: list[StatementLineRow]


# ---- import ----------------------------------------------------------------------------


async def import_statement(
    deps: Deps, session: AsyncSession, bank_account_id: str, fmt: Format, content: bytes
) -> Imported:
    """Read the file, skip the lines imported before for the account, store the rest
    with a suggestion (or a confirmed match) each. Runs in the caller's transaction."""
    statements.check_size(content)
    ledger = await books(session, deps)  # first: a new tenant's chart is seeded with it
    account = await bank_account(session, bank_account_id)
    # Bank accounts are kept in the company currency for now: accounts carry no
    # currency of their own, and the bank account's balance is posted in it.
    currency = ledger.company_currency
    parsed = statements.parse(fmt, content, currency)
    prints = statements.fingerprints(account.id, parsed)
    known = await _known_fingerprints(session, account.id, prints)
    fresh = [(no, line, fp) for no, (line, fp) in enumerate(zip(parsed, prints, strict=True), 1)]
    fresh = [f for f in fresh if f[2] not in known]
    rules = Rules(
        ledger.match_date_tolerance_days, ledger.match_reference, ledger.match_auto_confirm
    )
    items = [
        Item(p.date, p.amount_minor, currency, p.reference, p.description) for _, p, _ in fresh
    ]
    payments = await _open_payments(session, account.id, currency, items, rules)
    taken = await _suggested_payments(session, account.id)
    found = matching.suggest_all(items, [candidate(p) for p in payments.values()], rules, taken)
    statement = Statements(session).add(
        StatementRow(
            id=new_id(),
            bank_account_id=account.id,
            format=fmt.value,
            line_count=len(fresh),
            imported_at=deps.now(),
        )
    )
    values = []
    for (line_no, line, fp), match in zip(fresh, found, strict=True):
        if match is not None and match.confirm:
            payments[match.payment_id].reconciled = True
        values.append(_line_values(statement, line_no, line, fp, currency, match))
    await bulk_insert(session, cast(Table, StatementLineRow.__table__), values)
    return Imported(statement, [StatementLineRow(**v) for v in values])


async def bank_account(session: AsyncSession, account_id: str) -> AccountRow:
    """The bank account, locked (imports to one account take turns, so two cannot
    both find a line new): the one given, or the tenant's "bank" account."""
    repo = Accounts(session)
    if not account_id:
        account_id = (await account_for(session, Role.BANK)).id
    account = await repo.get(account_id, lock=True)
    if account.type != AccountType.ASSET.value:
        raise InvalidArgument.one(
            "bank_account_id", f"account {account.code} is not an asset account"
        )
    if account.archived:
        raise InvalidArgument.one("bank_account_id", f"account {account.code} is archived")
    return account


async def _known_fingerprints(
    session: AsyncSession, bank_account_id: str, prints: Sequence[str]
) -> set[str]:
    tenant = StatementLines(session).tenant_id
    known: set[str] = set()
    for start in range(0, len(prints), LOOKUP_CHUNK):
        stmt = select(StatementLineRow.fingerprint).where(
            StatementLineRow.tenant_id == tenant,
            StatementLineRow.bank_account_id == bank_account_id,
            StatementLineRow.fingerprint.in_(prints[start : start + LOOKUP_CHUNK]),
        )
        known.update(await session.scalars(stmt))
    return known


async def _open_payments(
    session: AsyncSession,
    bank_account_id: str,
    currency: str,
    items: Sequence[Item],
    rules: Rules,
) -> dict[str, PaymentRow]:
    """Unreconciled payments on the account that could fit a line by date, locked:
    a confirmed match marks them reconciled."""
    if not items:
        return {}
    slack = timedelta(days=max(rules.date_tolerance_days, 0))
    repo = Payments(session)
    stmt = (
        repo.scoped()
        .where(
            PaymentRow.bank_account_id == bank_account_id,
            PaymentRow.currency == currency,
            PaymentRow.reconciled.is_(False),
            PaymentRow.date >= clamped(min(i.date for i in items), -slack),
            PaymentRow.date <= clamped(max(i.date for i in items), slack),
        )
        .order_by(PaymentRow.date, PaymentRow.id)
        .with_for_update()
    )
    return {row.id: row for row in await repo.all(stmt)}


async def _suggested_payments(session: AsyncSession, bank_account_id: str) -> set[str]:
    """Payments suggested to lines still waiting for confirmation."""
    stmt = select(StatementLineRow.payment_id).where(
        StatementLineRow.tenant_id == StatementLines(session).tenant_id,
        StatementLineRow.bank_account_id == bank_account_id,
        StatementLineRow.state == MatchState.SUGGESTED.value,
    )
    return set(await session.scalars(stmt))


def candidate(row: PaymentRow) -> Candidate:
    return Candidate(
        id=row.id,
        direction=row.direction,
        currency=row.currency,
        amount_minor=row.amount_minor,
        date=row.date,
        number=row.number,
        reference=row.reference,
        invoice_numbers=tuple(
            str(a.get("invoice_number") or "") for a in row.allocations or [] if a
        ),
        reconciled=row.reconciled,
    )


def _line_values(
    statement: StatementRow,
    line_no: int,
    line: statements.ParsedLine,
    fingerprint: str,
    currency: str,
    match: matching.Match | None,
) -> dict[str, Any]:
    if match is None:
        state, payment_id, reason = MatchState.UNMATCHED, "", ""
    else:
        state = MatchState.MATCHED if match.confirm else MatchState.SUGGESTED
        payment_id, reason = match.payment_id, match.reason
    return {
        "id": new_id(),
        "tenant_id": statement.tenant_id,
        "statement_id": statement.id,
        "bank_account_id": statement.bank_account_id,
        "line_no": line_no,
        "date": line.date,
        "currency": currency,
        "amount_minor": line.amount_minor,
        "reference": line.reference,
        "description": line.description,
        "fingerprint": fingerprint,
        "state": state.value,
        "payment_id": payment_id,
        "reason": reason,
    }


# ---- reading ---------------------------------------------------------------------------


def lines_page_size(requested: int) -> int:
    """ListStatementLines pages: 0 means 200, at most 1000 (statements are long)."""
    paging.page_size(requested)  # refuses a negative size
    return min(requested or LINES_PAGE_DEFAULT, LINES_PAGE_MAX)


async def list_lines(
    deps: Deps, statement_id: str, state: MatchState | None, page_size: int, page_token: str
) -> tuple[list[StatementLineRow], str]:
    """A statement's lines in file order (NOT_FOUND for another tenant's statement)."""
    line = StatementLineRow
    keys = [SortKey("line_no", line.line_no), SortKey("id", line.id)]
    query = f"statement:{statement_id}|state:{state.value if state else ''}"
    pages = keyset(keys, page_size, page_token, query=query)
    pages = replace(pages, size=lines_page_size(page_size))
    async with deps.db.sessions() as session:
        await Statements(session).get(statement_id)
        repo = StatementLines(session)
        stmt = repo.scoped().where(line.statement_id == statement_id)
        if state is not None:
            stmt = stmt.where(line.state == state.value)
        after = pages.where()
        if after is not None:
            stmt = stmt.where(after)
        rows = await repo.all(stmt.order_by(*pages.order_by()).limit(pages.size + 1))
    token = pages.next_token([(r.line_no, r.id) for r in rows])
    return rows[: pages.size], token


# ---- matching by hand ------------------------------------------------------------------


async def match_line(deps: Deps, line_id: str, payment_id: str) -> StatementLineRow:
    """Match the line to `payment_id`, or confirm its suggestion when that is empty."""
    async with deps.db.transaction() as session:
        line = await StatementLines(session).get(line_id, lock=True)
        if line.state == MatchState.MATCHED.value:
            raise FailedPrecondition(
                f"the line is already matched to payment {line.payment_id}; unmatch it first",
                reason="LINE_ALREADY_MATCHED",
                metadata={"payment_id": line.payment_id},
            )
        suggested = line.payment_id if line.state == MatchState.SUGGESTED.value else ""
        if not payment_id and not suggested:
            raise FailedPrecondition(
                "the line has no suggestion to confirm; name the payment",
                reason="NO_SUGGESTION",
            )
        payment = await Payments(session).get(payment_id or suggested, lock=True)
        _check_payment(line, payment)
        payment.reconciled = True
        if payment.id != suggested:
            line.reason = MANUAL_REASON
        line.state, line.payment_id = MatchState.MATCHED.value, payment.id
        await _withdraw_suggestions(session, payment.id, line.id)
        return line


def _check_payment(line: StatementLineRow, payment: PaymentRow) -> None:
    if payment.reconciled:
        raise FailedPrecondition(
            f"payment {payment.number} is already matched to a statement line",
            reason="PAYMENT_RECONCILED",
            metadata={"payment_id": payment.id},
        )
    if payment.bank_account_id != line.bank_account_id:
        raise FailedPrecondition(
            f"payment {payment.number} is on another bank account than the line",
            reason="PAYMENT_MISMATCH",
            metadata={"payment_id": payment.id},
        )
    item = Item(line.date, line.amount_minor, line.currency, line.reference, line.description)
    problem = matching.mismatch(item, candidate(payment))
    if problem:
        raise FailedPrecondition(
            f"payment {payment.number} does not fit the line: {problem}",
            reason="PAYMENT_MISMATCH",
            metadata={"payment_id": payment.id},
        )


async def _withdraw_suggestions(session: AsyncSession, payment_id: str, keep_line_id: str) -> None:
    """Other lines that were waiting on this payment wait for manual matching again."""
    await session.execute(
        update(StatementLineRow)
        .where(
            StatementLineRow.tenant_id == StatementLines(session).tenant_id,
            StatementLineRow.payment_id == payment_id,
            StatementLineRow.state == MatchState.SUGGESTED.value,
            StatementLineRow.id != keep_line_id,
        )
        .values(state=MatchState.UNMATCHED.value, payment_id="", reason="")
        .execution_options(synchronize_session=False)
    )


async def unmatch_line(deps: Deps, line_id: str) -> StatementLineRow:
    """Drop the line's match (freeing its payment) or suggestion."""
    async with deps.db.transaction() as session:
        line = await StatementLines(session).get(line_id, lock=True)
        if line.state == MatchState.MATCHED.value and line.payment_id:
            payment = await Payments(session).find(line.payment_id, lock=True)
            if payment is not None:
                payment.reconciled = False
        line.state, line.payment_id, line.reason = MatchState.UNMATCHED.value, "", ""
        return line


def clamped(day: date, delta: timedelta) -> date:
    """`day + delta`, kept within the calendar (a statement dated 0001-01-01 is odd,
    not an error of ours)."""
    try:
        return day + delta
    except OverflowError:
        return date.max if delta > timedelta(0) else date.min
