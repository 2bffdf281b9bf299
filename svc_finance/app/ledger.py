"""Posting to the ledger: the one way an entry is written.

`post` runs inside the caller's transaction with the books row locked, so the
entry's sequence number and hash follow the previous entry's and no other
posting of the tenant can interleave. It refuses an unbalanced entry, a closed
period and unknown or archived accounts before writing anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from google.protobuf.message import Message
from sqlalchemy import Update, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import UpdateBase

from erp.common.v1 import event_pb2
from erp.finance.v1 import finance_pb2 as pb
from mesh.db import execute_together, insert_rows
from mesh.errors import FailedPrecondition, FieldViolation, InvalidArgument
from mesh.events import envelopes_of, outbox_insert
from mesh.ids import new_id
from svc_finance import convert
from svc_finance.app.common import actor_id
from svc_finance.domain.fx import ONE
from svc_finance.domain.ledger import Entry, Line, Source, chain_hash, check_balanced
from svc_finance.domain.periods import month_of
from svc_finance.events import SOURCE
from svc_finance.store import (
    BOOKS_TABLE,
    ENTRY_TABLE,
    LINE_TABLE,
    TABLES,
    AccountRow,
    Accounts,
    BooksRow,
    EntryRow,
    LineRow,
    Periods,
    Rates,
)


@dataclass(frozen=True)
class Posting:
    date: date
    memo: str
    source: Source
    lines: Sequence[Line]
    source_id: str = ""
    reverses_id: str | None = None
    # Given when the caller must name the entry before it is posted (its own event).
    entry_id: str = field(default_factory=new_id)
    # Accounts already checked by the caller (roles, or lines it validated).
    accounts_checked: bool = False


@dataclass(frozen=True)
class Posted:
    entry: EntryRow
    lines: list[LineRow]

    def message(self, reversed_by: str = "") -> pb.JournalEntry:
        return convert.entry(self.entry, self.lines, reversed_by)


async def post(
    session: AsyncSession,
    books: BooksRow,
    posting: Posting,
    at: datetime,
    *,
    lines_field: str = "lines",
    into_closed_period: bool = False,
    events: Sequence[tuple[Message, str]] = (),
) -> Posted:
    """Write `posting` as the next entry of the chain. `books` must be locked by
    the caller's transaction, which should commit soon after: other postings of the
    tenant wait for it. `into_closed_period` is for the year-end close only;
    `events` are published with the entry's own, in the same statement."""
    check_balanced(posting.lines, lines_field)
    if not posting.accounts_checked:
        await check_accounts(session, posting.lines, lines_field)
    if not into_closed_period:
        await require_open(session, posting.date)
    chained = chain(books, posting, at, actor_id())
    envelopes = envelopes_of(SOURCE, [chained.event(), *events])
    await write(session, books, [chained], envelopes)
    return chained.posted


@dataclass(frozen=True)
class Chained:
    """A posting given its place in the chain: the rows to write."""

    entry: dict[str, object]
    lines: list[dict[str, object]]
    posted: Posted

    def event(self) -> tuple[Message, str]:
        return pb.JournalEntryPosted(entry=self.posted.message()), self.posted.entry.id


def chain(books: BooksRow, posting: Posting, at: datetime, actor: str) -> Chained:
    """The next entry of the chain, for a balanced posting whose accounts and period
    were checked; `books` (locked) moves on to it in memory, `write` stores both."""
    seq = books.chain_seq + 1
    entry = Entry(
        tenant_id=books.tenant_id,
        entry_id=posting.entry_id,
        seq=seq,
        number=f"JE-{seq:06d}",
        date=posting.date,
        memo=posting.memo,
        source=posting.source.value,
        source_id=posting.source_id,
        reverses_id=posting.reverses_id or "",
        posted_by=actor,
        posted_at=at,
        lines=tuple(posting.lines),
    )
    digest = chain_hash(books.chain_head, entry)
    entry_values: dict[str, object] = {
        "id": entry.entry_id,
        "tenant_id": books.tenant_id,
        "seq": seq,
        "number": entry.number,
        "date": entry.date,
        "memo": entry.memo,
        "source": entry.source,
        "source_id": entry.source_id,
        "reverses_id": posting.reverses_id,
        "posted_by": actor,
        "posted_at": at,
        "total_minor": sum(line.company_debit_minor for line in posting.lines),
        "prev_hash": books.chain_head,
        "hash": digest,
    }
    line_values: list[dict[str, object]] = [
        {
            "entry_id": entry.entry_id,
            "line_no": i + 1,
            "tenant_id": books.tenant_id,
            "date": entry.date,
            "account_id": line.account_id,
            "currency": line.currency,
            "debit_minor": line.debit_minor,
            "credit_minor": line.credit_minor,
            "company_debit_minor": line.company_debit_minor,
            "company_credit_minor": line.company_credit_minor,
            "rate": line.rate,
            "description": line.description,
        }
        for i, line in enumerate(posting.lines)
    ]
    set_committed_value(books, "chain_seq", seq)
    set_committed_value(books, "chain_head", digest)
    posted = Posted(EntryRow(**entry_values), [LineRow(**v) for v in line_values])
    return Chained(entry_values, line_values, posted)


