"""Leads: capture (by hand or through a web form), update by field mask, qualify,
disqualify, list, and convert into a contact, a company and optionally an
opportunity in one transaction. Every change writes its event and its history line
in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from erp.crm.v1 import crm_pb2 as pb
from erp.crm.v1 import crm_service_pb2 as spb
from mesh.errors import FieldViolation, InvalidArgument, Violations
from mesh.ids import new_id
from svc_crm import convert, events
from svc_crm.app import companies, contacts, custom_fields, opportunities
from svc_crm.app.common import Deps, actor_id, remember_change
from svc_crm.app.masks import as_updated, changed_paths, touched
from svc_crm.domain.deals import NAME_MAX as DEAL_NAME_MAX
from svc_crm.domain.leads import MESSAGE_MAX, REASON_MAX, SOURCE_MAX, LeadState, require_can
from svc_crm.domain.people import (
    Person,
    check_owner,
    check_person,
    check_text,
    full_name,
    given_reason,
)
from svc_crm.domain.records import RecordType
from svc_crm.store import (
    Companies,
    CompanyRow,
    ContactRow,
    Contacts,
    LeadRow,
    Leads,
    OpportunityRow,
)

LEAD_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_name",
    "title",
    "source",
    "message",
    "owner_id",
    "custom_fields",
)
COMPANY_NAME_MAX = 200


def check_lead(message: pb.Lead, prefix: str = "lead.") -> list[FieldViolation]:
    person = Person(
        message.first_name, message.last_name, message.email, message.phone, message.title
    )
    found = check_person(person, prefix)
    found += check_text(message.company_name, f"{prefix}company_name", COMPANY_NAME_MAX)
    found += check_text(message.source, f"{prefix}source", SOURCE_MAX)
    found += check_text(message.message, f"{prefix}message", MESSAGE_MAX)
    found += check_owner(message.owner_id, f"{prefix}owner_id")
    return found


@dataclass(frozen=True)
class Origin:
    """Where a new lead comes from: by hand (defaults) or through a web form."""

    source: str = ""
    web_form_id: str = ""
    prefix: str = "lead."
    custom_field: str = "lead.custom_fields"


async def create_in(
    session: AsyncSession,
    message: pb.Lead,
    now: datetime,
    origin: Origin = Origin(),  # noqa: B008 - frozen, never mutated
    *,
    extra: Sequence[FieldViolation] = (),
) -> LeadRow:
    """Capture a lead inside the caller's transaction (CreateLead, SubmitWebForm)."""
    problems = Violations(list(extra))
    problems.extend(check_lead(message, origin.prefix))
    definitions = await custom_fields.definitions(session, RecordType.LEAD)
    custom, found = custom_fields.apply(
        definitions, {}, message.custom_fields, creating=True, field=origin.custom_field
    )
    problems.extend(found)
    problems.raise_if_any()
    row = Leads(session).add(
        LeadRow(
            id=new_id(),
            first_name=message.first_name.strip(),
            last_name=message.last_name.strip(),
            email=message.email.strip(),
            phone=message.phone.strip(),
            company_name=message.company_name.strip(),
            title=message.title.strip(),
            source=origin.source or message.source.strip() or "manual",
            message=message.message,
            status=LeadState.NEW.value,
            disqualify_reason="",
            owner_id=message.owner_id or actor_id(),
            custom=custom,
            converted_contact_id="",
            converted_company_id="",
            converted_opportunity_id="",
            web_form_id=origin.web_form_id,
            created_at=now,
            updated_at=now,
        )
    )
    remember_change(session, RecordType.LEAD, row.id, "created", now)
    await events.publish(session, pb.LeadCreated(lead=convert.lead(row)), row.id)
    return row


async def create(deps: Deps, session: AsyncSession, message: pb.Lead) -> LeadRow:
    return await create_in(session, message, deps.now())


async def get(deps: Deps, lead_id: str) -> LeadRow:
    found: LeadRow = await Leads.read(deps.db, lead_id)
    return found


