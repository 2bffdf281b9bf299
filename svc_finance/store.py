"""svc_finance's tables and repositories.

Every table is `TenantOwned` and read through a `TenantRepository`, so each query
starts scoped to the caller's tenant.

The ledger is two tables: `fin_entries` (one row per posted entry, chained by
hash in `seq` order) and `fin_lines` (its lines, with the entry's date copied so
that reports read one table). Posted rows are never updated; a reversal is a
new entry pointing at the one it reverses (unique, so at most once).

`fin_books` is the tenant's settings row and the ledger's lock: every posting
holds it (FOR UPDATE), so sequence numbers and the hash chain advance one
entry at a time per tenant.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    Update,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mesh.db import TenantOwned, TenantRepository, UtcDateTime, plausible_id
from mesh.tables import mesh_tables


class Base(DeclarativeBase):
    pass


TABLES = mesh_tables(Base.metadata)
ID = String(36)
MONEY = BigInteger
RATE = String(40)  # a decimal as text: exact, and the same on every backend


class BooksRow(TenantOwned, Base):
    """The tenant's settings and the head of its hash chain."""

    __tablename__ = "fin_books"
    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    company_currency: Mapped[str] = mapped_column(String(3))
    fiscal_year_start_month: Mapped[int] = mapped_column(Integer, default=1)
    match_date_tolerance_days: Mapped[int] = mapped_column(Integer, default=3)
    match_reference: Mapped[bool] = mapped_column(Boolean, default=True)
    match_auto_confirm: Mapped[bool] = mapped_column(Boolean, default=False)
    chain_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    chain_head: Mapped[str] = mapped_column(String(64))
    # Next number of each numbering sequence ({"INV-2026": 8, "PAY-2026": 3}). Kept
    # on this row, which postings lock anyway, so numbers cost no lock of their own
    # and have no gaps (they move only with the posting that uses them).
    counters: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AccountRow(TenantOwned, Base):
    __tablename__ = "fin_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[str] = mapped_column(ID, default="")
    role: Mapped[str] = mapped_column(String(30), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EntryRow(TenantOwned, Base):
    __tablename__ = "fin_entries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "seq"),
        UniqueConstraint("tenant_id", "number"),
        # NULL for entries that reverse nothing; an entry is reversed at most once.
        UniqueConstraint("tenant_id", "reverses_id"),
        Index("ix_fin_entries_date", "tenant_id", "date", "seq"),
        # Reports find the few closing entries to leave out of income statements.
        Index("ix_fin_entries_source", "tenant_id", "source", "date"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    number: Mapped[str] = mapped_column(String(20))
    date: Mapped[date] = mapped_column(Date)
    memo: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[str] = mapped_column(ID, default="")
    reverses_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    posted_by: Mapped[str] = mapped_column(String(64))
    posted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    total_minor: Mapped[int] = mapped_column(MONEY)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LineRow(Base):
    """A journal line; `tenant_id` and `date` are the entry's, for reports."""

    __tablename__ = "fin_lines"
    __table_args__ = (
        Index("ix_fin_lines_tenant_date", "tenant_id", "date"),
        # Covering: SQLite sums a trial balance from the index alone (8x faster at
        # 1M lines); PostgreSQL scans the table either way.
        Index(
            "ix_fin_lines_account",
            "tenant_id",
            "account_id",
            "date",
            "company_debit_minor",
            "company_credit_minor",
        ),
    )
    entry_id: Mapped[str] = mapped_column(ID, primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    date: Mapped[date] = mapped_column(Date)
    account_id: Mapped[str] = mapped_column(ID)
    currency: Mapped[str] = mapped_column(String(3))
    debit_minor: Mapped[int] = mapped_column(MONEY, default=0)
    credit_minor: Mapped[int] = mapped_column(MONEY, default=0)
    company_debit_minor: Mapped[int] = mapped_column(MONEY, default=0)
    company_credit_minor: Mapped[int] = mapped_column(MONEY, default=0)
    rate: Mapped[str] = mapped_column(RATE, default="1")
    description: Mapped[str] = mapped_column(String(500), default="")


class PeriodRow(TenantOwned, Base):
    """A month that was closed at least once; months without a row are open."""

    __tablename__ = "fin_periods"
    __table_args__ = (UniqueConstraint("tenant_id", "month"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    month: Mapped[str] = mapped_column(String(7))  # "2026-03"
    closed: Mapped[bool] = mapped_column(Boolean, default=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closed_by: Mapped[str] = mapped_column(String(64), default="")


class FiscalYearRow(TenantOwned, Base):
    """A fiscal year that was closed (year-end close ran)."""

    __tablename__ = "fin_fiscal_years"
    __table_args__ = (UniqueConstraint("tenant_id", "year"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    closing_entry_id: Mapped[str] = mapped_column(ID, default="")
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RateRow(TenantOwned, Base):
    __tablename__ = "fin_rates"
    __table_args__ = (UniqueConstraint("tenant_id", "currency", "date"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    date: Mapped[date] = mapped_column(Date)
    rate: Mapped[str] = mapped_column(RATE)
    source: Mapped[str] = mapped_column(String(40), default="")


class InvoiceRow(TenantOwned, Base):
    __tablename__ = "fin_invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        # NULL when not raised from a deal; one invoice per won opportunity.
        UniqueConstraint("tenant_id", "opportunity_id"),
        Index("ix_fin_invoices_created", "tenant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    number: Mapped[str | None] = mapped_column(String(30), nullable=True)
    state: Mapped[str] = mapped_column(String(20))
    party: Mapped[dict[str, str]] = mapped_column(JSON)
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    subtotal_minor: Mapped[int] = mapped_column(MONEY, default=0)
    tax_minor: Mapped[int] = mapped_column(MONEY, default=0)
    total_minor: Mapped[int] = mapped_column(MONEY, default=0)
    paid_minor: Mapped[int] = mapped_column(MONEY, default=0)
    rate: Mapped[str] = mapped_column(RATE, default="")
    company_total_minor: Mapped[int] = mapped_column(MONEY, default=0)
    # Company-currency part of the receivable (payable) already settled: the last
    # allocation takes exactly what is left, so rounding cannot leave a residue.
    company_settled_minor: Mapped[int] = mapped_column(MONEY, default=0)
    entry_id: Mapped[str] = mapped_column(ID, default="")
    cancel_entry_id: Mapped[str] = mapped_column(ID, default="")
    opportunity_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    memo: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    posted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class PaymentRow(TenantOwned, Base):
    __tablename__ = "fin_payments"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_fin_payments_created", "tenant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    number: Mapped[str] = mapped_column(String(30))
    direction: Mapped[str] = mapped_column(String(10))
    party: Mapped[dict[str, str]] = mapped_column(JSON)
    date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(MONEY)
    bank_account_id: Mapped[str] = mapped_column(ID)
    reference: Mapped[str] = mapped_column(String(200), default="")
    memo: Mapped[str] = mapped_column(String(500), default="")
    rate: Mapped[str] = mapped_column(RATE)
    company_amount_minor: Mapped[int] = mapped_column(MONEY)
    unallocated_minor: Mapped[int] = mapped_column(MONEY)
    # Unallocated credit in the company currency at the payment's rate: what an
    # allocation of the credit takes out of the credit account.
    company_unallocated_minor: Mapped[int] = mapped_column(MONEY)
    allocations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    entry_ids: Mapped[list[str]] = mapped_column(JSON)
    reconciled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StatementRow(TenantOwned, Base):
    __tablename__ = "fin_statements"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    bank_account_id: Mapped[str] = mapped_column(ID)
    format: Mapped[str] = mapped_column(String(10))
    line_count: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StatementLineRow(TenantOwned, Base):
    __tablename__ = "fin_statement_lines"
    __table_args__ = (
        # The same bank transaction imported twice is skipped, not doubled.
        UniqueConstraint("tenant_id", "bank_account_id", "fingerprint"),
        Index("ix_fin_statement_lines_statement", "tenant_id", "statement_id", "line_no"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    statement_id: Mapped[str] = mapped_column(ID)
    bank_account_id: Mapped[str] = mapped_column(ID)
    line_no: Mapped[int] = mapped_column(Integer)
    date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(MONEY)
    reference: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(String(500), default="")
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10))
    payment_id: Mapped[str] = mapped_column(ID, default="")
    reason: Mapped[str] = mapped_column(String(200), default="")


class Books(TenantRepository[BooksRow]):
    model = BooksRow
    id_column = "tenant_id"


class Accounts(TenantRepository[AccountRow]):
    model = AccountRow
    not_found_message = "account not found"

    async def by_role(self, role: str) -> AccountRow | None:
        stmt = self.scoped().where(AccountRow.role == role)
        found: AccountRow | None = (await self.session.scalars(stmt)).first()
        return found

    async def by_code(self, code: str) -> AccountRow | None:
        stmt = self.scoped().where(AccountRow.code == code)
        found: AccountRow | None = (await self.session.scalars(stmt)).first()
        return found

    def mark_used(self, account_ids: set[str]) -> Update:
        return (
            update(AccountRow)
            .where(
                AccountRow.tenant_id == self.tenant_id,
                AccountRow.id.in_(account_ids),
                AccountRow.used.is_(False),
            )
            .values(used=True)
        )


class Entries(TenantRepository[EntryRow]):
    model = EntryRow
    not_found_message = "journal entry not found"

    async def reversal_of(self, entry_id: str) -> EntryRow | None:
        stmt = self.scoped().where(EntryRow.reverses_id == entry_id)
        found: EntryRow | None = (await self.session.scalars(stmt)).first()
        return found

    async def lines_of(self, entry_ids: list[str]) -> dict[str, list[LineRow]]:
        found: dict[str, list[LineRow]] = {i: [] for i in entry_ids}
        if not entry_ids:
            return found
        stmt = (
            select(LineRow)
            .where(LineRow.tenant_id == self.tenant_id, LineRow.entry_id.in_(entry_ids))
            .order_by(LineRow.entry_id, LineRow.line_no)
        )
        for line in await self.session.scalars(stmt):
            found[line.entry_id].append(line)
        return found


class Periods(TenantRepository[PeriodRow]):
    model = PeriodRow

    async def of_month(self, month: str, *, lock: bool = False) -> PeriodRow | None:
        stmt = self.scoped().where(PeriodRow.month == month)
        if lock:
            stmt = stmt.with_for_update()
        found: PeriodRow | None = (await self.session.scalars(stmt)).first()
        return found

    async def all_closed(self) -> set[str]:
        stmt = select(PeriodRow.month).where(
            PeriodRow.tenant_id == self.tenant_id, PeriodRow.closed.is_(True)
        )
        return set(await self.session.scalars(stmt))


class FiscalYears(TenantRepository[FiscalYearRow]):
    model = FiscalYearRow

    async def of_year(self, year: int) -> FiscalYearRow | None:
        stmt = self.scoped().where(FiscalYearRow.year == year)
        found: FiscalYearRow | None = (await self.session.scalars(stmt)).first()
        return found


class Rates(TenantRepository[RateRow]):
    model = RateRow

    async def on_or_before(self, currency: str, day: date) -> RateRow | None:
        stmt = (
            self.scoped()
            .where(RateRow.currency == currency, RateRow.date <= day)
            .order_by(RateRow.date.desc())
            .limit(1)
        )
        found: RateRow | None = (await self.session.scalars(stmt)).first()
        return found


class Invoices(TenantRepository[InvoiceRow]):
    model = InvoiceRow
    not_found_message = "invoice not found"

    async def lock_many(self, ids: list[str]) -> dict[str, InvoiceRow]:
        """The tenant's invoices among `ids`, locked and read afresh, in id order."""
        stmt = (
            self.scoped()
            .where(InvoiceRow.id.in_([i for i in ids if plausible_id(i)]))
            .order_by(InvoiceRow.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {row.id: row for row in await self.session.scalars(stmt)}

    async def of_opportunity(self, opportunity_id: str) -> InvoiceRow | None:
        stmt = self.scoped().where(InvoiceRow.opportunity_id == opportunity_id)
        found: InvoiceRow | None = (await self.session.scalars(stmt)).first()
        return found


class Payments(TenantRepository[PaymentRow]):
    model = PaymentRow
    not_found_message = "payment not found"


class Statements(TenantRepository[StatementRow]):
    model = StatementRow
    not_found_message = "bank statement not found"


class StatementLines(TenantRepository[StatementLineRow]):
    model = StatementLineRow
    not_found_message = "statement line not found"


# The tables themselves, for statements that bypass the ORM (postings, in one round trip).
ENTRY_TABLE = cast(Table, EntryRow.__table__)
LINE_TABLE = cast(Table, LineRow.__table__)
BOOKS_TABLE = cast(Table, BooksRow.__table__)
INVOICE_TABLE = cast(Table, InvoiceRow.__table__)
