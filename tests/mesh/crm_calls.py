"""svc_crm through the real edge, as tables: two tenants with record factories and
every RPC's request written as its contract message. How a request is sent both
ways on the edge port (REST as the RPC's google.api.http rule maps it, and gRPC) and
how answers and errors are compared is edge_calls.py's, for every service.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from edge_calls import (  # type: ignore[import-not-found]
    NONEMPTY,
    Build,
    Call,
    Contract,
    EdgeWorld,
    Is,
    Json,
    Tenant,
    assert_like,
    at,
    day,
    has,
    mask,
    registry,
    starts,
    today,
    unique,
)
from real_mesh import RunningMesh  # type: ignore[import-not-found]

from erp.common.v1 import money_pb2
from erp.crm.v1 import crm_pb2 as crm
from erp.crm.v1 import crm_service_pb2 as pb
from erp.crm.v1 import crm_service_pb2_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["CrmService"]
CRM = Contract(SERVICE)
route, path_variables, rest_form = CRM.route, CRM.path_variables, CRM.rest_form

# ---- the world: two tenants, factories ------------------------------------------------------


def email() -> str:
    return f"{unique('c')}@example.com"


def phone() -> str:
    """A phone number no other contact has: +44 20 then eight random digits."""
    digits = f"{uuid.uuid4().int % 10**8:08d}"
    return f"+44 20 {digits[:4]} {digits[4:]}"


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="EUR", amount_minor=amount_minor)


class World(EdgeWorld):  # type: ignore[misc]
    """Tenant A (who the tables act as) and tenant B (whose ids A must not reach)."""

    def __init__(self, mesh: RunningMesh, channel: Any) -> None:
        # The CRM is in the trial plan that signup starts over NATS.
        stub = crm_service_pb2_grpc.CrmServiceStub(channel)
        super().__init__(mesh, CRM, stub, "/v1/crm/pipelines")
        self._stages: dict[str, list[str]] = {}

    # --- factories (REST, as A unless told) ---------------------------------------------

    def contact(self, as_: Tenant | None = None, **fields: Any) -> Json:
        fields.setdefault("first_name", "Ada")
        fields.setdefault("last_name", unique("L"))
        fields.setdefault("email", email())
        request = pb.CreateContactRequest(contact=crm.Contact(**fields))
        return self.ok("CreateContact", request, as_)

    def company(self, as_: Tenant | None = None, **fields: Any) -> Json:
        fields.setdefault("name", unique("Co "))
        return self.ok("CreateCompany", pb.CreateCompanyRequest(company=crm.Company(**fields)), as_)

    def lead(self, as_: Tenant | None = None, **fields: Any) -> Json:
        fields.setdefault("first_name", "Grace")
        fields.setdefault("last_name", unique("H"))
        fields.setdefault("email", email())
        return self.ok("CreateLead", pb.CreateLeadRequest(lead=crm.Lead(**fields)), as_)

    def opportunity(self, as_: Tenant | None = None, **fields: Any) -> Json:
        fields.setdefault("name", unique("Deal "))
        fields.setdefault("amount", eur(100_000))
        request = pb.CreateOpportunityRequest(opportunity=crm.Opportunity(**fields))
        return self.ok("CreateOpportunity", request, as_)

    def activity(
        self, kind: crm.RecordKind.ValueType, record_id: str, as_: Tenant | None = None
    ) -> Json:
        activity = crm.Activity(
            kind=crm.ACTIVITY_KIND_NOTE,
            record=crm.RecordRef(kind=kind, id=record_id),
            subject="Called, left a message",
        )
        return self.ok("CreateActivity", pb.CreateActivityRequest(activity=activity), as_)

    def pipeline(self, *stages: tuple[str, int], as_: Tenant | None = None) -> Json:
        request = pb.CreatePipelineRequest(
            name=unique("Pipeline "),
            stages=[crm.Stage(name=n, win_probability=p) for n, p in stages or (("Only", 50),)],
        )
        return self.ok("CreatePipeline", request, as_)

    def web_form(self, as_: Tenant | None = None) -> Json:
        return self.ok("CreateWebForm", pb.CreateWebFormRequest(name=unique("Form ")), as_)

    def custom_field(self, as_: Tenant | None = None) -> Json:
        definition = crm.CustomFieldDefinition(
            record_kind=crm.RECORD_KIND_CONTACT,
            key=unique("k"),
            label="Tier",
            type=crm.CUSTOM_FIELD_TYPE_CHOICE,
            choices=["gold", "silver"],
        )
        return self.ok("DefineCustomField", pb.DefineCustomFieldRequest(field=definition), as_)

    def imported(self, as_: Tenant | None = None) -> Json:
        row = pb.ImportContactsRequest(
            import_id=unique("imp-"), contact=crm.Contact(first_name="Imp", email=email())
        )
        return self.ok("ImportContacts", (row,), as_)

    def default_stages(self, as_: Tenant | None = None) -> list[str]:
        tenant = as_ or self.a
        if tenant.token not in self._stages:
            pipelines = self.get("/v1/crm/pipelines", tenant)["pipelines"]
            self._stages[tenant.token] = [s["id"] for s in pipelines[0]["stages"]]
        return self._stages[tenant.token]


# ---- one happy call per RPC ---------------------------------------------------------------


HAPPY: dict[str, Build] = {}
happy: Callable[[str], Callable[[Callable[[World], Call]], Build]] = registry(HAPPY)

CONTACT, COMPANY, LEAD = crm.RECORD_KIND_CONTACT, crm.RECORD_KIND_COMPANY, crm.RECORD_KIND_LEAD

# --- custom fields


@happy("DefineCustomField")
def _define_custom_field(w: World) -> Call:
    key = unique("k")
    definition = crm.CustomFieldDefinition(
        record_kind=CONTACT,
        key=key,
        label="Tier",
        type=crm.CUSTOM_FIELD_TYPE_CHOICE,
        choices=["gold", "silver"],
    )
    expect = {
        "id": NONEMPTY,
        "key": key,
        "record_kind": "RECORD_KIND_CONTACT",
        "type": "CUSTOM_FIELD_TYPE_CHOICE",
        "choices": ["gold", "silver"],
        "archived": False,
    }
    return Call(pb.DefineCustomFieldRequest(field=definition), expect)


@happy("ListCustomFields")
def _list_custom_fields(w: World) -> Call:
    field = w.custom_field()
    request = pb.ListCustomFieldsRequest(record_kind=CONTACT)
    return Call(request, {"fields": has(id=field["id"], key=field["key"])})


@happy("ArchiveCustomField")
def _archive_custom_field(w: World) -> Call:
    field = w.custom_field()
    request = pb.ArchiveCustomFieldRequest(id=field["id"])
    return Call(request, {"id": field["id"], "archived": True})


# --- contacts


@happy("CreateContact")
def _create_contact(w: World) -> Call:
    address, last = email(), unique("Lovelace")
    contact = crm.Contact(first_name="Ada", last_name=last, email=address, tags=["VIP"])
    expect = {
        "id": NONEMPTY,
        "first_name": "Ada",
        "last_name": last,
        "email": address,
        "tags": ["vip"],
        "owner_id": w.a.user_id,
        "source": "manual",
        "archived": False,
        "create_time": NONEMPTY,
    }
    return Call(pb.CreateContactRequest(contact=contact), expect)


@happy("GetContact")
def _get_contact(w: World) -> Call:
    made = w.contact()
    expect = {"id": made["id"], "email": made["email"], "last_name": made["last_name"]}
    return Call(pb.GetContactRequest(id=made["id"]), expect)


@happy("UpdateContact")
def _update_contact(w: World) -> Call:
    made = w.contact(title="Engineer")
    request = pb.UpdateContactRequest(
        contact=crm.Contact(id=made["id"], title="CTO", last_name="Not in the mask"),
        update_mask=mask("title"),
    )
    expect = {"id": made["id"], "title": "CTO", "last_name": made["last_name"]}
    return Call(request, expect)


@happy("ArchiveContact")
def _archive_contact(w: World) -> Call:
    made = w.contact()
    return Call(pb.ArchiveContactRequest(id=made["id"]), {"id": made["id"], "archived": True})


@happy("RestoreContact")
def _restore_contact(w: World) -> Call:
    made = w.contact()
    w.ok("ArchiveContact", pb.ArchiveContactRequest(id=made["id"]))
    return Call(pb.RestoreContactRequest(id=made["id"]), {"id": made["id"], "archived": False})


@happy("ListContacts")
def _list_contacts(w: World) -> Call:
    tag = unique("t")
    made = w.contact(tags=[tag])
    w.contact()  # without the tag
    request = pb.ListContactsRequest(filter=f"tags:{tag}", page_size=10)
    return Call(request, {"contacts": [{"id": made["id"]}], "next_page_token": ""})


@happy("SearchContacts")
def _search_contacts(w: World) -> Call:
    last = unique("Zed")
    made = w.contact(last_name=last)
    request = pb.SearchContactsRequest(query=last.upper())
    return Call(request, {"contacts": [{"id": made["id"], "last_name": last}]})


@happy("MergeContacts")
def _merge_contacts(w: World) -> Call:
    survivor = w.contact()
    number = phone()
    merged = w.contact(phone=number, title="Founder")
    w.activity(CONTACT, merged["id"])
    request = pb.MergeContactsRequest(survivor_id=survivor["id"], merged_id=merged["id"])
    expect = {
        "contact": {"id": survivor["id"], "phone": number, "title": "Founder"},
        "moved_activities": 1,
        "moved_opportunities": 0,
    }

    def merged_is_archived(_: Json) -> None:
        after = w.get(f"/v1/crm/contacts/{merged['id']}")
        assert after["archived"] and after["merged_into_id"] == survivor["id"], after

    return Call(request, expect, also=merged_is_archived)


@happy("ImportContacts")
def _import_contacts(w: World) -> Call:
    import_id = unique("imp-")
    rows = (
        pb.ImportContactsRequest(
            import_id=import_id, contact=crm.Contact(first_name="Imp", email=email())
        ),
        pb.ImportContactsRequest(contact=crm.Contact(first_name="Bad", email="not-an-address")),
    )
    expect = {
        "import_id": import_id,
        "results": [
            {"row": "1", "outcome": "IMPORT_OUTCOME_CREATED", "contact_id": NONEMPTY},
            {"row": "2", "outcome": "IMPORT_OUTCOME_ERROR", "field": "email"},
        ],
        "totals": {"rows": "2", "created": "1", "errors": "1", "duplicates": "0"},
        "last_committed_row": "2",
    }
    return Call(rows, expect)


@happy("GetImport")
def _get_import(w: World) -> Call:
    done = w.imported()
    expect = {
        "import_id": done["import_id"],
        "last_committed_row": "1",
        "totals": {"rows": "1", "created": "1"},
        "create_time": NONEMPTY,
    }
    return Call(pb.GetImportRequest(import_id=done["import_id"]), expect)


# --- companies


@happy("CreateCompany")
def _create_company(w: World) -> Call:
    name = unique("Initech ")
    company = crm.Company(name=name, domain="initech.example", tags=["Key Account"])
    expect = {"id": NONEMPTY, "name": name, "domain": "initech.example", "tags": ["key account"]}
    return Call(pb.CreateCompanyRequest(company=company), expect)


@happy("GetCompany")
def _get_company(w: World) -> Call:
    made = w.company()
    return Call(pb.GetCompanyRequest(id=made["id"]), {"id": made["id"], "name": made["name"]})


@happy("UpdateCompany")
def _update_company(w: World) -> Call:
    made = w.company()
    request = pb.UpdateCompanyRequest(
        company=crm.Company(id=made["id"], industry="Aerospace"), update_mask=mask("industry")
    )
    return Call(request, {"id": made["id"], "name": made["name"], "industry": "Aerospace"})


@happy("ArchiveCompany")
def _archive_company(w: World) -> Call:
    made = w.company()
    return Call(pb.ArchiveCompanyRequest(id=made["id"]), {"id": made["id"], "archived": True})


@happy("RestoreCompany")
def _restore_company(w: World) -> Call:
    made = w.company()
    w.ok("ArchiveCompany", pb.ArchiveCompanyRequest(id=made["id"]))
    return Call(pb.RestoreCompanyRequest(id=made["id"]), {"id": made["id"], "archived": False})


@happy("ListCompanies")
def _list_companies(w: World) -> Call:
    made = w.company()
    request = pb.ListCompaniesRequest(filter=f'name = "{made["name"]}"')
    return Call(request, {"companies": [{"id": made["id"]}], "next_page_token": ""})


# --- leads


@happy("CreateLead")
def _create_lead(w: World) -> Call:
    address = email()
    lead = crm.Lead(first_name="Grace", last_name="Hopper", email=address, company_name="Navy")
    expect = {
        "id": NONEMPTY,
        "email": address,
        "company_name": "Navy",
        "status": "LEAD_STATUS_NEW",
        "source": "manual",
        "owner_id": w.a.user_id,
    }
    return Call(pb.CreateLeadRequest(lead=lead), expect)


@happy("GetLead")
def _get_lead(w: World) -> Call:
    made = w.lead()
    return Call(pb.GetLeadRequest(id=made["id"]), {"id": made["id"], "email": made["email"]})


@happy("UpdateLead")
def _update_lead(w: World) -> Call:
    made = w.lead()
    request = pb.UpdateLeadRequest(
        lead=crm.Lead(id=made["id"], title="Rear Admiral"), update_mask=mask("title")
    )
    return Call(request, {"id": made["id"], "title": "Rear Admiral", "email": made["email"]})


@happy("ListLeads")
def _list_leads(w: World) -> Call:
    made = w.lead()
    request = pb.ListLeadsRequest(filter=f'email = "{made["email"]}"')
    return Call(request, {"leads": [{"id": made["id"]}], "next_page_token": ""})


@happy("QualifyLead")
def _qualify_lead(w: World) -> Call:
    made = w.lead()
    expect = {"id": made["id"], "status": "LEAD_STATUS_QUALIFIED"}
    return Call(pb.QualifyLeadRequest(id=made["id"]), expect)


@happy("DisqualifyLead")
def _disqualify_lead(w: World) -> Call:
    made = w.lead()
    expect = {
        "id": made["id"],
        "status": "LEAD_STATUS_DISQUALIFIED",
        "disqualify_reason": "no budget",
    }
    return Call(pb.DisqualifyLeadRequest(id=made["id"], reason="no budget"), expect)


@happy("ConvertLead")
def _convert_lead(w: World) -> Call:
    company_name = unique("Umbrella ")
    made = w.lead(company_name=company_name)
    request = pb.ConvertLeadRequest(
        id=made["id"], create_opportunity=True, amount=eur(250_000), opportunity_name="Big one"
    )
    expect = {
        "lead": {"id": made["id"], "status": "LEAD_STATUS_CONVERTED"},
        "contact": {"id": NONEMPTY, "email": made["email"], "source": "lead"},
        "company": {"id": NONEMPTY, "name": company_name},
        "opportunity": {
            "id": NONEMPTY,
            "name": "Big one",
            "lead_id": made["id"],
            "amount": {"currency_code": "EUR", "amount_minor": "250000"},
            "status": "OPPORTUNITY_STATUS_OPEN",
        },
    }

    def linked(answer: Json) -> None:
        lead, contact = answer["lead"], answer["contact"]
        assert lead["converted_contact_id"] == contact["id"], answer
        assert lead["converted_company_id"] == answer["company"]["id"] == contact["company_id"]
        assert lead["converted_opportunity_id"] == answer["opportunity"]["id"], answer
        assert answer["opportunity"]["contact_id"] == contact["id"], answer

    return Call(request, expect, also=linked)


# --- web forms


@happy("CreateWebForm")
def _create_web_form(w: World) -> Call:
    name = unique("Contact us ")
    request = pb.CreateWebFormRequest(name=name, rate_limit_per_minute=12)
    expect = {
        "id": NONEMPTY,
        "name": name,
        "form_key": starts("wf_"),
        "rate_limit_per_minute": 12,
        "owner_id": w.a.user_id,
        "enabled": True,
    }
    return Call(request, expect)


@happy("ListWebForms")
def _list_web_forms(w: World) -> Call:
    made = w.web_form()
    expect = {"web_forms": has(id=made["id"], form_key=made["form_key"])}
    return Call(pb.ListWebFormsRequest(), expect)


@happy("UpdateWebForm")
def _update_web_form(w: World) -> Call:
    made = w.web_form()
    request = pb.UpdateWebFormRequest(
        web_form=crm.WebForm(id=made["id"], name="Renamed", rate_limit_per_minute=5),
        update_mask=mask("name", "rate_limit_per_minute"),
    )
    expect = {"id": made["id"], "name": "Renamed", "rate_limit_per_minute": 5, "enabled": True}
    return Call(request, expect)


@happy("SubmitWebForm")
def _submit_web_form(w: World) -> Call:
    form = w.web_form()
    address = email()
    request = pb.SubmitWebFormRequest(
        form_key=form["form_key"],
        first_name="Web",
        last_name="Visitor",
        email=address,
        message="Call me",
    )

    def lead_captured(answer: Json) -> None:
        lead = w.get(f"/v1/crm/leads/{answer['submission_id']}")
        assert_like(
            lead,
            {
                "email": address,
                "source": "web_form",
                "web_form_id": form["id"],
                "message": "Call me",
            },
            "the submitted lead",
        )

    return Call(request, {"submission_id": NONEMPTY}, public=True, also=lead_captured)


# --- pipelines


@happy("CreatePipeline")
def _create_pipeline(w: World) -> Call:
    name = unique("Renewals ")
    request = pb.CreatePipelineRequest(
        name=name,
        stages=[
            crm.Stage(name="Call", win_probability=10),
            crm.Stage(name="Sign", win_probability=80),
        ],
    )
    expect = {
        "id": NONEMPTY,
        "name": name,
        "is_default": False,
        "stages": [
            {"id": NONEMPTY, "name": "Call", "win_probability": 10, "position": 0},
            {"id": NONEMPTY, "name": "Sign", "win_probability": 80, "position": 1},
        ],
    }
    return Call(request, expect)


@happy("GetPipeline")
def _get_pipeline(w: World) -> Call:
    made = w.pipeline(("A", 10), ("B", 60))
    expect = {"id": made["id"], "name": made["name"], "stages": made["stages"]}
    return Call(pb.GetPipelineRequest(id=made["id"]), expect)


@happy("ListPipelines")
def _list_pipelines(w: World) -> Call:
    made = w.pipeline()
    default_first = Is("the default first", lambda v: bool(v) and v[0]["is_default"] is True)
    expect = {"pipelines": default_first}

    def listed(answer: Json) -> None:
        assert_like(answer, {"pipelines": has(id=made["id"], name=made["name"])}, "ListPipelines")

    return Call(pb.ListPipelinesRequest(), expect, also=listed)


@happy("UpdatePipeline")
def _update_pipeline(w: World) -> Call:
    made = w.pipeline(("A", 10), ("B", 60))
    kept = made["stages"][1]["id"]
    name = unique("Renamed ")
    request = pb.UpdatePipelineRequest(
        pipeline=crm.Pipeline(
            id=made["id"],
            name=name,
            stages=[
                crm.Stage(id=kept, name="B2", win_probability=70),
                crm.Stage(name="C", win_probability=100),
            ],
        )
    )
    expect = {
        "id": made["id"],
        "name": name,
        "stages": [
            {"id": kept, "name": "B2", "win_probability": 70, "position": 0},
            {"id": NONEMPTY, "name": "C", "win_probability": 100, "position": 1},
        ],
    }
    return Call(request, expect)


# --- opportunities


@happy("CreateOpportunity")
def _create_opportunity(w: World) -> Call:
    contact, company = w.contact(), w.company()
    name = unique("Deal ")
    opportunity = crm.Opportunity(
        name=name,
        amount=eur(1_234_567),
        expected_close_date=day("2031-03-31"),
        contact_id=contact["id"],
        company_id=company["id"],
    )
    expect = {
        "id": NONEMPTY,
        "name": name,
        "pipeline_id": NONEMPTY,
        "stage_id": w.default_stages()[0],
        "amount": {"currency_code": "EUR", "amount_minor": "1234567"},
        "expected_close_date": {"year": 2031, "month": 3, "day": 31},
        "contact_id": contact["id"],
        "company_id": company["id"],
        "owner_id": w.a.user_id,
        "status": "OPPORTUNITY_STATUS_OPEN",
    }
    return Call(pb.CreateOpportunityRequest(opportunity=opportunity), expect)


@happy("GetOpportunity")
def _get_opportunity(w: World) -> Call:
    made = w.opportunity()
    expect = {"id": made["id"], "name": made["name"], "amount": made["amount"]}
    return Call(pb.GetOpportunityRequest(id=made["id"]), expect)


@happy("UpdateOpportunity")
def _update_opportunity(w: World) -> Call:
    made = w.opportunity()
    request = pb.UpdateOpportunityRequest(
        opportunity=crm.Opportunity(id=made["id"], name="Bigger", amount=eur(200_000)),
        update_mask=mask("name", "amount"),
    )
    expect = {
        "id": made["id"],
        "name": "Bigger",
        "amount": {"currency_code": "EUR", "amount_minor": "200000"},
    }
    return Call(request, expect)


@happy("ListOpportunities")
def _list_opportunities(w: World) -> Call:
    made = w.opportunity()
    request = pb.ListOpportunitiesRequest(filter=f'name = "{made["name"]}"')
    return Call(request, {"opportunities": [{"id": made["id"]}], "next_page_token": ""})


@happy("MoveOpportunity")
def _move_opportunity(w: World) -> Call:
    made = w.opportunity()
    target = w.default_stages()[2]
    request = pb.MoveOpportunityRequest(id=made["id"], stage_id=target)
    return Call(request, {"id": made["id"], "stage_id": target})


@happy("WinOpportunity")
def _win_opportunity(w: World) -> Call:
    made = w.opportunity()
    expect = {
        "id": made["id"],
        "status": "OPPORTUNITY_STATUS_WON",
        "amount": {"currency_code": "EUR", "amount_minor": "95000"},
        "close_time": NONEMPTY,
    }
    return Call(pb.WinOpportunityRequest(id=made["id"], amount=eur(95_000)), expect)


@happy("LoseOpportunity")
def _lose_opportunity(w: World) -> Call:
    made = w.opportunity()
    expect = {
        "id": made["id"],
        "status": "OPPORTUNITY_STATUS_LOST",
        "lost_reason": "went with a competitor",
        "close_time": NONEMPTY,
    }
    return Call(pb.LoseOpportunityRequest(id=made["id"], reason="went with a competitor"), expect)


@happy("ArchiveOpportunity")
def _archive_opportunity(w: World) -> Call:
    made = w.opportunity()
    return Call(pb.ArchiveOpportunityRequest(id=made["id"]), {"id": made["id"], "archived": True})


# --- activities


@happy("CreateActivity")
def _create_activity(w: World) -> Call:
    contact = w.contact()
    activity = crm.Activity(
        kind=crm.ACTIVITY_KIND_TASK,
        record=crm.RecordRef(kind=CONTACT, id=contact["id"]),
        subject="Send the proposal",
        due_time=at("2031-01-02T09:00:00Z"),
    )
    expect = {
        "id": NONEMPTY,
        "kind": "ACTIVITY_KIND_TASK",
        "record": {"kind": "RECORD_KIND_CONTACT", "id": contact["id"]},
        "subject": "Send the proposal",
        "due_time": "2031-01-02T09:00:00Z",
        "owner_id": w.a.user_id,
        "archived": False,
    }
    return Call(pb.CreateActivityRequest(activity=activity), expect)


@happy("UpdateActivity")
def _update_activity(w: World) -> Call:
    made = w.activity(COMPANY, w.company()["id"])
    request = pb.UpdateActivityRequest(
        activity=crm.Activity(id=made["id"], subject="Called back"), update_mask=mask("subject")
    )
    return Call(request, {"id": made["id"], "subject": "Called back"})


@happy("CompleteActivity")
def _complete_activity(w: World) -> Call:
    made = w.activity(LEAD, w.lead()["id"])
    request = pb.CompleteActivityRequest(id=made["id"], complete_time=at("2030-06-01T12:00:00Z"))
    return Call(request, {"id": made["id"], "complete_time": "2030-06-01T12:00:00Z"})


@happy("DeleteActivity")
def _delete_activity(w: World) -> Call:
    made = w.activity(CONTACT, w.contact()["id"])
    return Call(pb.DeleteActivityRequest(id=made["id"]), {"id": made["id"], "archived": True})


@happy("ListActivities")
def _list_activities(w: World) -> Call:
    contact = w.contact()
    made = w.activity(CONTACT, contact["id"])
    request = pb.ListActivitiesRequest(filter=f"record_id = {contact['id']}")
    return Call(request, {"activities": [{"id": made["id"]}], "next_page_token": ""})


@happy("GetTimeline")
def _get_timeline(w: World) -> Call:
    contact = w.contact()
    made = w.activity(CONTACT, contact["id"])
    request = pb.GetTimelineRequest(record=crm.RecordRef(kind=CONTACT, id=contact["id"]))
    expect = {
        "entries": [{"activity": {"id": made["id"]}}, {"change": {"change": "created"}}],
        "next_page_token": "",
    }
    return Call(request, expect)


# --- reports


@happy("GetPipelineReport")
def _pipeline_report(w: World) -> Call:
    made = w.pipeline(("Only", 40))
    w.opportunity(pipeline_id=made["id"], amount=eur(1001))
    expect = {
        "pipeline_id": made["id"],
        "stages": [
            {
                "stage_id": made["stages"][0]["id"],
                "stage_name": "Only",
                "win_probability": 40,
                "count": 1,
                "value": {"currency_code": "EUR", "amount_minor": "1001"},
                "weighted_value": {"currency_code": "EUR", "amount_minor": "400"},
            }
        ],
    }
    return Call(pb.GetPipelineReportRequest(pipeline_id=made["id"]), expect)


@happy("GetForecastReport")
def _forecast_report(w: World) -> Call:
    owner = unique("owner-")
    # The default pipeline's first stage wins 10% of the time: 10001 weighs 1000.1 -> 1000.
    w.opportunity(owner_id=owner, amount=eur(10_001), expected_close_date=day("2031-05-15"))
    request = pb.GetForecastReportRequest(
        start_date=day("2031-01-01"), end_date=day("2031-12-31"), owner_id=owner
    )
    expect = {
        "months": [
            {
                "month": "2031-05",
                "count": 1,
                "value": {"currency_code": "EUR", "amount_minor": "10001"},
                "weighted_value": {"currency_code": "EUR", "amount_minor": "1000"},
            }
        ]
    }
    return Call(request, expect)


@happy("GetWinRateReport")
def _win_rate_report(w: World) -> Call:
    owner = unique("owner-")
    won, lost = w.opportunity(owner_id=owner, amount=eur(500)), w.opportunity(owner_id=owner)
    w.ok("WinOpportunity", pb.WinOpportunityRequest(id=won["id"]))
    w.ok("LoseOpportunity", pb.LoseOpportunityRequest(id=lost["id"], reason="price"))
    request = pb.GetWinRateReportRequest(start_date=today(-1), end_date=today(1))
    row = {
        "owner_id": owner,
        "won": 1,
        "lost": 1,
        "win_rate_bps": 5000,
        "won_value": [{"currency_code": "EUR", "amount_minor": "500"}],
    }
    return Call(request, {"owners": has(**row), "total": {"won": NONEMPTY}})


def every_rpc() -> set[str]:
    return set(CRM.every_rpc())


def ids(rows: Sequence[Json]) -> list[str]:
    return [r["id"] for r in rows]
