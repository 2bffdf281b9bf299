"""One way every List RPC works: a filter expression over a catalogue of fields
(plus the tenant's custom fields as `custom.<key>`), an order, keyset pages.

Each record kind declares its catalogue once below; the list use cases pass the
request's text and get rows and the next page token back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, literal
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import current_tenant
from mesh.db import Database
from mesh.keyset import SortKey, keyset
from svc_crm.domain.custom_fields import FieldType
from svc_crm.domain.filters import (
    Compare,
    Expr,
    FieldKind,
    FieldSpec,
    Not,
    catalogue,
    parse,
    parse_order_by,
)
from svc_crm.domain.records import RecordType
from svc_crm.filter_sql import compile_filter
from svc_crm.store import (
    ActivityRow,
    CompanyRow,
    ContactRow,
    CustomFields,
    LeadRow,
    OpportunityRow,
)

CUSTOM_KIND = {
    FieldType.TEXT: FieldKind.TEXT,
    FieldType.NUMBER: FieldKind.NUMBER,
    FieldType.DATE: FieldKind.DATE,
    FieldType.CHOICE: FieldKind.ENUM,
}
FAR_PAST = "0001-01-01"


@dataclass(frozen=True)
class Listing:
    """How one kind of record is filtered and sorted."""

    model: Any
    fields: dict[str, FieldSpec]
    # Column expressions (mapped attributes or SQL expressions): typed loosely on
    # purpose, SQLAlchemy's attribute and expression types do not meet.
    columns: dict[str, Any]
    sortable: dict[str, Any]  # never NULL (keyset paging compares them)
    record: RecordType | None = None  # whose custom fields `custom.<key>` reads
    default_order: Sequence[tuple[str, bool]] = (("created", True),)
    custom_column: Any = None
    always: Sequence[ColumnElement[bool]] = field(default_factory=tuple)
    # Records with this flag are left out unless asked for (show_archived, or a filter
    # that names `archived`).
    archived: Any = None


def _spec(name: str, kind: FieldKind, values: tuple[str, ...] = ()) -> FieldSpec:
    return FieldSpec(name, kind, values)


T, ID, BOOL, TS = FieldKind.TEXT, FieldKind.ID, FieldKind.BOOL, FieldKind.TIMESTAMP

C = ContactRow
CONTACTS = Listing(
    model=C,
    fields=catalogue(
        _spec("id", ID),
        _spec("first_name", T),
        _spec("last_name", T),
        _spec("name", T),
        _spec("email", T),
        _spec("phone", T),
        _spec("company_id", ID),
        _spec("title", T),
        _spec("owner", ID),
        _spec("tags", FieldKind.LIST),
        _spec("source", T),
        _spec("archived", BOOL),
        _spec("created", TS),
        _spec("updated", TS),
    ),
    columns={
        "id": C.id,
        "first_name": C.first_name,
        "last_name": C.last_name,
        "name": C.first_name + literal(" ") + C.last_name,
        "email": C.email,
        "phone": C.phone,
        "company_id": C.company_id,
        "title": C.title,
        "owner": C.owner_id,
        "tags": C.tags,
        "source": C.source,
        "archived": C.archived,
        "created": C.created_at,
        "updated": C.updated_at,
    },
    sortable={
        "first_name": C.first_name,
        "last_name": C.last_name,
        "email": C.email,
        "owner": C.owner_id,
        "created": C.created_at,
        "updated": C.updated_at,
    },
    record=RecordType.CONTACT,
    custom_column=C.custom,
    archived=C.archived,
)

CO = CompanyRow
COMPANIES = Listing(
    model=CO,
    fields=catalogue(
        _spec("id", ID),
        _spec("name", T),
        _spec("domain", T),
        _spec("phone", T),
        _spec("industry", T),
        _spec("owner", ID),
        _spec("tags", FieldKind.LIST),
        _spec("archived", BOOL),
        _spec("created", TS),
        _spec("updated", TS),
    ),
    columns={
        "id": CO.id,
        "name": CO.name,
        "domain": CO.domain,
        "phone": CO.phone,
        "industry": CO.industry,
        "owner": CO.owner_id,
        "tags": CO.tags,
        "archived": CO.archived,
        "created": CO.created_at,
        "updated": CO.updated_at,
    },
    sortable={
        "name": CO.name,
        "industry": CO.industry,
        "owner": CO.owner_id,
        "created": CO.created_at,
        "updated": CO.updated_at,
    },
    record=RecordType.COMPANY,
    custom_column=CO.custom,
    archived=CO.archived,
)

L = LeadRow
LEADS = Listing(
    model=L,
    fields=catalogue(
        _spec("id", ID),
        _spec("first_name", T),
        _spec("last_name", T),
        _spec("name", T),
        _spec("email", T),
        _spec("phone", T),
        _spec("company_name", T),
        _spec("source", T),
        _spec("status", FieldKind.ENUM, ("new", "qualified", "disqualified", "converted")),
        _spec("owner", ID),
        _spec("created", TS),
        _spec("updated", TS),
    ),
    columns={
        "id": L.id,
        "first_name": L.first_name,
        "last_name": L.last_name,
        "name": L.first_name + literal(" ") + L.last_name,
        "email": L.email,
        "phone": L.phone,
        "company_name": L.company_name,
        "source": L.source,
        "status": L.status,
        "owner": L.owner_id,
        "created": L.created_at,
        "updated": L.updated_at,
    },
    sortable={
        "last_name": L.last_name,
        "company_name": L.company_name,
        "status": L.status,
        "created": L.created_at,
        "updated": L.updated_at,
    },
    record=RecordType.LEAD,
    custom_column=L.custom,
)

OP = OpportunityRow
OPPORTUNITIES = Listing(
    model=OP,
    fields=catalogue(
        _spec("id", ID),
        _spec("name", T),
        _spec("pipeline_id", ID),
        _spec("stage_id", ID),
        _spec("status", FieldKind.ENUM, ("open", "won", "lost")),
        _spec("owner", ID),
        _spec("contact_id", ID),
        _spec("company_id", ID),
        _spec("amount", FieldKind.MONEY),
        _spec("currency", T),
        _spec("expected_close", FieldKind.DATE),
        _spec("archived", BOOL),
        _spec("created", TS),
        _spec("updated", TS),
        _spec("closed", TS),
    ),
    columns={
        "id": OP.id,
        "name": OP.name,
        "pipeline_id": OP.pipeline_id,
        "stage_id": OP.stage_id,
        "status": OP.status,
        "owner": OP.owner_id,
        "contact_id": OP.contact_id,
        "company_id": OP.company_id,
        "amount": OP.amount_minor,
        "currency": OP.currency,
        "expected_close": OP.expected_close,
        "archived": OP.archived,
        "created": OP.created_at,
        "updated": OP.updated_at,
        "closed": OP.closed_at,
    },
    sortable={
        "name": OP.name,
        "amount": OP.amount_minor,
        "expected_close": func.coalesce(OP.expected_close, FAR_PAST),
        "owner": OP.owner_id,
        "created": OP.created_at,
        "updated": OP.updated_at,
    },
    record=RecordType.OPPORTUNITY,
    custom_column=OP.custom,
    archived=OP.archived,
)

A = ActivityRow
ACTIVITIES = Listing(
    model=A,
    fields=catalogue(
        _spec("id", ID),
        _spec("kind", FieldKind.ENUM, ("call", "email", "meeting", "task", "note")),
        _spec("record_kind", FieldKind.ENUM, ("contact", "company", "lead", "opportunity")),
        _spec("record_id", ID),
        _spec("subject", T),
        _spec("owner", ID),
        _spec("due", TS),
        _spec("completed", BOOL),
        _spec("created", TS),
        _spec("updated", TS),
    ),
    columns={
        "id": A.id,
        "kind": A.kind,
        "record_kind": A.record_kind,
        "record_id": A.record_id,
        "subject": A.subject,
        "owner": A.owner_id,
        "due": A.due_at,
        "completed": A.completed_at.is_not(None),
        "created": A.created_at,
        "updated": A.updated_at,
    },
    sortable={
        "due": func.coalesce(A.due_at, A.created_at),
        "created": A.created_at,
        "updated": A.updated_at,
    },
    always=(A.archived.is_(False),),
)


async def _custom_kinds(session: AsyncSession, listing: Listing) -> Mapping[str, FieldKind]:
    if listing.record is None:
        return {}
    rows = await CustomFields(session).of_kind(listing.record.value)
    return {r.key: CUSTOM_KIND[FieldType(r.type)] for r in rows}


def names_field(expr: Expr | None, name: str) -> bool:
    """Whether the filter compares the catalogue field `name` anywhere (a custom field
    of the same key does not count)."""
    if expr is None:
        return False
    if isinstance(expr, Compare):
        return not expr.custom and expr.field == name
    if isinstance(expr, Not):
        return names_field(expr.part, name)
    return any(names_field(part, name) for part in expr.parts)


async def page(
    session: AsyncSession,
    listing: Listing,
    *,
    filter_text: str,
    order_by: str,
    page_size: int,
    page_token: str,
    where: Sequence[ColumnElement[bool]] = (),
    scope: str = "",
    unless_named: Mapping[str, ColumnElement[bool]] | None = None,
) -> tuple[list[Any], str]:
    """One page of rows matching the filter, and the next page's token ("" at the end).

    `where` narrows further (one record's activities); `scope` names that narrowing
    so a page token cannot be reused under another one. `unless_named` narrows by
    field unless the filter compares that field itself: archived rows are left out
    unless the filter asks about `archived` (the field, not the word in a value)."""
    custom = await _custom_kinds(session, listing) if "custom." in filter_text else {}
    expr = parse(filter_text, listing.fields, custom)
    unless = unless_named or {}
    hidden = [name for name in unless if not names_field(expr, name)]
    if hidden:
        where = [*where, *(unless[name] for name in hidden)]
        scope = f"{scope}|without:{','.join(hidden)}"
    order = parse_order_by(order_by, list(listing.sortable)) or list(listing.default_order)
    keys = [SortKey(name, listing.sortable[name], desc) for name, desc in order]
    last_desc = keys[-1].descending
    keys.append(SortKey("id", listing.model.id, last_desc))
    pages = keyset(keys, page_size, page_token, query=f"{filter_text}|{scope}")
    stmt = pages.select(listing.model).where(
        listing.model.tenant_id == current_tenant(), *listing.always, *where
    )
    if expr is not None:
        stmt = stmt.where(compile_filter(expr, listing.columns, listing.custom_column))
    return await pages.fetch(session, stmt)


@dataclass(frozen=True)
class ListRequest:
    """What every List RPC's request carries."""

    filter: str
    order_by: str
    page_size: int
    page_token: str
    show_archived: bool = False


def request_of(message: Any) -> ListRequest:
    """The list fields of a ListXRequest message."""
    return ListRequest(
        message.filter,
        message.order_by,
        message.page_size,
        message.page_token,
        bool(getattr(message, "show_archived", False)),
    )


async def run(db: Database, listing: Listing, request: ListRequest) -> tuple[list[Any], str]:
    """A List RPC's page: `page` in a read session, archived records hidden unless
    asked for."""
    hidden = {}
    if listing.archived is not None and not request.show_archived:
        hidden = {"archived": listing.archived.is_(False)}
    async with db.sessions() as session:
        return await page(
            session,
            listing,
            filter_text=request.filter,
            order_by=request.order_by,
            page_size=request.page_size,
            page_token=request.page_token,
            unless_named=hidden,
        )
