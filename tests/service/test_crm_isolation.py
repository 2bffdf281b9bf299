"""Tenancy and roles in svc_crm: another tenant's id answers NOT_FOUND exactly like a
missing one, on every RPC that takes an id, and changes nothing; a viewer reads and
writes nothing; a member writes records but not the CRM's settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from auth_client import fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import error_info  # type: ignore[import-not-found]
from crm_client import (  # type: ignore[import-not-found]
    Tenant,
    company,
    contact,
    eur,
    new_tenant,
    opportunity,
    unique,
    user_token,
)
from crm_harness import Crm  # type: ignore[import-not-found]
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from erp.common.v1 import options_pb2
from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb
from mesh.ids import new_id

SERVICE = pb.DESCRIPTOR.services_by_name["CrmService"]


def permission_of(rpc: str) -> str:
    rule = SERVICE.methods_by_name[rpc].GetOptions().Extensions[options_pb2.access]
    return str(rule.permission)


WRITES = [m.name for m in SERVICE.methods if permission_of(m.name).endswith(".write")]
READS = [m.name for m in SERVICE.methods if permission_of(m.name).endswith(".read")]
SETTINGS = [m.name for m in SERVICE.methods if permission_of(m.name) == "crm.settings.write"]


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def ref(kind: crm_pb2.RecordKind.ValueType, record_id: str) -> crm_pb2.RecordRef:
    return crm_pb2.RecordRef(kind=kind, id=record_id)


@dataclass(frozen=True)
class Records:
    """One of each kind of record of a tenant."""

    contact: str
    company: str
    lead: str
    opportunity: str
    pipeline: str
    stage: str  # the pipeline's second stage
    activity: str
    import_id: str
    field: str
    form: str


async def records_of(crm: Crm, tenant: Tenant) -> Records:
    token = tenant.token
    employer = await company(crm, tenant, "Owned Co")
    person = await contact(crm, tenant, first_name="Owned", company_id=employer.id)
    lead = await crm.stub.CreateLead(
        pb.CreateLeadRequest(
            lead=crm_pb2.Lead(first_name="Lee", email="lee@owned.example", company_name="Lee Co")
        ),
        metadata=token,
    )
    deal = await opportunity(crm, tenant, contact_id=person.id, company_id=employer.id)
    pipeline = await crm.stub.GetPipeline(
        pb.GetPipelineRequest(id=deal.pipeline_id), metadata=token
    )
    note = await crm.stub.CreateActivity(
        pb.CreateActivityRequest(
            activity=crm_pb2.Activity(
                kind=crm_pb2.ACTIVITY_KIND_TASK,
                record=ref(crm_pb2.RECORD_KIND_CONTACT, person.id),
                subject="Call back",
            )
        ),
        metadata=token,
    )

    import_id = unique("import-")  # names are the tenant's own: each tenant has its own

    async def rows() -> AsyncIterator[pb.ImportContactsRequest]:
        yield pb.ImportContactsRequest(
            import_id=import_id, contact=crm_pb2.Contact(first_name="Imported")
        )

    await crm.stub.ImportContacts(rows(), metadata=token)
    field = await crm.stub.DefineCustomField(
        pb.DefineCustomFieldRequest(
            field=crm_pb2.CustomFieldDefinition(
                record_kind=crm_pb2.RECORD_KIND_CONTACT,
                key="owned",
                label="Owned",
                type=crm_pb2.CUSTOM_FIELD_TYPE_TEXT,
            )
        ),
        metadata=token,
    )
    form = await crm.stub.CreateWebForm(pb.CreateWebFormRequest(name="Owned form"), metadata=token)
    return Records(
        contact=person.id,
        company=employer.id,
        lead=lead.id,
        opportunity=deal.id,
        pipeline=pipeline.id,
        stage=pipeline.stages[1].id,
        activity=note.id,
        import_id=import_id,
        field=field.id,
        form=form.id,
    )


async def snapshot(crm: Crm, tenant: Tenant, r: Records) -> list[Message]:
    """Everything the tenant can read about its records (compared before and after)."""
    token = tenant.token
    stub = crm.stub
    activities = await stub.ListActivities(
        pb.ListActivitiesRequest(filter=f'id = "{r.activity}"'), metadata=token
    )
    return [
        await stub.GetContact(pb.GetContactRequest(id=r.contact), metadata=token),
        await stub.GetCompany(pb.GetCompanyRequest(id=r.company), metadata=token),
        await stub.GetLead(pb.GetLeadRequest(id=r.lead), metadata=token),
        await stub.GetOpportunity(pb.GetOpportunityRequest(id=r.opportunity), metadata=token),
        await stub.GetPipeline(pb.GetPipelineRequest(id=r.pipeline), metadata=token),
        activities,
        await stub.GetImport(pb.GetImportRequest(import_id=r.import_id), metadata=token),
        await stub.ListCustomFields(pb.ListCustomFieldsRequest(show_archived=True), metadata=token),
        await stub.ListWebForms(pb.ListWebFormsRequest(), metadata=token),
        await stub.GetTimeline(
            pb.GetTimelineRequest(record=ref(crm_pb2.RECORD_KIND_CONTACT, r.contact)),
            metadata=token,
        ),
        await stub.GetPipelineReport(
            pb.GetPipelineReportRequest(pipeline_id=r.pipeline), metadata=token
        ),
    ]


Call = Callable[[Records], Awaitable[Any]]
# Every RPC whose request names the id of a record.
ID_RPCS = {
    "GetContact",
    "UpdateContact",
    "ArchiveContact",
    "RestoreContact",
    "MergeContacts",
    "GetImport",
    "ArchiveCustomField",
    "GetCompany",
    "UpdateCompany",
    "ArchiveCompany",
    "RestoreCompany",
    "GetLead",
    "UpdateLead",
    "QualifyLead",
    "DisqualifyLead",
    "ConvertLead",
    "UpdateWebForm",
    "GetPipeline",
    "UpdatePipeline",
    "GetPipelineReport",
    "GetOpportunity",
    "UpdateOpportunity",
    "MoveOpportunity",
    "WinOpportunity",
    "LoseOpportunity",
    "ArchiveOpportunity",
    "UpdateActivity",
    "CompleteActivity",
    "DeleteActivity",
    "GetTimeline",
}


def id_calls(crm: Crm, token: Any, mine: Records) -> dict[str, Call]:
    """Every RPC that takes an id, as the caller with `token`, aimed at `r`'s records;
    each request is otherwise valid, so that only the id can make it fail."""
    s = crm.stub
    contact_kind, company_kind = crm_pb2.RECORD_KIND_CONTACT, crm_pb2.RECORD_KIND_COMPANY
    lead_kind, deal_kind = crm_pb2.RECORD_KIND_LEAD, crm_pb2.RECORD_KIND_OPPORTUNITY
    m = token
    return {
        "GetContact": lambda r: s.GetContact(pb.GetContactRequest(id=r.contact), metadata=m),
        "UpdateContact": lambda r: s.UpdateContact(
            pb.UpdateContactRequest(
                contact=crm_pb2.Contact(id=r.contact, title="Hacked"), update_mask=mask("title")
            ),
            metadata=m,
        ),
        "ArchiveContact": lambda r: s.ArchiveContact(
            pb.ArchiveContactRequest(id=r.contact), metadata=m
        ),
        "RestoreContact": lambda r: s.RestoreContact(
            pb.RestoreContactRequest(id=r.contact), metadata=m
        ),
        "MergeContacts(merged)": lambda r: s.MergeContacts(
            pb.MergeContactsRequest(survivor_id=mine.contact, merged_id=r.contact), metadata=m
        ),
        "MergeContacts(survivor)": lambda r: s.MergeContacts(
            pb.MergeContactsRequest(survivor_id=r.contact, merged_id=mine.contact), metadata=m
        ),
        "GetCompany": lambda r: s.GetCompany(pb.GetCompanyRequest(id=r.company), metadata=m),
        "UpdateCompany": lambda r: s.UpdateCompany(
            pb.UpdateCompanyRequest(
                company=crm_pb2.Company(id=r.company, name="Hacked"), update_mask=mask("name")
            ),
            metadata=m,
        ),
        "ArchiveCompany": lambda r: s.ArchiveCompany(
            pb.ArchiveCompanyRequest(id=r.company), metadata=m
        ),
        "RestoreCompany": lambda r: s.RestoreCompany(
            pb.RestoreCompanyRequest(id=r.company), metadata=m
        ),
        "GetLead": lambda r: s.GetLead(pb.GetLeadRequest(id=r.lead), metadata=m),
        "UpdateLead": lambda r: s.UpdateLead(
            pb.UpdateLeadRequest(
                lead=crm_pb2.Lead(id=r.lead, title="Hacked"), update_mask=mask("title")
            ),
            metadata=m,
        ),
        "QualifyLead": lambda r: s.QualifyLead(pb.QualifyLeadRequest(id=r.lead), metadata=m),
        "DisqualifyLead": lambda r: s.DisqualifyLead(
            pb.DisqualifyLeadRequest(id=r.lead, reason="spam"), metadata=m
        ),
        "ConvertLead": lambda r: s.ConvertLead(
            pb.ConvertLeadRequest(id=r.lead, create_opportunity=True, amount=eur(500_00)),
            metadata=m,
        ),
        "GetOpportunity": lambda r: s.GetOpportunity(
            pb.GetOpportunityRequest(id=r.opportunity), metadata=m
        ),
        "UpdateOpportunity": lambda r: s.UpdateOpportunity(
            pb.UpdateOpportunityRequest(
                opportunity=crm_pb2.Opportunity(id=r.opportunity, name="Hacked"),
                update_mask=mask("name"),
            ),
            metadata=m,
        ),
        "MoveOpportunity": lambda r: s.MoveOpportunity(
            pb.MoveOpportunityRequest(id=r.opportunity, stage_id=r.stage), metadata=m
        ),
        "WinOpportunity": lambda r: s.WinOpportunity(
            pb.WinOpportunityRequest(id=r.opportunity), metadata=m
        ),
        "LoseOpportunity": lambda r: s.LoseOpportunity(
            pb.LoseOpportunityRequest(id=r.opportunity, reason="price"), metadata=m
        ),
        "ArchiveOpportunity": lambda r: s.ArchiveOpportunity(
            pb.ArchiveOpportunityRequest(id=r.opportunity), metadata=m
        ),
        "GetPipeline": lambda r: s.GetPipeline(pb.GetPipelineRequest(id=r.pipeline), metadata=m),
        "UpdatePipeline": lambda r: s.UpdatePipeline(
            pb.UpdatePipelineRequest(
                pipeline=crm_pb2.Pipeline(
                    id=r.pipeline,
                    name="Hacked",
                    stages=[crm_pb2.Stage(name="Only", win_probability=50)],
                )
            ),
            metadata=m,
        ),
        "GetPipelineReport": lambda r: s.GetPipelineReport(
            pb.GetPipelineReportRequest(pipeline_id=r.pipeline), metadata=m
        ),
        "UpdateActivity": lambda r: s.UpdateActivity(
            pb.UpdateActivityRequest(
                activity=crm_pb2.Activity(id=r.activity, subject="Hacked"),
                update_mask=mask("subject"),
            ),
            metadata=m,
        ),
        "CompleteActivity": lambda r: s.CompleteActivity(
            pb.CompleteActivityRequest(id=r.activity), metadata=m
        ),
        "DeleteActivity": lambda r: s.DeleteActivity(
            pb.DeleteActivityRequest(id=r.activity), metadata=m
        ),
        "GetTimeline(contact)": lambda r: s.GetTimeline(
            pb.GetTimelineRequest(record=ref(contact_kind, r.contact)), metadata=m
        ),
        "GetTimeline(company)": lambda r: s.GetTimeline(
            pb.GetTimelineRequest(record=ref(company_kind, r.company)), metadata=m
        ),
        "GetTimeline(lead)": lambda r: s.GetTimeline(
            pb.GetTimelineRequest(record=ref(lead_kind, r.lead)), metadata=m
        ),
        "GetTimeline(opportunity)": lambda r: s.GetTimeline(
            pb.GetTimelineRequest(record=ref(deal_kind, r.opportunity)), metadata=m
        ),
        "GetImport": lambda r: s.GetImport(pb.GetImportRequest(import_id=r.import_id), metadata=m),
        "ArchiveCustomField": lambda r: s.ArchiveCustomField(
            pb.ArchiveCustomFieldRequest(id=r.field), metadata=m
        ),
        "UpdateWebForm": lambda r: s.UpdateWebForm(
            pb.UpdateWebFormRequest(
                web_form=crm_pb2.WebForm(id=r.form, name="Hacked"), update_mask=mask("name")
            ),
            metadata=m,
        ),
    }


def missing() -> Records:
    """Ids nobody has."""
    return Records(
        contact=new_id(),
        company=new_id(),
        lead=new_id(),
        opportunity=new_id(),
        pipeline=new_id(),
        stage=new_id(),
        activity=new_id(),
        import_id="no-such-import",
        field=new_id(),
        form=new_id(),
    )


async def test_another_tenants_ids_are_not_found(auth: Auth, crm: Crm) -> None:
    a = await new_tenant(auth, "Tenant A")
    b = await new_tenant(auth, "Tenant B")
    theirs = await records_of(crm, a)
    mine = await records_of(crm, b)
    before = await snapshot(crm, a, theirs)
    calls = id_calls(crm, b.token, mine)
    # Every RPC whose request names an id of a record is in the table.
    covered = {name.split("(")[0] for name in calls}
    assert covered == ID_RPCS
    nobody = missing()
    for name, call in calls.items():
        foreign = await fails(call(theirs), grpc.StatusCode.NOT_FOUND)
        absent = await fails(call(nobody), grpc.StatusCode.NOT_FOUND)
        assert foreign.details() == absent.details(), name

    assert await snapshot(crm, a, theirs) == before  # nothing of A changed
    # And B's own records answer normally (the table aims at ids, not at RPCs that fail).
    for name in ("GetContact", "GetLead", "GetPipelineReport", "GetImport", "GetTimeline(lead)"):
        await calls[name](mine)
    # B's lists show none of A's rows.
    listed = await crm.stub.ListContacts(pb.ListContactsRequest(page_size=500), metadata=b.token)
    assert theirs.contact not in {c.id for c in listed.contacts}
    assert len(listed.contacts) == 2  # its own contact and its imported one
    hits = await crm.stub.SearchContacts(pb.SearchContactsRequest(query="owned"), metadata=b.token)
    assert [c.id for c in hits.contacts] == [mine.contact]


async def test_another_tenants_ids_in_a_body_are_refused(auth: Auth, crm: Crm) -> None:
    """Links to another tenant's records fail like links to missing ones: 400 naming
    the field, and nothing is made."""
    a = await new_tenant(auth, "Linked A")
    b = await new_tenant(auth, "Linked B")
    theirs = await records_of(crm, a)
    s, m = crm.stub, b.token
    cases: list[tuple[Callable[[str], Awaitable[Any]], str, str]] = [
        (
            lambda i: s.CreateContact(
                pb.CreateContactRequest(contact=crm_pb2.Contact(first_name="X", company_id=i)),
                metadata=m,
            ),
            theirs.company,
            "contact.company_id",
        ),
        (
            lambda i: s.CreateOpportunity(
                pb.CreateOpportunityRequest(
                    opportunity=crm_pb2.Opportunity(name="X", amount=eur(1), contact_id=i)
                ),
                metadata=m,
            ),
            theirs.contact,
            "opportunity.contact_id",
        ),
        (
            lambda i: s.CreateOpportunity(
                pb.CreateOpportunityRequest(
                    opportunity=crm_pb2.Opportunity(name="X", amount=eur(1), pipeline_id=i)
                ),
                metadata=m,
            ),
            theirs.pipeline,
            "opportunity.pipeline_id",
        ),
        (
            lambda i: s.CreateActivity(
                pb.CreateActivityRequest(
                    activity=crm_pb2.Activity(
                        kind=crm_pb2.ACTIVITY_KIND_NOTE,
                        record=ref(crm_pb2.RECORD_KIND_OPPORTUNITY, i),
                        subject="X",
                    )
                ),
                metadata=m,
            ),
            theirs.opportunity,
            "activity.record.id",
        ),
    ]
    for call, their_id, field in cases:
        foreign = await fails(call(their_id), grpc.StatusCode.INVALID_ARGUMENT)
        absent = await fails(call(new_id()), grpc.StatusCode.INVALID_ARGUMENT)
        assert foreign.details() == absent.details(), field
        assert field in foreign.details(), foreign.details()
    deals = await s.ListOpportunities(pb.ListOpportunitiesRequest(), metadata=m)
    assert len(deals.opportunities) == 0


# ---- roles ---------------------------------------------------------------------------


def empty_call(crm: Crm, rpc: str, token: Any) -> Awaitable[Any]:
    """`rpc` with an empty request (the permission check comes before any other)."""
    method = SERVICE.methods_by_name[rpc]
    request = getattr(pb, method.input_type.name)()
    if method.client_streaming:

        async def rows() -> AsyncIterator[Message]:
            yield request

        return getattr(crm.stub, rpc)(rows(), metadata=token)  # type: ignore[no-any-return]
    return getattr(crm.stub, rpc)(request, metadata=token)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def roles(auth: Auth, crm: Crm) -> tuple[Tenant, Records, Any, Any]:
    """A tenant with records, a viewer's token and a member's token."""
    tenant = await new_tenant(auth, "Roles Ltd")
    records = await records_of(crm, tenant)
    viewer = await user_token(auth, tenant, "viewer")
    member = await user_token(auth, tenant, "member")
    return tenant, records, viewer, member


def names_a_record(method: Any) -> bool:
    """Whether the RPC's request carries the id of an existing record."""
    if method.client_streaming:  # ImportContacts: its import_id names a new import
        return False
    fields = method.input_type.fields
    if {"id", "import_id", "pipeline_id", "survivor_id", "record"} & {f.name for f in fields}:
        return True
    first = fields[0].message_type if fields else None
    return bool(method.name.startswith("Update") and first and "id" in first.fields_by_name)


