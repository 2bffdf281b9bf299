"""svc_crm's tables and repositories.

Every table is `TenantOwned` and read through a `TenantRepository`, so each query
starts scoped to the caller's tenant. The one cross-tenant read is `form_by_key`:
a public web form names its tenant by its key.

Strings are stored as "" rather than NULL where empty means "none", so that they
sort and page without NULL rules; dates and times that may be absent are NULL.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    any_,
    cast,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mesh.db import TenantOwned, TenantRepository, UtcDateTime, plausible_id
from mesh.tables import mesh_tables


class Base(DeclarativeBase):
    pass


TABLES = mesh_tables(Base.metadata)
ID = String(36)


class Stamped:
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CustomFieldRow(TenantOwned, Base):
    __tablename__ = "crm_custom_fields"
    __table_args__ = (UniqueConstraint("tenant_id", "record_kind", "key"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    record_kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(10))
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CompanyRow(TenantOwned, Stamped, Base):
    __tablename__ = "crm_companies"
    __table_args__ = (
        Index("ix_crm_companies_created", "tenant_id", "created_at", "id"),
        Index("ix_crm_companies_name_key", "tenant_id", "name_key"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))  # companies.name_key(): reuse by name
    domain: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    industry: Mapped[str] = mapped_column(String(100), default="")
    owner_id: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    search_text: Mapped[str] = mapped_column(Text, default="")


class ContactRow(TenantOwned, Stamped, Base):
    __tablename__ = "crm_contacts"
    # Every index below leads with the tenant: a tenant-only index would only slow
    # the bulk writes (imports) down.
    tenant_id: Mapped[str] = mapped_column(String(36))
    __table_args__ = (
        Index("ix_crm_contacts_created", "tenant_id", "created_at", "id"),
        Index("ix_crm_contacts_email_key", "tenant_id", "email_key"),
        Index("ix_crm_contacts_phone_key", "tenant_id", "phone_key"),
        Index("ix_crm_contacts_owner", "tenant_id", "owner_id"),
        Index("ix_crm_contacts_company", "tenant_id", "company_id"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    email_key: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    phone_key: Mapped[str] = mapped_column(String(20), default="")
    company_id: Mapped[str] = mapped_column(String(36), default="")
    title: Mapped[str] = mapped_column(String(100), default="")
    owner_id: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(40), default="manual")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into_id: Mapped[str] = mapped_column(String(36), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")


class LeadRow(TenantOwned, Stamped, Base):
    __tablename__ = "crm_leads"
    __table_args__ = (Index("ix_crm_leads_created", "tenant_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    company_name: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(40), default="manual")
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="new")
    disqualify_reason: Mapped[str] = mapped_column(String(500), default="")
    owner_id: Mapped[str] = mapped_column(String(64), default="")
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    converted_contact_id: Mapped[str] = mapped_column(String(36), default="")
    converted_company_id: Mapped[str] = mapped_column(String(36), default="")
    converted_opportunity_id: Mapped[str] = mapped_column(String(36), default="")
    web_form_id: Mapped[str] = mapped_column(String(36), default="")


class WebFormRow(TenantOwned, Base):
    __tablename__ = "crm_web_forms"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    form_key: Mapped[str] = mapped_column(String(64), unique=True)
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer)
    owner_id: Mapped[str] = mapped_column(String(64), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PipelineRow(TenantOwned, Base):
    __tablename__ = "crm_pipelines"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class StageRow(TenantOwned, Base):
    __tablename__ = "crm_stages"
    __table_args__ = (Index("ix_crm_stages_pipeline", "tenant_id", "pipeline_id", "position"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    pipeline_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(100))
    win_probability: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)


class OpportunityRow(TenantOwned, Stamped, Base):
    __tablename__ = "crm_opportunities"
    __table_args__ = (
        Index("ix_crm_opportunities_created", "tenant_id", "created_at", "id"),
        Index("ix_crm_opportunities_stage", "tenant_id", "pipeline_id", "stage_id", "status"),
        Index("ix_crm_opportunities_contact", "tenant_id", "contact_id"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    pipeline_id: Mapped[str] = mapped_column(String(36))
    stage_id: Mapped[str] = mapped_column(String(36))
    amount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    expected_close: Mapped[date | None] = mapped_column(Date, nullable=True)
    owner_id: Mapped[str] = mapped_column(String(64), default="")
    contact_id: Mapped[str] = mapped_column(String(36), default="")
    company_id: Mapped[str] = mapped_column(String(36), default="")
    status: Mapped[str] = mapped_column(String(8), default="open")
    lost_reason: Mapped[str] = mapped_column(String(500), default="")
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    lead_id: Mapped[str] = mapped_column(String(36), default="")


class ActivityRow(TenantOwned, Stamped, Base):
    __tablename__ = "crm_activities"
    __table_args__ = (
        Index("ix_crm_activities_record", "tenant_id", "record_kind", "record_id", "timeline_at"),
        Index("ix_crm_activities_created", "tenant_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    record_kind: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(String(36))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    owner_id: Mapped[str] = mapped_column(String(64), default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    # When it counts on the timeline: completion, else creation (kept in step).
    timeline_at: Mapped[datetime] = mapped_column(UtcDateTime)


class HistoryRow(TenantOwned, Base):
    """A change to a record, for its timeline."""

    __tablename__ = "crm_history"
    tenant_id: Mapped[str] = mapped_column(String(36))  # its index leads with the tenant
    __table_args__ = (
        Index("ix_crm_history_record", "tenant_id", "record_kind", "record_id", "at"),
    )
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    record_kind: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[str] = mapped_column(String(36))
    change: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class ImportRow(TenantOwned, Stamped, Base):
    """How far an import got: rows up to `last_committed_row` are in the database."""

    __tablename__ = "crm_imports"
    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    import_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_committed_row: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[int] = mapped_column(BigInteger, default=0)
    updated: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0)


# ---- repositories ---------------------------------------------------------------------


class CustomFields(TenantRepository[CustomFieldRow]):
    model = CustomFieldRow
    not_found_message = "custom field not found"

    async def of_kind(self, record_kind: str, *, archived: bool = False) -> list[CustomFieldRow]:
        stmt = self.scoped().where(CustomFieldRow.record_kind == record_kind)
        if not archived:
            stmt = stmt.where(CustomFieldRow.archived.is_(False))
        return await self.all(stmt.order_by(CustomFieldRow.key))


class Companies(TenantRepository[CompanyRow]):
    model = CompanyRow
    not_found_message = "company not found"

    async def by_name(self, name_key: str) -> CompanyRow | None:
        stmt = (
            self.scoped()
            .where(CompanyRow.name_key == name_key, CompanyRow.archived.is_(False))
            .order_by(CompanyRow.created_at)
            .limit(1)
        )
        row: CompanyRow | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row

    async def names(self, ids: set[str]) -> dict[str, str]:
        ids = {i for i in ids if plausible_id(i)}
        if not ids:
            return {}
        stmt = select(CompanyRow.id, CompanyRow.name).where(
            CompanyRow.tenant_id == self.tenant_id, CompanyRow.id.in_(ids)
        )
        return {r.id: r.name for r in await self.session.execute(stmt)}


class Contacts(TenantRepository[ContactRow]):
    model = ContactRow
    not_found_message = "contact not found"

    async def matching(
        self, email_keys: set[str], phone_keys: set[str], *, exclude: str = ""
    ) -> list[ContactRow]:
        """Live contacts whose e-mail or phone key is among the given ones."""
        conditions = []
        if email_keys:
            conditions.append(among(self.session, ContactRow.email_key, email_keys))
        if phone_keys:
            conditions.append(among(self.session, ContactRow.phone_key, phone_keys))
        if not conditions:
            return []
        stmt = self.scoped().where(or_(*conditions), ContactRow.archived.is_(False))
        if exclude:
            stmt = stmt.where(ContactRow.id != exclude)
        return await self.all(stmt.order_by(ContactRow.created_at, ContactRow.id))

    async def lock_for_creates(self) -> None:
        """Until the transaction ends, be the tenant's only writer of new contacts
        (PostgreSQL advisory lock; SQLite's writes take turns anyway): the duplicate
        check and the plan's contact limit then see every contact made before."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"crm.contacts:{self.tenant_id}"},
            )

    async def live_count(self) -> int:
        stmt = select(func.count()).where(
            ContactRow.tenant_id == self.tenant_id, ContactRow.archived.is_(False)
        )
        return int((await self.session.execute(stmt)).scalar_one())


