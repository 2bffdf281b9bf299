"""Journal use cases: manual entries, reversals, reading the journal and proving
the hash chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.common.v1 import money_pb2
from erp.finance.v1 import finance_pb2 as pb
from erp.finance.v1 import finance_service_pb2 as api
from mesh.context import current_tenant
from mesh.currencies import CODES
from mesh.db import plausible_id
from mesh.errors import FailedPrecondition, FieldViolation, InvalidArgument
from mesh.keyset import SortKey, keyset
from mesh.values import check_currency
from svc_finance.app.books import books
from svc_finance.app.common import Deps, replayable
from svc_finance.app.ledger import Posted, Posting, post, rate_on
from svc_finance.domain.fx import to_company
from svc_finance.domain.ledger import (
    AMOUNT_MAX,
    LINES_MAX,
    MEMO_MAX,
    ChainCheck,
    Entry,
    Line,
    Source,
    Stored,
)
from svc_finance.store import BooksRow, Entries, EntryRow, LineRow

# Entries whose reversal is the job of the document that made them.
REVERSIBLE = frozenset({Source.MANUAL.value, Source.REVALUATION.value})
VERIFY_CHUNK = 2000


@dataclass(frozen=True)
class LineInput:
    account_id: str
    debit: money_pb2.Money | None
    credit: money_pb2.Money | None
    description: str


def check_memo(memo: str, field: str = "memo") -> str:
    if len(memo) > MEMO_MAX or "\x00" in memo:
        raise InvalidArgument.one(field, f"at most {MEMO_MAX} characters")
    return memo


def check_line_inputs(lines: Sequence[LineInput]) -> None:
    if len(lines) > LINES_MAX:
        raise InvalidArgument.one("lines", f"at most {LINES_MAX} lines")
    found: list[FieldViolation] = []
    for i, line in enumerate(lines):
        where = f"lines[{i}]"
        if not line.account_id:
            found.append(FieldViolation(f"{where}.account_id", "is required"))
        elif not plausible_id(line.account_id):
            found.append(FieldViolation(f"{where}.account_id", "no such account"))
        sides = [(name, m) for name, m in (("debit", line.debit), ("credit", line.credit)) if m]
        if len(sides) != 1:
            found.append(FieldViolation(where, "give either a debit or a credit"))
            continue
        name, amount = sides[0]
        problems = check_currency(amount.currency_code, f"{where}.{name}.currency_code")
        if not problems and amount.currency_code not in CODES:
            problems.append(
                FieldViolation(f"{where}.{name}.currency_code", "not a supported currency")
            )
        if not 0 < amount.amount_minor <= AMOUNT_MAX:
            problems.append(
                FieldViolation(f"{where}.{name}.amount_minor", f"must be 1 to {AMOUNT_MAX}")
            )
        found.extend(problems)
        if len(line.description) > MEMO_MAX or "\x00" in line.description:
            found.append(FieldViolation(f"{where}.description", f"at most {MEMO_MAX} characters"))
    if found:
        raise InvalidArgument(found)


async def create_entry(
    deps: Deps, request: api.CreateJournalEntryRequest, day: date, lines: Sequence[LineInput]
) -> api.CreateJournalEntryResponse:
    check_memo(request.memo)
    check_line_inputs(lines)
    async with deps.db.transaction() as session:

        async def run() -> api.CreateJournalEntryResponse:
            ledger = await books(session, deps, lock=True)
            converted = []
            for i, line in enumerate(lines):
                side = line.debit or line.credit
                assert side is not None
                field = f"lines[{i}].{'debit' if line.debit else 'credit'}"
                currency = side.currency_code
                rate = await rate_on(session, ledger, currency, day, field)
                amount = to_company(side.amount_minor, currency, rate, ledger.company_currency)
                debit = side.amount_minor if line.debit else 0
                credit = 0 if line.debit else side.amount_minor
                company_debit, company_credit = (amount, 0) if line.debit else (0, amount)
                converted.append(
                    Line(
                        line.account_id,
                        currency,
                        debit,
                        credit,
                        company_debit,
                        company_credit,
                        rate,
                        line.description,
                    )
                )
            posting = Posting(day, request.memo, Source.MANUAL, converted)
            posted = await post(session, ledger, posting, deps.now())
            return api.CreateJournalEntryResponse(entry=posted.message())

        return await replayable(session, request, api.CreateJournalEntryResponse, run)


async def get_entry(deps: Deps, entry_id: str) -> pb.JournalEntry:
    async with deps.db.transaction() as session:
        entries = Entries(session)
        row = await entries.get(entry_id)
        lines = (await entries.lines_of([row.id]))[row.id]
        reversal = await entries.reversal_of(row.id)
        return Posted(row, lines).message(reversal.id if reversal else "")


async def list_entries(
    deps: Deps,
    first: date | None,
    last: date | None,
    account_id: str,
    source: Source | None,
    page_size: int,
    page_token: str,
) -> tuple[list[pb.JournalEntry], str]:
    keys = [SortKey("seq", EntryRow.seq, descending=True)]
    scope = f"{first}|{last}|{account_id}|{source}"
    pages = keyset(keys, page_size, page_token, query=scope)
    stmt = pages.select(EntryRow).where(EntryRow.tenant_id == current_tenant())
    if first is not None:
        stmt = stmt.where(EntryRow.date >= first)
    if last is not None:
        stmt = stmt.where(EntryRow.date <= last)
    if source is not None:
        stmt = stmt.where(EntryRow.source == source.value)
    if account_id and not plausible_id(account_id):
        return [], ""  # no entry has a line on such an account
    if account_id:
        on_account = select(LineRow.entry_id).where(
            LineRow.tenant_id == current_tenant(), LineRow.account_id == account_id
        )
        stmt = stmt.where(EntryRow.id.in_(on_account))
    async with deps.db.transaction() as session:
        rows, token = await pages.fetch(session, stmt)
        lines = await Entries(session).lines_of([r.id for r in rows])
        reversals = await reversed_by(session, [r.id for r in rows])
    return [Posted(r, lines[r.id]).message(reversals.get(r.id, "")) for r in rows], token


async def reversed_by(session: AsyncSession, entry_ids: list[str]) -> dict[str, str]:
    if not entry_ids:
        return {}
    stmt = select(EntryRow.reverses_id, EntryRow.id).where(
        EntryRow.tenant_id == current_tenant(), EntryRow.reverses_id.in_(entry_ids)
    )
    return {str(a): b for a, b in (await session.execute(stmt)).all()}


async def reverse_entry(
    deps: Deps, request: api.ReverseJournalEntryRequest, day: date | None
) -> api.ReverseJournalEntryResponse:
    memo = check_memo(request.memo)
    async with deps.db.transaction() as session:

        async def run() -> api.ReverseJournalEntryResponse:
            ledger = await books(session, deps, lock=True)
            entries = Entries(session)
            original = await entries.get(request.id)
            if original.source not in REVERSIBLE:
                raise FailedPrecondition(
                    f"{original.number} was posted by a {original.source}; "
                    f"cancel the {original.source} instead",
                    reason="NOT_REVERSIBLE",
                )
            done = await entries.reversal_of(original.id)
            if done is not None:
                raise FailedPrecondition(
                    f"{original.number} is already reversed by {done.number}",
                    reason="ALREADY_REVERSED",
                    metadata={"reversed_by_entry_id": done.id},
                )
            lines = (await entries.lines_of([original.id]))[original.id]
            posted = await reverse(
                session, ledger, original, lines, day or original.date, memo, deps
            )
            return api.ReverseJournalEntryResponse(entry=posted.message())

        return await replayable(session, request, api.ReverseJournalEntryResponse, run)


async def reverse(
    session: AsyncSession,
    ledger: BooksRow,
    original: EntryRow,
    lines: Sequence[LineRow],
    day: date,
    memo: str,
    deps: Deps,
) -> Posted:
    """Post the mirror image of `original` (same company amounts, sides swapped).
    Its accounts are the original's, archived or not: history can always be undone."""
    mirrored = [line_of(line).mirrored() for line in lines]
    posting = Posting(
        day,
        memo or f"Reversal of {original.number}",
        Source.REVERSAL,
        mirrored,
        source_id=original.source_id,
        reverses_id=original.id,
        accounts_checked=True,
    )
    return await post(session, ledger, posting, deps.now())


