"""svc_billing's tables and repositories.

The catalog (plans, versions, add-ons) and the invoice number sequences belong to
the platform, not to a tenant. Everything else is `TenantOwned` and read through a
`TenantRepository`. `Subscriptions.all_due` is the one cross-tenant read: the
billing clock walks every subscription whose period ended or whose grace ran out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mesh.db import TenantOwned, TenantRepository, UtcDateTime
from mesh.errors import NotFound
from mesh.tables import mesh_tables


class Base(DeclarativeBase):
    pass


TABLES = mesh_tables(Base.metadata)
ID = String(36)


# ---- catalog (platform-wide) ----------------------------------------------------------


class PlanRow(Base):
    __tablename__ = "billing_plans"
    plan_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    current_version: Mapped[int] = mapped_column(Integer)
    sort_price: Mapped[int] = mapped_column(BigInteger, default=0)  # monthly price, for order


class PlanVersionRow(Base):
    __tablename__ = "billing_plan_versions"
    plan_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    currency: Mapped[str] = mapped_column(String(3))
    prices: Mapped[dict[str, int]] = mapped_column(JSON)  # interval -> minor units
    features: Mapped[list[str]] = mapped_column(JSON)
    limits: Mapped[dict[str, int]] = mapped_column(JSON)
    trial_days: Mapped[int] = mapped_column(Integer, default=0)
    metered: Mapped[dict[str, int]] = mapped_column(JSON)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AddOnRow(Base):
    __tablename__ = "billing_addons"
    addon_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    prices: Mapped[dict[str, int]] = mapped_column(JSON)
    features: Mapped[list[str]] = mapped_column(JSON)
    limits: Mapped[dict[str, int]] = mapped_column(JSON)


class SequenceRow(Base):
    """Last invoice number per issuer; read with a row lock so numbers have no gaps."""

    __tablename__ = "billing_sequences"
    issuer: Mapped[str] = mapped_column(String(40), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger, default=0)


# ---- per tenant -----------------------------------------------------------------------


class SubscriptionRow(TenantOwned, Base):
    __tablename__ = "billing_subscriptions"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_billing_subscription_tenant"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(40))
    plan_version: Mapped[int] = mapped_column(Integer)
    interval: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    anchor: Mapped[datetime] = mapped_column(UtcDateTime)
    period_start: Mapped[datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    trial_end: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    past_due_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    addons: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    tax_rate_bps: Mapped[int] = mapped_column(Integer, default=0)
    provider: Mapped[str] = mapped_column(String(20), default="manual")
    payment_method: Mapped[str] = mapped_column(String(200), default="")
    customer_ref: Mapped[str] = mapped_column(String(200), default="")
    # Credit owed to the tenant (a downgrade's proration); taken off the next invoices.
    credit_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Bumped on every change; the entitlement caches keep the newest they saw.
    entitlements_version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SeatRow(TenantOwned, Base):
    """A user of the tenant, from auth.user.* events: the `users` usage."""

    __tablename__ = "billing_seats"
    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UsageRow(TenantOwned, Base):
    """One usage record; the primary key makes a transaction id count once."""

    __tablename__ = "billing_usage"
    __table_args__ = (Index("ix_billing_usage_metric_time", "tenant_id", "metric", "occurred_at"),)
    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(256), default="")
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InvoiceRow(TenantOwned, Base):
    __tablename__ = "billing_invoices"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    subtotal: Mapped[int] = mapped_column(BigInteger)
    tax_rate_bps: Mapped[int] = mapped_column(Integer)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    subscription_id: Mapped[str] = mapped_column(ID)
    period_start: Mapped[datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(String(20))
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    payment_reference: Mapped[str] = mapped_column(String(200), default="")
    last_payment_error: Mapped[str] = mapped_column(String(500), default="")
    payment_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class PaymentRow(TenantOwned, Base):
    """Every attempt to collect an invoice, successful or not (the audit trail)."""

    __tablename__ = "billing_payments"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ID, index=True)
    provider: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    reference: Mapped[str] = mapped_column(String(200), default="")
    failure_code: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


# ---- repositories ---------------------------------------------------------------------


class Subscriptions(TenantRepository[SubscriptionRow]):
    model = SubscriptionRow
    not_found_message = "this tenant has no subscription yet"

    async def current(self, *, lock: bool = False) -> SubscriptionRow | None:
        stmt = self.scoped()
        if lock:
            stmt = stmt.with_for_update()
        row: SubscriptionRow | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row

    async def get_current(self, *, lock: bool = False) -> SubscriptionRow:
        """The tenant's subscription (locked for the transaction when changing it)."""
        row = await self.current(lock=lock)
        if row is None:
            raise NotFound(self.not_found_message, reason="NO_SUBSCRIPTION")
        return row


async def due_tenants(session: AsyncSession, now: datetime, grace_start: datetime) -> list[str]:
    """Tenants the billing clock must look at: a period ended (renewal, trial end),
    an invoice fell overdue, or a grace period ran out."""
    s = SubscriptionRow
    overdue = select(InvoiceRow.tenant_id).where(
        InvoiceRow.status == "open", InvoiceRow.due_at <= now
    )
    uncharged = select(InvoiceRow.tenant_id).where(
        InvoiceRow.status == "open", InvoiceRow.payment_attempts == 0
    )
    stmt = select(s.tenant_id).where(
        or_(
            (s.period_end <= now) & s.status.in_(("trialing", "active", "past_due")),
            (s.status == "past_due") & (s.past_due_since <= grace_start),
            (s.status == "active") & s.tenant_id.in_(overdue),
            (s.provider == "stripe") & (s.payment_method != "") & s.tenant_id.in_(uncharged),
        )
    )
    return [r[0] for r in await session.execute(stmt)]


