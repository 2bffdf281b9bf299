"""Opportunities: create in a pipeline's stage, update by field mask while open,
move between the pipeline's stages, win, lose, archive, list. Every change writes
its event and its history line in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from erp.common.v1 import money_pb2
from erp.crm.v1 import crm_pb2 as pb
from mesh.errors import FieldViolation, InvalidArgument, Violations
from mesh.ids import new_id
from svc_crm import convert, events
from svc_crm.app import custom_fields, pipelines
from svc_crm.app.common import Deps, actor_id, remember_change
from svc_crm.app.masks import changed_paths
from svc_crm.domain.deals import (
    NAME_MAX,
    REASON_MAX,
    DealStatus,
    check_amount,
    check_close_date,
    require_open,
)
from svc_crm.domain.people import check_owner, check_text, given_reason
from svc_crm.domain.records import RecordType
from svc_crm.store import (
    Companies,
    Contacts,
    Opportunities,
    OpportunityRow,
    Pipelines,
    Stages,
)

OPPORTUNITY_FIELDS = (
    "name",
    "amount",
    "expected_close_date",
    "owner_id",
    "contact_id",
    "company_id",
    "custom_fields",
)


def _check_name(name: str, field: str) -> list[FieldViolation]:
    return check_text(name.strip(), field, NAME_MAX, required=True)


async def _check_links(
    session: AsyncSession, contact_id: str, company_id: str, prefix: str
) -> list[FieldViolation]:
    """Contact and company, when given, must be this tenant's."""
    found: list[FieldViolation] = []
    if contact_id and await Contacts(session).find(contact_id) is None:
        found.append(FieldViolation(f"{prefix}contact_id", "no such contact"))
    if company_id and await Companies(session).find(company_id) is None:
        found.append(FieldViolation(f"{prefix}company_id", "no such company"))
    return found


def _close_date(message: pb.Opportunity, problems: Violations, prefix: str) -> date | None:
    field = f"{prefix}expected_close_date"
    try:
        value = convert.from_day(message.expected_close_date, field)
    except InvalidArgument as bad:
        problems.extend(bad.violations)
        return None
    problems.extend(check_close_date(value, field))
    return value


async def create_in(
    session: AsyncSession,
    message: pb.Opportunity,
    now: datetime,
    *,
    lead_id: str = "",
    prefix: str = "opportunity.",
) -> OpportunityRow:
    """Create an opportunity inside the caller's transaction (CreateOpportunity, lead
    conversion). Without a pipeline it goes to the default one (seeded on first
    use), without a stage to the pipeline's first stage. `prefix` starts the field
    names of violations."""
    problems = Violations(_check_name(message.name, f"{prefix}name"))
    problems.extend(
        check_amount(message.amount.currency_code, message.amount.amount_minor, f"{prefix}amount")
    )
    expected_close = _close_date(message, problems, prefix)
    problems.extend(check_owner(message.owner_id, f"{prefix}owner_id"))
    problems.extend(await _check_links(session, message.contact_id, message.company_id, prefix))
    definitions = await custom_fields.definitions(session, RecordType.OPPORTUNITY)
    custom, found = custom_fields.apply(
        definitions, {}, message.custom_fields, creating=True, field=f"{prefix}custom_fields"
    )
    problems.extend(found)
    stage_id = ""
    pipeline_id = message.pipeline_id
    if pipeline_id:
        pipeline = await Pipelines(session).find(pipeline_id)
        if pipeline is None:
            problems.add(f"{prefix}pipeline_id", "no such pipeline")
    else:
        pipeline = await pipelines.ensure_default(session, now)
    if pipeline is not None:
        if message.stage_id:
            try:
                stage = await pipelines.stage_of(
                    session, pipeline.id, message.stage_id, f"{prefix}stage_id"
                )
                stage_id = stage.id
            except InvalidArgument as bad:
                problems.extend(bad.violations)
        else:
            stages = await pipelines.stages_of(session, pipeline.id)
            stage_id = stages[0].id
    problems.raise_if_any()
    assert pipeline is not None
    row = Opportunities(session).add(
        OpportunityRow(
            id=new_id(),
            name=message.name.strip(),
            pipeline_id=pipeline.id,
            stage_id=stage_id,
            amount_minor=message.amount.amount_minor,
            currency=message.amount.currency_code,
            expected_close=expected_close,
            owner_id=message.owner_id or actor_id(),
            contact_id=message.contact_id,
            company_id=message.company_id,
            status=DealStatus.OPEN.value,
            lost_reason="",
            closed_at=None,
            custom=custom,
            archived=False,
            lead_id=lead_id,
            created_at=now,
            updated_at=now,
        )
    )
    remember_change(session, RecordType.OPPORTUNITY, row.id, "created", now)
    await events.publish(
        session, pb.OpportunityCreated(opportunity=convert.opportunity(row)), row.id
    )
    return row


async def create(deps: Deps, session: AsyncSession, message: pb.Opportunity) -> OpportunityRow:
    return await create_in(session, message, deps.now())


async def get(deps: Deps, opportunity_id: str) -> OpportunityRow:
    found: OpportunityRow = await Opportunities.read(deps.db, opportunity_id)
    return found