async def verify(deps: Deps) -> api.VerifyLedgerResponse:
    """Walk the chain in sequence order, a chunk of entries at a time."""
    check = ChainCheck()
    async with deps.db.transaction() as session:
        ledger = await books(session, deps)
        entries = Entries(session)
        after = 0
        while True:
            stmt = (
                entries.scoped()
                # Entries posted while this runs are past the head read above.
                .where(EntryRow.seq > after, EntryRow.seq <= ledger.chain_seq)
                .order_by(EntryRow.seq)
                .limit(VERIFY_CHUNK)
            )
            rows = list(await session.scalars(stmt))
            if not rows:
                break
            lines = await entries.lines_of([r.id for r in rows])
            for row in rows:
                check.check(Stored(stored_entry(row, lines[row.id]), row.prev_hash, row.hash))
            after = rows[-1].seq
        problems = [
            pb.LedgerProblem(
                entry_id=p.entry_id, number=p.number, sequence=p.seq, problem=p.problem
            )
            for p in check.problems
        ]
        if ledger.chain_seq != check.checked or ledger.chain_head != check.previous_hash:
            problems.append(
                pb.LedgerProblem(
                    sequence=ledger.chain_seq,
                    problem=f"the books record {ledger.chain_seq} entries ending in "
                    f"{ledger.chain_head[:12]}…; the journal holds {check.checked}",
                )
            )
    return api.VerifyLedgerResponse(
        valid=not problems,
        entries_checked=check.checked,
        head_hash=check.previous_hash,
        problems=problems,
    )


def stored_entry(row: EntryRow, lines: Sequence[LineRow]) -> Entry:
    return Entry(
        tenant_id=row.tenant_id,
        entry_id=row.id,
        seq=row.seq,
        number=row.number,
        date=row.date,
        memo=row.memo,
        source=row.source,
        source_id=row.source_id,
        reverses_id=row.reverses_id or "",
        posted_by=row.posted_by,
        posted_at=row.posted_at,
        lines=tuple(line_of(line) for line in lines),
    )


def line_of(row: LineRow) -> Line:
    return Line(
        row.account_id,
        row.currency,
        row.debit_minor,
        row.credit_minor,
        row.company_debit_minor,
        row.company_credit_minor,
        row.rate,
        row.description,
    )