def among(session: AsyncSession, column: Any, values: set[str]) -> Any:
    """`column IN values`; on PostgreSQL as `= ANY(array)`: one parameter instead of
    one per value (an import batch looks up 2,000 keys, and parsing 2,000
    placeholders costs more than the lookup). Values no row can have are left out."""
    values = {v for v in values if plausible_id(v)}
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(cast(sorted(values), ARRAY(String)))
    return column.in_(values)


class Leads(TenantRepository[LeadRow]):
    model = LeadRow
    not_found_message = "lead not found"


class WebForms(TenantRepository[WebFormRow]):
    model = WebFormRow
    not_found_message = "web form not found"


async def form_by_key(session: Any, form_key: str) -> WebFormRow | None:
    """The web form with this public key, whichever tenant owns it."""
    if not plausible_id(form_key):
        return None
    stmt = select(WebFormRow).where(WebFormRow.form_key == form_key)
    row: WebFormRow | None = (await session.execute(stmt)).scalar_one_or_none()
    return row


class Pipelines(TenantRepository[PipelineRow]):
    model = PipelineRow
    not_found_message = "pipeline not found"

    async def default(self) -> PipelineRow | None:
        stmt = self.scoped().where(PipelineRow.is_default.is_(True)).limit(1)
        row: PipelineRow | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return row


class Stages(TenantRepository[StageRow]):
    model = StageRow
    not_found_message = "stage not found"

    async def of(self, pipeline_ids: list[str]) -> list[StageRow]:
        stmt = self.scoped().where(StageRow.pipeline_id.in_(pipeline_ids))
        return await self.all(stmt.order_by(StageRow.pipeline_id, StageRow.position))


class Opportunities(TenantRepository[OpportunityRow]):
    model = OpportunityRow
    not_found_message = "opportunity not found"


class Activities(TenantRepository[ActivityRow]):
    model = ActivityRow
    not_found_message = "activity not found"


class History(TenantRepository[HistoryRow]):
    model = HistoryRow


class Imports(TenantRepository[ImportRow]):
    model = ImportRow
    id_column = "import_id"
    not_found_message = "import not found"