async def update_lead(deps: Deps, message: pb.Lead, mask: Sequence[str]) -> LeadRow:
    paths = changed_paths(message, mask, LEAD_FIELDS, "lead.")
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Leads(session).get(message.id, lock=True)
        require_can(LeadState(row.status), "updated")
        names = ("first_name", "last_name")  # one of them is required
        problems = Violations(check_lead(as_updated(row, message, paths, names)))
        problems.items = [v for v in problems.items if touched(v.field, paths, "lead.")]
        custom = row.custom
        custom_given = [p for p in paths if p.startswith("custom_fields")]
        if custom_given:
            definitions = await custom_fields.definitions(session, RecordType.LEAD)
            custom, found = custom_fields.apply_paths(
                definitions, row.custom, message.custom_fields, custom_given, "lead."
            )
            problems.extend(found)
        problems.raise_if_any()
        _apply(row, message, paths, custom)
        row.updated_at = now
        remember_change(
            session, RecordType.LEAD, row.id, "updated", now, "Changed: " + ", ".join(paths)
        )
        await events.publish(
            session, pb.LeadUpdated(lead=convert.lead(row), changed_fields=list(paths)), row.id
        )
        return row


def _apply(row: LeadRow, message: pb.Lead, paths: Sequence[str], custom: dict[str, Any]) -> None:
    for path in paths:
        if path.startswith("custom_fields"):
            row.custom = custom
        elif path == "owner_id":
            row.owner_id = message.owner_id or actor_id()
        elif path == "source":
            row.source = message.source.strip() or "manual"
        elif path == "message":
            row.message = message.message
        else:
            setattr(row, path, getattr(message, path).strip())
    if not row.first_name and not row.last_name:
        raise InvalidArgument.one("lead.last_name", "a first or last name is required")


async def qualify(deps: Deps, lead_id: str) -> LeadRow:
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Leads(session).get(lead_id, lock=True)
        require_can(LeadState(row.status), "qualified")
        row.status = LeadState.QUALIFIED.value
        row.disqualify_reason = ""
        row.updated_at = now
        remember_change(session, RecordType.LEAD, row.id, "qualified", now)
        await events.publish(
            session,
            pb.LeadUpdated(lead=convert.lead(row), changed_fields=["status", "disqualify_reason"]),
            row.id,
        )
        return row


async def disqualify(deps: Deps, lead_id: str, reason: str) -> LeadRow:
    reason = given_reason(reason, REASON_MAX)
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Leads(session).get(lead_id, lock=True)
        require_can(LeadState(row.status), "disqualified")
        row.status = LeadState.DISQUALIFIED.value
        row.disqualify_reason = reason
        row.updated_at = now
        remember_change(session, RecordType.LEAD, row.id, "disqualified", now, reason)
        await events.publish(
            session,
            pb.LeadUpdated(lead=convert.lead(row), changed_fields=["status", "disqualify_reason"]),
            row.id,
        )
        return row


# ---- conversion -------------------------------------------------------------------------


@dataclass(frozen=True)
class Converted:
    lead: LeadRow
    contact: ContactRow
    company: CompanyRow | None
    opportunity: OpportunityRow | None


async def convert_lead(
    deps: Deps, session: AsyncSession, request: spb.ConvertLeadRequest
) -> Converted:
    """Contact, company (given, reused or made) and optionally an opportunity, all in
    the caller's transaction: any failure rolls every part back."""
    now = deps.now()
    lead = await Leads(session).get(request.id, lock=True)
    require_can(LeadState(lead.status), "converted")
    problems = Violations()
    if request.create_opportunity and not request.HasField("amount"):
        problems.add("amount", "is required when create_opportunity is set")
    given_company: CompanyRow | None = None
    if request.company_id:
        given_company = await Companies(session).find(request.company_id)
        if given_company is None:
            problems.add("company_id", "no such company")
    problems.raise_if_any()

    company = given_company or await _company_for(session, lead, now)
    contact = await _contact_for(session, request, lead, company, now)
    deal: OpportunityRow | None = None
    if request.create_opportunity:
        deal = await _opportunity_for(session, request, lead, contact, company, now)

    lead.status = LeadState.CONVERTED.value
    lead.converted_contact_id = contact.id
    lead.converted_company_id = company.id if company else ""
    lead.converted_opportunity_id = deal.id if deal else ""
    lead.updated_at = now
    made = ["contact " + contact.id]
    if company:
        made.append("company " + company.id)
    if deal:
        made.append("opportunity " + deal.id)
    remember_change(
        session, RecordType.LEAD, lead.id, "converted", now, "Became " + ", ".join(made)
    )
    await events.publish(session, pb.LeadConverted(lead=convert.lead(lead)), lead.id)
    return Converted(lead, contact, company, deal)