def test_the_contract_splits_reads_and_writes() -> None:
    """The tables here follow the contract: a new id-taking or write RPC shows up."""
    with_ids = {m.name for m in SERVICE.methods if names_a_record(m)}
    assert with_ids == ID_RPCS
    assert len(WRITES) == 31 and len(READS) == 19  # and SubmitWebForm, which is public
    assert set(SETTINGS) == {
        "DefineCustomField",
        "ArchiveCustomField",
        "CreateWebForm",
        "UpdateWebForm",
        "CreatePipeline",
        "UpdatePipeline",
    }


async def test_a_viewer_reads_and_writes_nothing(
    crm: Crm, roles: tuple[Tenant, Records, Any, Any]
) -> None:
    tenant, records, viewer, _ = roles
    before = await snapshot(crm, tenant, records)
    assert await snapshot(crm, viewer_tenant(tenant, viewer), records) == before

    for rpc in WRITES:
        error = await fails(empty_call(crm, rpc, viewer), grpc.StatusCode.PERMISSION_DENIED)
        info = error_info(error)
        assert (info.reason, dict(info.metadata)) == (
            "PERMISSION_DENIED",
            {"permission": permission_of(rpc)},
        ), rpc
    # Aimed at real records, with valid requests: refused all the same.
    for name, call in id_calls(crm, viewer, records).items():
        if permission_of(name.split("(")[0]).endswith(".write"):
            await fails(call(records), grpc.StatusCode.PERMISSION_DENIED)
    assert await snapshot(crm, tenant, records) == before