async def write(
    session: AsyncSession,
    books: BooksRow,
    chained: Sequence[Chained],
    envelopes: Sequence[event_pb2.EventEnvelope],
) -> None:
    """Store chained entries, their events and the books' new head: on PostgreSQL in
    one statement, so the books stay locked only briefly."""
    head = {
        "chain_seq": books.chain_seq,
        "chain_head": books.chain_head,
        "counters": books.counters,
    }
    accounts = {str(line["account_id"]) for c in chained for line in c.lines}
    statements: list[UpdateBase] = [
        insert_rows(session, ENTRY_TABLE, [c.entry for c in chained]),
        insert_rows(session, LINE_TABLE, [line for c in chained for line in c.lines]),
        outbox_insert(session, TABLES, envelopes),
        update(BOOKS_TABLE).where(BOOKS_TABLE.c.tenant_id == books.tenant_id).values(head),
    ]
    used = mark_used(session, accounts)
    if used is not None:
        statements.append(used)
    await execute_together(session, statements)


def take_number(books: BooksRow, sequence: str) -> int:
    """The next number of `sequence` ("INV-2026"), written with the next posting's
    books update (so take it only right before posting, with the books locked)."""
    counters = dict(books.counters)
    value = counters.get(sequence, 1)
    counters[sequence] = value + 1
    set_committed_value(books, "counters", counters)
    return value


# Accounts known to have postings. `used` never goes back to false (a used account
# cannot be deleted), so remembering it per process saves an UPDATE per posting.
_USED: set[str] = set()
_USED_MAX = 100_000
_PENDING_USED = "finance.used_accounts"


def mark_used(session: AsyncSession, account_ids: set[str]) -> Update | None:
    """The UPDATE that marks accounts used, unless all are known to be."""
    fresh = account_ids - _USED
    if not fresh:
        return None
    if len(_USED) > _USED_MAX:
        _USED.clear()
    # Remembered once the transaction commits (a rollback undoes the UPDATE).
    session.info.setdefault(_PENDING_USED, set()).update(fresh)
    return Accounts(session).mark_used(fresh)


@event.listens_for(Session, "after_commit")
def _remember_used(session: Session) -> None:
    fresh = session.info.pop(_PENDING_USED, None)
    if fresh:
        _USED.update(fresh)


@event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING_USED, None)


_CLOSED = "finance.closed_months"


async def require_open(session: AsyncSession, day: date) -> None:
    """FAILED_PRECONDITION unless `day`'s month is open. For transactions that hold
    the books lock, under which no period closes or reopens: the closed months are
    read once per transaction."""
    closed: set[str] | None = session.info.get(_CLOSED)
    if closed is None:
        closed = session.info[_CLOSED] = await Periods(session).all_closed()
    month = month_of(day)
    if month in closed:
        raise FailedPrecondition(
            f"period {month} is closed; posting into it is not allowed",
            reason="PERIOD_CLOSED",
            metadata={"period": month},
        )


async def check_accounts(session: AsyncSession, lines: Sequence[Line], field: str) -> None:
    ids = {line.account_id for line in lines}
    stmt = select(AccountRow).where(
        AccountRow.tenant_id == Accounts(session).tenant_id, AccountRow.id.in_(ids)
    )
    known = {row.id: row for row in await session.scalars(stmt)}
    found = []
    for i, line in enumerate(lines):
        account = known.get(line.account_id)
        if account is None:
            found.append(FieldViolation(f"{field}[{i}].account_id", "no such account"))
        elif account.archived:
            found.append(
                FieldViolation(f"{field}[{i}].account_id", f"account {account.code} is archived")
            )
    if found:
        raise InvalidArgument(found, "the entry names accounts it cannot post to")


async def rate_on(
    session: AsyncSession, books: BooksRow, currency: str, day: date, field: str
) -> str:
    """The rate of `currency` on `day` (the latest on or before it); "1" for the
    company currency; FAILED_PRECONDITION when there is none."""
    if currency == books.company_currency:
        return ONE
    found = await Rates(session).on_or_before(currency, day)
    if found is None:
        raise FailedPrecondition(
            f"{field}: no {currency} exchange rate on or before {day.isoformat()}",
            reason="NO_EXCHANGE_RATE",
            metadata={"currency": currency, "date": day.isoformat(), "field": field},
        )
    rate: str = found.rate
    return rate


def company_line(
    account_id: str, company_currency: str, amount: int, description: str = ""
) -> Line:
    """A line in the company currency: a debit when `amount` is positive, else a credit."""
    debit, credit = (amount, 0) if amount >= 0 else (0, -amount)
    return Line(account_id, company_currency, debit, credit, debit, credit, ONE, description)