async def update_opportunity(
    deps: Deps, message: pb.Opportunity, mask: Sequence[str]
) -> OpportunityRow:
    paths = changed_paths(message, mask, OPPORTUNITY_FIELDS, "opportunity.")
    now = deps.now()
    prefix = "opportunity."
    async with deps.db.transaction() as session:
        row = await Opportunities(session).get(message.id, lock=True)
        require_open(DealStatus(row.status), "changed")
        problems = Violations()
        if "name" in paths:
            problems.extend(_check_name(message.name, f"{prefix}name"))
        if "amount" in paths:
            problems.extend(
                check_amount(
                    message.amount.currency_code, message.amount.amount_minor, f"{prefix}amount"
                )
            )
        expected_close = None
        if "expected_close_date" in paths:
            expected_close = _close_date(message, problems, prefix)
        if "owner_id" in paths:
            problems.extend(check_owner(message.owner_id, f"{prefix}owner_id"))
        problems.extend(
            await _check_links(
                session,
                message.contact_id if "contact_id" in paths else "",
                message.company_id if "company_id" in paths else "",
                prefix,
            )
        )
        custom = row.custom
        custom_given = [p for p in paths if p.startswith("custom_fields")]
        if custom_given:
            definitions = await custom_fields.definitions(session, RecordType.OPPORTUNITY)
            custom, found = custom_fields.apply_paths(
                definitions, row.custom, message.custom_fields, custom_given, prefix
            )
            problems.extend(found)
        problems.raise_if_any()
        for path in paths:
            if path == "name":
                row.name = message.name.strip()
            elif path == "amount":
                row.currency = message.amount.currency_code
                row.amount_minor = message.amount.amount_minor
            elif path == "expected_close_date":
                row.expected_close = expected_close
            elif path == "owner_id":
                row.owner_id = message.owner_id or actor_id()
            elif path == "contact_id":
                row.contact_id = message.contact_id
            elif path == "company_id":
                row.company_id = message.company_id
            else:
                row.custom = custom
        row.updated_at = now
        remember_change(
            session, RecordType.OPPORTUNITY, row.id, "updated", now, "Changed: " + ", ".join(paths)
        )
        await events.publish(
            session,
            pb.OpportunityUpdated(opportunity=convert.opportunity(row), changed_fields=list(paths)),
            row.id,
        )
        return row


async def move(deps: Deps, opportunity_id: str, stage_id: str) -> OpportunityRow:
    """To another stage of its pipeline; moving to its current stage changes nothing."""
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Opportunities(session).get(opportunity_id, lock=True)
        require_open(DealStatus(row.status), "moved")
        target = await pipelines.stage_of(session, row.pipeline_id, stage_id, "stage_id")
        if target.id == row.stage_id:
            return row
        previous = await Stages(session).find(row.stage_id)
        before = previous.name if previous is not None else row.stage_id
        row.stage_id = target.id
        row.updated_at = now
        remember_change(
            session,
            RecordType.OPPORTUNITY,
            row.id,
            "stage_changed",
            now,
            f"Stage: {before} → {target.name}",
        )
        await events.publish(
            session,
            pb.OpportunityUpdated(
                opportunity=convert.opportunity(row), changed_fields=["stage_id"]
            ),
            row.id,
        )
        return row


async def _bill_to(session: AsyncSession, row: OpportunityRow) -> pb.BillTo:
    bill_to = pb.BillTo(company_id=row.company_id, contact_id=row.contact_id)
    if row.company_id:
        company = await Companies(session).find(row.company_id)
        if company is not None:
            bill_to.company_name = company.name
    if row.contact_id:
        contact = await Contacts(session).find(row.contact_id)
        if contact is not None:
            bill_to.contact_name = f"{contact.first_name} {contact.last_name}".strip()
            bill_to.email = contact.email
    return bill_to


async def win(deps: Deps, opportunity_id: str, amount: money_pb2.Money | None) -> OpportunityRow:
    """Won, at the final amount when one is given; the event carries who to invoice."""
    now = deps.now()
    if amount is not None:
        problems = check_amount(amount.currency_code, amount.amount_minor, "amount")
        if problems:
            raise InvalidArgument(problems)
    async with deps.db.transaction() as session:
        row = await Opportunities(session).get(opportunity_id, lock=True)
        require_open(DealStatus(row.status), "won")
        if amount is not None:
            row.currency, row.amount_minor = amount.currency_code, amount.amount_minor
        row.status = DealStatus.WON.value
        row.closed_at = now
        row.updated_at = now
        remember_change(
            session,
            RecordType.OPPORTUNITY,
            row.id,
            "won",
            now,
        )
        await events.publish(
            session,
            pb.OpportunityWon(
                opportunity=convert.opportunity(row),
                bill_to=await _bill_to(session, row),
                amount=convert.money(row.currency, row.amount_minor),
            ),
            row.id,
        )
        return row


async def lose(deps: Deps, opportunity_id: str, reason: str) -> OpportunityRow:
    reason = given_reason(reason, REASON_MAX)
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Opportunities(session).get(opportunity_id, lock=True)
        require_open(DealStatus(row.status), "lost")
        row.status = DealStatus.LOST.value
        row.lost_reason = reason
        row.closed_at = now
        row.updated_at = now
        remember_change(session, RecordType.OPPORTUNITY, row.id, "lost", now, f"Lost: {reason}")
        await events.publish(
            session, pb.OpportunityLost(opportunity=convert.opportunity(row)), row.id
        )
        return row


async def archive(deps: Deps, opportunity_id: str) -> OpportunityRow:
    """Archived (open or closed); archiving twice changes nothing the second time."""
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Opportunities(session).get(opportunity_id, lock=True)
        if row.archived:
            return row
        row.archived = True
        row.updated_at = now
        remember_change(session, RecordType.OPPORTUNITY, row.id, "archived", now)
        await events.publish(
            session, pb.OpportunityArchived(opportunity=convert.opportunity(row)), row.id
        )
        return row