async def test_a_member_writes_records_but_not_settings(
    crm: Crm, roles: tuple[Tenant, Records, Any, Any]
) -> None:
    tenant, records, _, member = roles
    for rpc in SETTINGS:
        error = await fails(empty_call(crm, rpc, member), grpc.StatusCode.PERMISSION_DENIED)
        assert dict(error_info(error).metadata) == {"permission": "crm.settings.write"}, rpc
    await fails(
        id_calls(crm, member, records)["UpdatePipeline"](records),
        grpc.StatusCode.PERMISSION_DENIED,
    )

    made = await crm.stub.CreateContact(
        pb.CreateContactRequest(contact=crm_pb2.Contact(first_name="By", last_name="Member")),
        metadata=member,
    )
    assert made.owner_id and made.owner_id != tenant.owner_id  # the member made it
    changed = await crm.stub.UpdateContact(
        pb.UpdateContactRequest(
            contact=crm_pb2.Contact(id=records.contact, title="Changed by a member"),
            update_mask=mask("title"),
        ),
        metadata=member,
    )
    assert changed.title == "Changed by a member"
    company_made = await crm.stub.CreateCompany(
        pb.CreateCompanyRequest(company=crm_pb2.Company(name="Member Co")), metadata=member
    )
    assert company_made.name == "Member Co"
    lead = await crm.stub.CreateLead(
        pb.CreateLeadRequest(lead=crm_pb2.Lead(first_name="Member", email="m@lead.example")),
        metadata=member,
    )
    assert lead.status == crm_pb2.LEAD_STATUS_NEW
    deal = await crm.stub.CreateOpportunity(
        pb.CreateOpportunityRequest(opportunity=crm_pb2.Opportunity(name="M", amount=eur(5))),
        metadata=member,
    )
    assert deal.status == crm_pb2.OPPORTUNITY_STATUS_OPEN
    fields = await crm.stub.ListCustomFields(pb.ListCustomFieldsRequest(), metadata=member)
    assert [f.key for f in fields.fields] == ["owned"]  # settings are readable


def viewer_tenant(tenant: Tenant, token: Any) -> Tenant:
    return Tenant(tenant.tenant_id, tenant.owner_id, token)