async def _contact_for(
    session: AsyncSession,
    request: spb.ConvertLeadRequest,
    lead: LeadRow,
    company: CompanyRow | None,
    now: datetime,
) -> ContactRow:
    """The existing contact named by the request, else a new one from the lead. A new
    one matching a live contact's e-mail or phone is ALREADY_EXISTS naming it (as for
    CreateContact), unless the request allows the duplicate."""
    if request.contact_id:
        existing = await Contacts(session).find(request.contact_id)
        if existing is None or existing.merged_into_id:
            raise InvalidArgument.one("contact_id", "no such contact")
        if existing.archived:
            raise InvalidArgument.one("contact_id", "the contact is archived; restore it first")
        return existing
    return await contacts.create_in(
        session,
        pb.Contact(
            first_name=lead.first_name,
            last_name=lead.last_name,
            email=lead.email,
            phone=lead.phone,
            title=lead.title,
            company_id=company.id if company else "",
            owner_id=lead.owner_id,
            custom_fields=await _contact_custom_fields(session, lead, request),
        ),
        now,
        allow_duplicate=request.allow_duplicate,
        source="lead",
        prefix="lead.",
        custom_field_name="contact_custom_fields",
    )


async def _contact_custom_fields(
    session: AsyncSession, lead: LeadRow, request: spb.ConvertLeadRequest
) -> struct_pb2.Struct:
    """The request's contact values, plus the lead's values of fields that contacts
    have too (same key, same type) where the request gives none."""
    for_contacts = await custom_fields.definitions(session, RecordType.CONTACT)
    for_leads = await custom_fields.definitions(session, RecordType.LEAD)
    values = custom_fields.plain(request.contact_custom_fields)
    for key, value in lead.custom.items():
        wanted, had = for_contacts.get(key), for_leads.get(key)
        if wanted and had and wanted.type == had.type and key not in values:
            values[key] = value
    return convert.struct(values)


async def _company_for(session: AsyncSession, lead: LeadRow, now: datetime) -> CompanyRow | None:
    """The live company with the lead's company name (folded), else a new one; none
    when the lead names no company."""
    name = lead.company_name.strip()
    if not name:
        return None
    repo = Companies(session)
    existing = await repo.by_name(companies.name_key(name))
    if existing is not None:
        return existing
    row = companies.named(name, now)
    row.owner_id = lead.owner_id or row.owner_id
    repo.add(row)
    remember_change(session, RecordType.COMPANY, row.id, "created", now, "From lead " + lead.id)
    await events.publish(session, pb.CompanyCreated(company=convert.company(row)), row.id)
    return row


async def _opportunity_for(
    session: AsyncSession,
    request: spb.ConvertLeadRequest,
    lead: LeadRow,
    contact: ContactRow,
    company: CompanyRow | None,
    now: datetime,
) -> OpportunityRow:
    """The deal, in the given pipeline or the default one (seeded on first use);
    violations name the request's fields (`amount.currency_code`, `stage_id`)."""
    who = company.name if company else full_name(lead.first_name, lead.last_name)
    message = pb.Opportunity(
        name=request.opportunity_name.strip() or f"{who[: DEAL_NAME_MAX - 5]} deal",
        pipeline_id=request.pipeline_id,
        stage_id=request.stage_id,
        amount=request.amount,
        owner_id=lead.owner_id,
        contact_id=contact.id,
        company_id=company.id if company else "",
        custom_fields=struct_pb2.Struct(),
    )
    if request.HasField("expected_close_date"):
        message.expected_close_date.CopyFrom(request.expected_close_date)
    return await opportunities.create_in(session, message, now, lead_id=lead.id, prefix="")
