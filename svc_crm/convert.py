"""Rows to contract messages and contract enums to domain values, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from erp.common.v1 import money_pb2
from erp.crm.v1 import crm_pb2 as pb
from mesh.dates import from_date_message, to_date_message
from mesh.errors import InvalidArgument
from mesh.timestamps import to_timestamp
from svc_crm.domain.activities import ActivityType
from svc_crm.domain.custom_fields import FieldType
from svc_crm.domain.records import RecordType
from svc_crm.store import (
    ActivityRow,
    CompanyRow,
    ContactRow,
    CustomFieldRow,
    HistoryRow,
    LeadRow,
    OpportunityRow,
    PipelineRow,
    StageRow,
    WebFormRow,
)

RECORD_OF = {
    pb.RECORD_KIND_CONTACT: RecordType.CONTACT,
    pb.RECORD_KIND_COMPANY: RecordType.COMPANY,
    pb.RECORD_KIND_LEAD: RecordType.LEAD,
    pb.RECORD_KIND_OPPORTUNITY: RecordType.OPPORTUNITY,
}
RECORD_TO = {v: k for k, v in RECORD_OF.items()}
FIELD_TYPE_OF = {
    pb.CUSTOM_FIELD_TYPE_TEXT: FieldType.TEXT,
    pb.CUSTOM_FIELD_TYPE_NUMBER: FieldType.NUMBER,
    pb.CUSTOM_FIELD_TYPE_DATE: FieldType.DATE,
    pb.CUSTOM_FIELD_TYPE_CHOICE: FieldType.CHOICE,
}
FIELD_TYPE_TO = {v: k for k, v in FIELD_TYPE_OF.items()}
ACTIVITY_OF = {
    pb.ACTIVITY_KIND_CALL: ActivityType.CALL,
    pb.ACTIVITY_KIND_EMAIL: ActivityType.EMAIL,
    pb.ACTIVITY_KIND_MEETING: ActivityType.MEETING,
    pb.ACTIVITY_KIND_TASK: ActivityType.TASK,
    pb.ACTIVITY_KIND_NOTE: ActivityType.NOTE,
}
ACTIVITY_TO = {v: k for k, v in ACTIVITY_OF.items()}
LEAD_STATUS_TO = {
    "new": pb.LEAD_STATUS_NEW,
    "qualified": pb.LEAD_STATUS_QUALIFIED,
    "disqualified": pb.LEAD_STATUS_DISQUALIFIED,
    "converted": pb.LEAD_STATUS_CONVERTED,
}
DEAL_STATUS_TO = {
    "open": pb.OPPORTUNITY_STATUS_OPEN,
    "won": pb.OPPORTUNITY_STATUS_WON,
    "lost": pb.OPPORTUNITY_STATUS_LOST,
}


def record_type(value: int, field: str) -> RecordType:
    if value not in RECORD_OF:
        raise InvalidArgument.one(field, "contact, company, lead or opportunity is required")
    return RECORD_OF[value]  # type: ignore[index]


day = to_date_message
from_day = from_date_message


def money(currency: str, amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount_minor)


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(values)
    return out


def custom_field(row: CustomFieldRow) -> pb.CustomFieldDefinition:
    return pb.CustomFieldDefinition(
        id=row.id,
        record_kind=RECORD_TO[RecordType(row.record_kind)],
        key=row.key,
        label=row.label,
        type=FIELD_TYPE_TO[FieldType(row.type)],
        choices=row.choices,
        required=row.required,
        archived=row.archived,
        create_time=to_timestamp(row.created_at),
    )


_CONTACT_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_id",
    "title",
    "owner_id",
    "tags",
    "custom",
    "archived",
    "merged_into_id",
    "created_at",
    "updated_at",
    "source",
)


def contact(row: ContactRow) -> pb.Contact:
    return contact_of({name: getattr(row, name) for name in _CONTACT_COLUMNS})


def contact_of(v: Mapping[str, Any], stamp: timestamp_pb2.Timestamp | None = None) -> pb.Contact:
    """A contact from its column values (a row's, or an import's before the insert).
    `stamp` stands for both times when they are one instant (an import's batch)."""
    return pb.Contact(
        id=v["id"],
        first_name=v["first_name"],
        last_name=v["last_name"],
        email=v["email"],
        phone=v["phone"],
        company_id=v["company_id"],
        title=v["title"],
        owner_id=v["owner_id"],
        tags=v["tags"],
        custom_fields=struct(v["custom"]),
        archived=v["archived"],
        merged_into_id=v["merged_into_id"],
        create_time=stamp or to_timestamp(v["created_at"]),
        update_time=stamp or to_timestamp(v["updated_at"]),
        source=v["source"],
    )


def company(row: CompanyRow) -> pb.Company:
    return pb.Company(
        id=row.id,
        name=row.name,
        domain=row.domain,
        phone=row.phone,
        industry=row.industry,
        owner_id=row.owner_id,
        tags=row.tags,
        custom_fields=struct(row.custom),
        archived=row.archived,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


def lead(row: LeadRow) -> pb.Lead:
    return pb.Lead(
        id=row.id,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        phone=row.phone,
        company_name=row.company_name,
        title=row.title,
        source=row.source,
        message=row.message,
        status=LEAD_STATUS_TO[row.status],
        disqualify_reason=row.disqualify_reason,
        owner_id=row.owner_id,
        custom_fields=struct(row.custom),
        converted_contact_id=row.converted_contact_id,
        converted_company_id=row.converted_company_id,
        converted_opportunity_id=row.converted_opportunity_id,
        web_form_id=row.web_form_id,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )


def web_form(row: WebFormRow) -> pb.WebForm:
    return pb.WebForm(
        id=row.id,
        name=row.name,
        form_key=row.form_key,
        rate_limit_per_minute=row.rate_limit_per_minute,
        owner_id=row.owner_id,
        enabled=row.enabled,
        create_time=to_timestamp(row.created_at),
    )


def stage(row: StageRow) -> pb.Stage:
    return pb.Stage(
        id=row.id, name=row.name, win_probability=row.win_probability, position=row.position
    )


def pipeline(row: PipelineRow, stages: list[StageRow]) -> pb.Pipeline:
    return pb.Pipeline(
        id=row.id,
        name=row.name,
        is_default=row.is_default,
        stages=[stage(s) for s in sorted(stages, key=lambda s: s.position)],
        create_time=to_timestamp(row.created_at),
    )


def opportunity(row: OpportunityRow) -> pb.Opportunity:
    return pb.Opportunity(
        id=row.id,
        name=row.name,
        pipeline_id=row.pipeline_id,
        stage_id=row.stage_id,
        amount=money(row.currency, row.amount_minor),
        expected_close_date=day(row.expected_close),
        owner_id=row.owner_id,
        contact_id=row.contact_id,
        company_id=row.company_id,
        status=DEAL_STATUS_TO[row.status],
        lost_reason=row.lost_reason,
        close_time=to_timestamp(row.closed_at),
        custom_fields=struct(row.custom),
        archived=row.archived,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        lead_id=row.lead_id,
    )


def activity(row: ActivityRow) -> pb.Activity:
    return pb.Activity(
        id=row.id,
        kind=ACTIVITY_TO[ActivityType(row.kind)],
        record=pb.RecordRef(kind=RECORD_TO[RecordType(row.record_kind)], id=row.record_id),
        subject=row.subject,
        body=row.body,
        due_time=to_timestamp(row.due_at),
        complete_time=to_timestamp(row.completed_at),
        owner_id=row.owner_id,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        archived=row.archived,
    )


def change(row: HistoryRow) -> pb.RecordChange:
    return pb.RecordChange(change=row.change, summary=row.summary, actor_id=row.actor_id)