class Seats(TenantRepository[SeatRow]):
    model = SeatRow
    id_column = "user_id"

    async def set(self, user_id: str, active: bool, at: datetime) -> None:
        row = await self.find(user_id)
        if row is None:
            self.add(SeatRow(user_id=user_id, active=active, updated_at=at))
        else:
            row.active = active
            row.updated_at = at

    async def active_count(self) -> int:
        stmt = select(func.count()).where(
            SeatRow.tenant_id == self.tenant_id, SeatRow.active.is_(True)
        )
        return int((await self.session.execute(stmt)).scalar_one())


class Usage(TenantRepository[UsageRow]):
    model = UsageRow
    id_column = "transaction_id"

    async def known(self, transaction_ids: list[str]) -> set[str]:
        stmt = select(UsageRow.transaction_id).where(
            UsageRow.tenant_id == self.tenant_id, UsageRow.transaction_id.in_(transaction_ids)
        )
        return {r[0] for r in await self.session.execute(stmt)}

    async def in_period(self, start: datetime, end: datetime) -> list[UsageRow]:
        stmt = self.scoped().where(UsageRow.occurred_at >= start, UsageRow.occurred_at < end)
        return await self.all(stmt)

    async def aggregate(self, metric: str, kind: str, start: datetime, end: datetime) -> int:
        """COUNT, SUM, MAX, UNIQUE_COUNT or LATEST of one metric over [start, end), in SQL."""
        u = UsageRow
        where = (
            u.tenant_id == self.tenant_id,
            u.metric == metric,
            u.occurred_at >= start,
            u.occurred_at < end,
        )
        if kind == "latest":
            stmt = (
                select(u.value)
                .where(*where)
                .order_by(u.occurred_at.desc(), u.transaction_id.desc())
                .limit(1)
            )
            return int((await self.session.execute(stmt)).scalar_one_or_none() or 0)
        column = {
            "count": func.count(),
            "sum": func.coalesce(func.sum(u.value), 0),
            "max": func.coalesce(func.max(u.value), 0),
            "unique_count": func.count(func.distinct(u.subject)),
        }[kind]
        stmt = select(column).where(*where)
        if kind == "unique_count":
            stmt = stmt.where(u.subject != "")
        return int((await self.session.execute(stmt)).scalar_one())

    async def metrics_in_period(self, start: datetime, end: datetime) -> list[str]:
        stmt = (
            select(UsageRow.metric)
            .where(
                UsageRow.tenant_id == self.tenant_id,
                UsageRow.occurred_at >= start,
                UsageRow.occurred_at < end,
            )
            .distinct()
        )
        return sorted(r[0] for r in await self.session.execute(stmt))


class Invoices(TenantRepository[InvoiceRow]):
    model = InvoiceRow
    not_found_message = "invoice not found"

    async def page(self, after: str, size: int, status: str | None) -> list[InvoiceRow]:
        """Newest first by id (UUIDv7 sorts by creation time)."""
        stmt = self.scoped().order_by(InvoiceRow.id.desc()).limit(size + 1)
        if after:
            stmt = stmt.where(InvoiceRow.id < after)
        if status:
            stmt = stmt.where(InvoiceRow.status == status)
        return await self.all(stmt)

    async def overdue(self, now: datetime) -> list[InvoiceRow]:
        """Open invoices past their due date."""
        stmt = self.scoped().where(InvoiceRow.status == "open", InvoiceRow.due_at <= now)
        return await self.all(stmt.order_by(InvoiceRow.id))

    async def uncharged(self) -> list[InvoiceRow]:
        """Open invoices no payment was attempted for yet (the card on file pays them)."""
        stmt = self.scoped().where(InvoiceRow.status == "open", InvoiceRow.payment_attempts == 0)
        return await self.all(stmt.order_by(InvoiceRow.id))

    async def blocking(self, now: datetime) -> list[InvoiceRow]:
        """Unpaid invoices that keep a tenant past due: overdue, or a failed charge."""
        stmt = self.scoped().where(
            InvoiceRow.status.in_(("open", "uncollectible")),
            or_(InvoiceRow.due_at <= now, InvoiceRow.last_payment_error != ""),
        )
        return await self.all(stmt)


class Payments(TenantRepository[PaymentRow]):
    model = PaymentRow


async def next_number(session: AsyncSession, issuer: str) -> int:
    """The next invoice number of `issuer`, without gaps: the counter row is locked
    until the transaction that uses the number commits (or rolls back, freeing it)."""
    await session.execute(
        update(SequenceRow).where(SequenceRow.issuer == issuer).values(last=SequenceRow.last + 1)
    )
    found = (
        await session.execute(select(SequenceRow.last).where(SequenceRow.issuer == issuer))
    ).scalar_one_or_none()
    if found is None:
        session.add(SequenceRow(issuer=issuer, last=1))
        await session.flush()
        return 1
    return int(found)
