"""svc_crm through the real edge, on both backends: every RPC of erp.crm.v1.CrmService
as REST (its google.api.http rule) and as gRPC on the same port, bad input as 400 /
INVALID_ARGUMENT naming the field, duplicates as 409, another tenant's ids as 404, and
the REST surface the issue names (contact bodies, field masks in the query, paging,
conversion, reports, the JSON-array import, the public web form).

The tables live in crm_calls.py: one happy call per RPC (a test fails when the contract
gains an RPC the table lacks), bad input and cross-tenant calls below.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from crm_calls import (  # type: ignore[import-not-found]
    CONTACT,
    HAPPY,
    World,
    email,
    eur,
    every_rpc,
    path_variables,
    phone,
    rest_form,
    route,
)
from edge_calls import (  # type: ignore[import-not-found]
    NONEMPTY,
    Request,
    assert_like,
    day,
    error_info,
    has,
    mask,
    unique,
    violated_fields,
)
from real_mesh import RunningMesh, grpcurl  # type: ignore[import-not-found]

from erp.common.v1 import money_pb2
from erp.crm.v1 import crm_pb2 as crm
from erp.crm.v1 import crm_service_pb2 as pb

pytestmark = pytest.mark.mesh

RPCS = sorted(every_rpc())


@pytest.fixture(scope="module")
def world(running_mesh: RunningMesh) -> Iterator[Any]:
    """Two tenants on this backend's mesh, and a gRPC channel to the edge port."""
    channel = grpc.insecure_channel(f"127.0.0.1:{running_mesh.edge_port}")
    try:
        yield World(running_mesh, channel)
    finally:
        channel.close()


def _json(reply: Any) -> None:
    assert reply.content_type.startswith("application/json"), reply


# ---- every RPC, both ways ------------------------------------------------------------------


def test_every_rpc_has_a_rest_route_and_a_happy_call() -> None:
    assert set(HAPPY) == every_rpc(), "each RPC of CrmService needs its row in crm_calls.HAPPY"
    assert all(route(rpc).template.startswith("/v1/crm/") for rpc in RPCS)


@pytest.mark.parametrize("rpc", RPCS)
def test_rest_happy_path(world: Any, rpc: str) -> None:
    call = HAPPY[rpc](world)
    reply = world.rest(rpc, call.request, None if call.public else world.a)
    assert reply.status == 200, (rest_form(rpc, call.request), reply)
    _json(reply)
    assert_like(reply.body, call.expect, f"REST {rpc}")
    if call.also:
        call.also(reply.body)


@pytest.mark.parametrize("rpc", RPCS)
def test_grpc_happy_path(world: Any, rpc: str) -> None:
    call = HAPPY[rpc](world)
    answer = world.grpc(rpc, call.request, None if call.public else world.a)
    assert answer.code is grpc.StatusCode.OK, (rpc, answer)
    assert_like(answer.body, call.expect, f"gRPC {rpc}")
    if call.also:
        call.also(answer.body)


# ---- bad input -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    label: str
    rpc: str
    build: Callable[[Any], Request]
    field: str  # the field the answer's BadRequest must name
    public: bool = False


def _contact_id(w: Any) -> str:
    return str(w.contact()["id"])


def _opportunity_id(w: Any) -> str:
    return str(w.opportunity()["id"])


def _update_email(w: Any) -> pb.UpdateContactRequest:
    contact = crm.Contact(id=_contact_id(w), email="ada at example")
    return pb.UpdateContactRequest(contact=contact, update_mask=mask("email"))


def _move_to_another_pipelines_stage(w: Any) -> pb.MoveOpportunityRequest:
    other = w.pipeline(("Elsewhere", 30))
    return pb.MoveOpportunityRequest(id=_opportunity_id(w), stage_id=other["stages"][0]["id"])


def _convert_to_unknown_stage(w: Any) -> pb.ConvertLeadRequest:
    return pb.ConvertLeadRequest(
        id=w.lead()["id"], create_opportunity=True, amount=eur(100), stage_id="no-such-stage"
    )


def _submit(w: Any, address: str) -> pb.SubmitWebFormRequest:
    return pb.SubmitWebFormRequest(
        form_key=w.web_form()["form_key"], first_name="Web", email=address
    )


BAD = [
    # a required field missing
    Bad(
        "contact without a name",
        "CreateContact",
        lambda w: pb.CreateContactRequest(contact=crm.Contact(email=email())),
        "contact.last_name",
    ),
    Bad(
        "company without a name",
        "CreateCompany",
        lambda w: pb.CreateCompanyRequest(company=crm.Company(domain="example.com")),
        "company.name",
    ),
    Bad(
        "activity without a subject",
        "CreateActivity",
        lambda w: pb.CreateActivityRequest(
            activity=crm.Activity(
                kind=crm.ACTIVITY_KIND_CALL, record=crm.RecordRef(kind=CONTACT, id=_contact_id(w))
            )
        ),
        "activity.subject",
    ),
    Bad(
        "merge without merged_id",
        "MergeContacts",
        lambda w: pb.MergeContactsRequest(survivor_id=_contact_id(w)),
        "merged_id",
    ),
    Bad(
        "disqualify without a reason",
        "DisqualifyLead",
        lambda w: pb.DisqualifyLeadRequest(id=w.lead()["id"]),
        "reason",
    ),
    Bad(
        "lose without a reason",
        "LoseOpportunity",
        lambda w: pb.LoseOpportunityRequest(id=_opportunity_id(w)),
        "reason",
    ),
    Bad(
        "win rate without a period",
        "GetWinRateReport",
        lambda w: pb.GetWinRateReportRequest(end_date=day("2030-01-31")),
        "start_date",
    ),
    Bad(
        "import without import_id",
        "ImportContacts",
        lambda w: (pb.ImportContactsRequest(contact=crm.Contact(first_name="No", email=email())),),
        "import_id",
    ),
    # a bad e-mail address
    Bad(
        "contact with a bad e-mail",
        "CreateContact",
        lambda w: pb.CreateContactRequest(contact=crm.Contact(first_name="Ada", email="ada@")),
        "contact.email",
    ),
    Bad("update to a bad e-mail", "UpdateContact", _update_email, "contact.email"),
    Bad(
        "lead with a bad e-mail",
        "CreateLead",
        lambda w: pb.CreateLeadRequest(lead=crm.Lead(last_name="Hopper", email="grace@@navy")),
        "lead.email",
    ),
    Bad(
        "web form with a bad e-mail",
        "SubmitWebForm",
        lambda w: _submit(w, "web at example"),
        "email",
        public=True,
    ),
    # an unknown stage
    Bad(
        "move to an unknown stage",
        "MoveOpportunity",
        lambda w: pb.MoveOpportunityRequest(id=_opportunity_id(w), stage_id="no-such-stage"),
        "stage_id",
    ),
    Bad(
        "move to another pipeline's stage",
        "MoveOpportunity",
        _move_to_another_pipelines_stage,
        "stage_id",
    ),
    Bad(
        "create in an unknown stage",
        "CreateOpportunity",
        lambda w: pb.CreateOpportunityRequest(
            opportunity=crm.Opportunity(name="Deal", amount=eur(100), stage_id="no-such-stage")
        ),
        "opportunity.stage_id",
    ),
    Bad("convert into an unknown stage", "ConvertLead", _convert_to_unknown_stage, "stage_id"),
    # amounts (a fraction of a minor unit cannot be said in protobuf: REST only, below)
    Bad(
        "negative amount",
        "CreateOpportunity",
        lambda w: pb.CreateOpportunityRequest(
            opportunity=crm.Opportunity(name="Deal", amount=eur(-1))
        ),
        "opportunity.amount.amount_minor",
    ),
    Bad(
        "unknown currency",
        "CreateOpportunity",
        lambda w: pb.CreateOpportunityRequest(
            opportunity=crm.Opportunity(
                name="Deal", amount=money_pb2.Money(currency_code="eur", amount_minor=1)
            )
        ),
        "opportunity.amount.currency_code",
    ),
    # filter syntax errors
    Bad(
        "contacts filter without a value",
        "ListContacts",
        lambda w: pb.ListContactsRequest(filter="owner ="),
        "filter",
    ),
    Bad(
        "companies filter with an open parenthesis",
        "ListCompanies",
        lambda w: pb.ListCompaniesRequest(filter='(name = "Acme"'),
        "filter",
    ),
    Bad(
        "leads filter with a dangling AND",
        "ListLeads",
        lambda w: pb.ListLeadsRequest(filter="status = new AND"),
        "filter",
    ),
    Bad(
        "opportunities filter with an unknown field",
        "ListOpportunities",
        lambda w: pb.ListOpportunitiesRequest(filter="colour = red"),
        "filter",
    ),
    Bad(
        "activities filter with an unquoted phrase",
        "ListActivities",
        lambda w: pb.ListActivitiesRequest(filter="subject = two words"),
        "filter",
    ),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.label for b in BAD])
def test_rest_bad_input_is_400_naming_the_field(world: Any, bad: Bad) -> None:
    request = bad.build(world)
    reply = world.rest(bad.rpc, request, None if bad.public else world.a)
    assert reply.status == 400, (rest_form(bad.rpc, request), reply)
    _json(reply)
    assert reply.body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], reply
    assert bad.field in violated_fields(reply.body), reply


@pytest.mark.parametrize("bad", BAD, ids=[b.label for b in BAD])
def test_grpc_bad_input_is_invalid_argument_naming_the_field(world: Any, bad: Bad) -> None:
    answer = world.grpc(bad.rpc, bad.build(world), None if bad.public else world.a)
    assert answer.code is grpc.StatusCode.INVALID_ARGUMENT, answer
    assert bad.field in violated_fields(answer.body), answer


FRACTION = {"currency_code": "EUR", "amount_minor": 10.5}


def test_rest_amount_with_a_fraction_of_a_minor_unit_is_400_naming_the_field(world: Any) -> None:
    """Every REST route that takes an amount. (gRPC cannot say 10.5 in an int64 at all.)"""
    deal, lead = world.opportunity(amount=eur(100_000)), world.lead()
    as_string = FRACTION | {"amount_minor": "10.5"}
    on_deal, on_lead = f"/v1/crm/opportunities/{deal['id']}", f"/v1/crm/leads/{lead['id']}"
    converting = {"create_opportunity": True, "amount": FRACTION}
    calls: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/v1/crm/opportunities", {"name": "D", "amount": FRACTION}, "opportunity."),
        ("POST", "/v1/crm/opportunities", {"name": "D", "amount": as_string}, "opportunity."),
        ("PATCH", on_deal + "?update_mask=amount", {"amount": FRACTION}, "opportunity."),
        ("POST", on_deal + ":win", {"amount": FRACTION}, ""),
        ("POST", on_lead + ":convert", converting, ""),
    ]
    for method, path, body, prefix in calls:
        reply = world.mesh.call(method, path, body, token=world.a.token)
        assert reply.status == 400, (method, path, body, reply)
        _json(reply)
        assert reply.body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0], reply
        field = prefix + "amount.amount_minor"  # the request message's field path
        named = field in violated_fields(reply.body) or reply.body["message"].startswith(field)
        assert named, (method, path, field, reply)
    after = world.get(f"/v1/crm/opportunities/{deal['id']}")
    assert_like(after, {"status": "OPPORTUNITY_STATUS_OPEN", "amount": deal["amount"]}, "deal")
    assert world.get(f"/v1/crm/leads/{lead['id']}")["status"] == "LEAD_STATUS_NEW"


# ---- another tenant's ids -------------------------------------------------------------------


@dataclass(frozen=True)
class Theirs:
    """Tenant B's records, which tenant A's calls must not find."""

    contact: str
    other_contact: str
    company: str
    lead: str
    opportunity: str
    stage: str
    pipeline: str
    activity: str
    web_form: str
    field: str
    import_id: str


@pytest.fixture(scope="module")
def theirs(world: Any) -> Theirs:
    b = world.b
    contact = world.contact(as_=b)["id"]
    pipeline = world.pipeline(("Theirs", 30), as_=b)
    return Theirs(
        contact=contact,
        other_contact=world.contact(as_=b)["id"],
        company=world.company(as_=b)["id"],
        lead=world.lead(as_=b)["id"],
        opportunity=world.opportunity(as_=b)["id"],
        stage=world.default_stages(b)[1],
        pipeline=pipeline["id"],
        activity=world.activity(CONTACT, contact, as_=b)["id"],
        web_form=world.web_form(as_=b)["id"],
        field=world.custom_field(as_=b)["id"],
        import_id=world.imported(as_=b)["import_id"],
    )


@dataclass(frozen=True)
class Cross:
    label: str
    rpc: str
    build: Callable[[Any, Theirs], Request]


CROSS = [
    Cross(
        "archive their custom field",
        "ArchiveCustomField",
        lambda w, t: pb.ArchiveCustomFieldRequest(id=t.field),
    ),
    Cross("get their contact", "GetContact", lambda w, t: pb.GetContactRequest(id=t.contact)),
    Cross(
        "update their contact",
        "UpdateContact",
        lambda w, t: pb.UpdateContactRequest(
            contact=crm.Contact(id=t.contact, title="Hijacked"), update_mask=mask("title")
        ),
    ),
    Cross(
        "archive their contact",
        "ArchiveContact",
        lambda w, t: pb.ArchiveContactRequest(id=t.contact),
    ),
    Cross(
        "restore their contact",
        "RestoreContact",
        lambda w, t: pb.RestoreContactRequest(id=t.contact),
    ),
    Cross(
        "merge ours into theirs",
        "MergeContacts",
        lambda w, t: pb.MergeContactsRequest(survivor_id=t.contact, merged_id=_contact_id(w)),
    ),
    Cross(
        "merge theirs into ours",
        "MergeContacts",
        lambda w, t: pb.MergeContactsRequest(survivor_id=_contact_id(w), merged_id=t.other_contact),
    ),
    Cross("get their import", "GetImport", lambda w, t: pb.GetImportRequest(import_id=t.import_id)),
    Cross("get their company", "GetCompany", lambda w, t: pb.GetCompanyRequest(id=t.company)),
    Cross(
        "update their company",
        "UpdateCompany",
        lambda w, t: pb.UpdateCompanyRequest(
            company=crm.Company(id=t.company, industry="Hijacked"), update_mask=mask("industry")
        ),
    ),
    Cross(
        "archive their company",
        "ArchiveCompany",
        lambda w, t: pb.ArchiveCompanyRequest(id=t.company),
    ),
    Cross(
        "restore their company",
        "RestoreCompany",
        lambda w, t: pb.RestoreCompanyRequest(id=t.company),
    ),
    Cross("get their lead", "GetLead", lambda w, t: pb.GetLeadRequest(id=t.lead)),
    Cross(
        "update their lead",
        "UpdateLead",
        lambda w, t: pb.UpdateLeadRequest(
            lead=crm.Lead(id=t.lead, title="Hijacked"), update_mask=mask("title")
        ),
    ),
    Cross("qualify their lead", "QualifyLead", lambda w, t: pb.QualifyLeadRequest(id=t.lead)),
    Cross(
        "disqualify their lead",
        "DisqualifyLead",
        lambda w, t: pb.DisqualifyLeadRequest(id=t.lead, reason="hijacked"),
    ),
    Cross(
        "convert their lead",
        "ConvertLead",
        lambda w, t: pb.ConvertLeadRequest(id=t.lead, create_opportunity=True, amount=eur(1)),
    ),
    Cross(
        "update their web form",
        "UpdateWebForm",
        lambda w, t: pb.UpdateWebFormRequest(
            web_form=crm.WebForm(id=t.web_form, name="Hijacked"), update_mask=mask("name")
        ),
    ),
    Cross("get their pipeline", "GetPipeline", lambda w, t: pb.GetPipelineRequest(id=t.pipeline)),
    Cross(
        "update their pipeline",
        "UpdatePipeline",
        lambda w, t: pb.UpdatePipelineRequest(
            pipeline=crm.Pipeline(
                id=t.pipeline, name="Hijacked", stages=[crm.Stage(name="X", win_probability=1)]
            )
        ),
    ),
    Cross(
        "report on their pipeline",
        "GetPipelineReport",
        lambda w, t: pb.GetPipelineReportRequest(pipeline_id=t.pipeline),
    ),
    Cross(
        "get their opportunity",
        "GetOpportunity",
        lambda w, t: pb.GetOpportunityRequest(id=t.opportunity),
    ),
    Cross(
        "update their opportunity",
        "UpdateOpportunity",
        lambda w, t: pb.UpdateOpportunityRequest(
            opportunity=crm.Opportunity(id=t.opportunity, name="Hijacked"), update_mask=mask("name")
        ),
    ),
    Cross(
        "move their opportunity",
        "MoveOpportunity",
        lambda w, t: pb.MoveOpportunityRequest(id=t.opportunity, stage_id=t.stage),
    ),
    Cross(
        "win their opportunity",
        "WinOpportunity",
        lambda w, t: pb.WinOpportunityRequest(id=t.opportunity),
    ),
    Cross(
        "lose their opportunity",
        "LoseOpportunity",
        lambda w, t: pb.LoseOpportunityRequest(id=t.opportunity, reason="hijacked"),
    ),
    Cross(
        "archive their opportunity",
        "ArchiveOpportunity",
        lambda w, t: pb.ArchiveOpportunityRequest(id=t.opportunity),
    ),
    Cross(
        "update their activity",
        "UpdateActivity",
        lambda w, t: pb.UpdateActivityRequest(
            activity=crm.Activity(id=t.activity, subject="Hijacked"), update_mask=mask("subject")
        ),
    ),
    Cross(
        "complete their activity",
        "CompleteActivity",
        lambda w, t: pb.CompleteActivityRequest(id=t.activity),
    ),
    Cross(
        "delete their activity",
        "DeleteActivity",
        lambda w, t: pb.DeleteActivityRequest(id=t.activity),
    ),
    Cross(
        "their contact's timeline",
        "GetTimeline",
        lambda w, t: pb.GetTimelineRequest(record=crm.RecordRef(kind=CONTACT, id=t.contact)),
    ),
]


def test_every_id_taking_rpc_has_a_cross_tenant_call() -> None:
    # The web form key is public on purpose: it is how a page names its tenant.
    in_path = {rpc for rpc in RPCS if path_variables(rpc)} - {"SubmitWebForm"}
    by_id_field = {"GetTimeline", "GetPipelineReport"}  # record.id, pipeline_id in the query
    assert in_path | by_id_field <= {c.rpc for c in CROSS}


@pytest.mark.parametrize("cross", CROSS, ids=[c.label for c in CROSS])
def test_rest_other_tenants_id_is_404(world: Any, theirs: Theirs, cross: Cross) -> None:
    request = cross.build(world, theirs)
    reply = world.rest(cross.rpc, request, world.a)
    assert reply.status == 404, (rest_form(cross.rpc, request), reply)
    _json(reply)
    assert reply.body["code"] == grpc.StatusCode.NOT_FOUND.value[0], reply


@pytest.mark.parametrize("cross", CROSS, ids=[c.label for c in CROSS])
def test_grpc_other_tenants_id_is_not_found(world: Any, theirs: Theirs, cross: Cross) -> None:
    answer = world.grpc(cross.rpc, cross.build(world, theirs), world.a)
    assert answer.code is grpc.StatusCode.NOT_FOUND, answer


def test_other_tenants_records_are_untouched(world: Any, theirs: Theirs) -> None:
    """After every attempt above (the tests run in file order), B's records are as made."""
    b = world.b
    contact = world.get(f"/v1/crm/contacts/{theirs.contact}", b)
    assert_like(contact, {"archived": False, "title": "", "merged_into_id": ""}, "contact")
    other = world.get(f"/v1/crm/contacts/{theirs.other_contact}", b)
    assert_like(other, {"archived": False, "merged_into_id": ""}, "other contact")
    company = world.get(f"/v1/crm/companies/{theirs.company}", b)
    assert_like(company, {"archived": False, "industry": ""}, "company")
    lead = world.get(f"/v1/crm/leads/{theirs.lead}", b)
    assert_like(lead, {"status": "LEAD_STATUS_NEW", "title": ""}, "lead")
    deal = world.get(f"/v1/crm/opportunities/{theirs.opportunity}", b)
    expected = {"status": "OPPORTUNITY_STATUS_OPEN", "archived": False}
    assert_like(deal, expected | {"stage_id": world.default_stages(b)[0]}, "opportunity")
    assert world.get(f"/v1/crm/pipelines/{theirs.pipeline}", b)["name"] != "Hijacked"
    forms = world.get("/v1/crm/web-forms", b)["web_forms"]
    assert_like(forms, has(id=theirs.web_form, enabled=True), "web forms")
    assert "Hijacked" not in {f["name"] for f in forms}
    fields = world.get("/v1/crm/custom-fields?show_archived=true", b)["fields"]
    assert_like(fields, has(id=theirs.field, archived=False), "custom fields")
    path = f"/v1/crm/timeline?record.kind=RECORD_KIND_CONTACT&record.id={theirs.contact}"
    entries = world.get(path, b)["entries"]
    assert_like(entries, has(activity={"id": theirs.activity, "archived": False}), "timeline")
    activity = next(e["activity"] for e in entries if "activity" in e)
    assert "complete_time" not in activity and activity["subject"] != "Hijacked", activity


# ---- the REST surface the issue names -------------------------------------------------------


def test_post_contacts_takes_the_contact_as_body_and_answers_it(world: Any) -> None:
    address = email()
    body = {
        "first_name": "Katherine",
        "last_name": "Johnson",
        "email": address,
        "phone": phone(),
        "title": "Mathematician",
        "tags": ["nasa"],
    }
    created = world.mesh.call("POST", "/v1/crm/contacts", body, token=world.a.token)
    assert created.status == 200, created
    _json(created)
    assert_like(created.body, body | {"id": NONEMPTY, "source": "manual"}, "created contact")
    fetched = world.mesh.call("GET", f"/v1/crm/contacts/{created.body['id']}", token=world.a.token)
    assert fetched.status == 200 and fetched.body == created.body, fetched


def test_patch_contact_with_update_mask_in_the_query(world: Any) -> None:
    contact = world.contact(first_name="Ada", title="Engineer")
    path = f"/v1/crm/contacts/{contact['id']}"

    def patch(query: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = world.mesh.call("PATCH", path + query, body, token=world.a.token)
        assert reply.status == 200, (query, body, reply)
        return dict(reply.body)

    address = email()
    only_email = patch("?update_mask=email", {"email": address, "first_name": "Not in the mask"})
    assert_like(only_email, {"email": address, "first_name": "Ada", "title": "Engineer"}, "email")
    snake = patch("?update_mask=first_name", {"first_name": "Augusta"})
    assert snake["first_name"] == "Augusta", "update_mask=first_name (proto field name)"
    camel = patch("?update_mask=firstName", {"first_name": "Augusta Ada"})
    assert camel["first_name"] == "Augusta Ada", "update_mask=firstName (JSON name)"
    two = patch("?update_mask=first_name,title", {"first_name": "Ada", "title": "Countess"})
    assert_like(two, {"first_name": "Ada", "title": "Countess", "email": address}, "two paths")
    no_mask = patch("", {"title": "Analyst"})  # every field the body sets
    assert_like(no_mask, {"first_name": "Ada", "title": "Analyst", "email": address}, "no mask")

    refused = world.mesh.call(
        "PATCH", path + "?update_mask=archived", {"archived": True}, token=world.a.token
    )
    assert refused.status == 400 and "update_mask" in violated_fields(refused.body), refused


def _page(world: Any, query: dict[str, Any]) -> dict[str, Any]:
    path = "/v1/crm/contacts?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    return dict(world.get(path))


def test_list_contacts_with_filter_page_size_and_page_token(world: Any) -> None:
    tag = unique("page")
    made = [world.contact(first_name=f"P{n}", tags=[tag]) for n in range(5)]
    world.contact(first_name="P9")  # not tagged
    query = {
        "filter": f'tags:{tag} AND first_name != "P9"',
        "order_by": "first_name",
        "page_size": 2,
    }
    seen: list[str] = []
    pages = 0
    token = ""
    while True:
        page = _page(world, query | ({"page_token": token} if token else {}))
        pages += 1
        assert len(page["contacts"]) <= 2, page
        seen += [c["id"] for c in page["contacts"]]
        token = page["next_page_token"]
        if not token:
            break
    assert pages == 3
    assert seen == [c["id"] for c in made]  # by first name, each once

    one = _page(world, {"filter": f'tags:{tag} AND first_name = "P3"'})
    assert [c["id"] for c in one["contacts"]] == [made[3]["id"]]
    first = _page(world, query)
    other = world.mesh.call(
        "GET",
        "/v1/crm/contacts?"
        + urllib.parse.urlencode(
            {"filter": "first_name = P1", "page_token": first["next_page_token"]},
            quote_via=urllib.parse.quote,
        ),
        token=world.a.token,
    )
    assert other.status == 400 and "page_token" in violated_fields(other.body), other


def test_convert_lead_makes_contact_company_and_opportunity(world: Any) -> None:
    company_name = unique("Wayne ")
    number = phone()
    lead = world.lead(company_name=company_name, phone=number)
    body = {
        "create_opportunity": True,
        "opportunity_name": "Fleet renewal",
        "amount": {"currency_code": "USD", "amount_minor": 1_500_000},
        "expected_close_date": {"year": 2031, "month": 6, "day": 30},
    }
    path = f"/v1/crm/leads/{lead['id']}:convert"
    reply = world.mesh.call("POST", path, body, token=world.a.token)
    assert reply.status == 200, reply
    done = reply.body
    assert done["lead"]["status"] == "LEAD_STATUS_CONVERTED", done
    contact = world.get(f"/v1/crm/contacts/{done['lead']['converted_contact_id']}")
    assert_like(contact, {"email": lead["email"], "phone": number, "source": "lead"}, "")
    company = world.get(f"/v1/crm/companies/{done['lead']['converted_company_id']}")
    assert company["name"] == company_name and contact["company_id"] == company["id"]
    deal = world.get(f"/v1/crm/opportunities/{done['lead']['converted_opportunity_id']}")
    expected = {
        "name": "Fleet renewal",
        "lead_id": lead["id"],
        "contact_id": contact["id"],
        "company_id": company["id"],
        "amount": {"currency_code": "USD", "amount_minor": "1500000"},
        "expected_close_date": {"year": 2031, "month": 6, "day": 30},
    }
    assert_like(deal, expected, "opportunity")
    again = world.mesh.call("POST", path, body, token=world.a.token)
    assert again.status == 400 and error_info(again.body)["reason"] == "LEAD_STATE", again


def test_get_opportunities_filters_and_sorts(world: Any) -> None:
    pipeline = world.pipeline(("Open", 50))["id"]
    made = {
        n: world.opportunity(pipeline_id=pipeline, amount=eur(n))["id"] for n in (100, 300, 200)
    }
    query = urllib.parse.urlencode(
        {"filter": f"pipeline_id = {pipeline}", "order_by": "amount desc"},
        quote_via=urllib.parse.quote,
    )
    listed = world.get(f"/v1/crm/opportunities?{query}")["opportunities"]
    assert [o["id"] for o in listed] == [made[300], made[200], made[100]]
    query = urllib.parse.quote(f"pipeline_id = {pipeline} AND amount >= 200")
    listed = world.get(f"/v1/crm/opportunities?filter={query}")["opportunities"]
    assert {o["id"] for o in listed} == {made[300], made[200]}


def test_get_pipeline_report_sums_open_deals_per_stage_and_currency(world: Any) -> None:
    pipeline = world.pipeline(("Qualify", 20), ("Close", 50), ("Empty", 90))
    qualify, close = (s["id"] for s in pipeline["stages"][:2])

    def deal(stage: str, currency: str, amount: int) -> str:
        money = money_pb2.Money(currency_code=currency, amount_minor=amount)
        return str(
            world.opportunity(pipeline_id=pipeline["id"], stage_id=stage, amount=money)["id"]
        )

    deal(qualify, "EUR", 1000)
    deal(qualify, "EUR", 2001)
    deal(close, "EUR", 3001)
    deal(close, "USD", 300)
    world.ok("WinOpportunity", pb.WinOpportunityRequest(id=deal(qualify, "EUR", 99_999)))
    world.ok("ArchiveOpportunity", pb.ArchiveOpportunityRequest(id=deal(close, "EUR", 77_777)))

    report = world.get(f"/v1/crm/reports/pipeline?pipeline_id={pipeline['id']}")
    assert report["pipeline_id"] == pipeline["id"]
    names = [s["stage_name"] for s in report["stages"]]
    assert list(dict.fromkeys(names)) == ["Qualify", "Close", "Empty"], report
    totals = {
        (s["stage_name"], s.get("value", {}).get("currency_code", "")): (
            s["count"],
            s.get("value", {}).get("amount_minor"),
            s.get("weighted_value", {}).get("amount_minor"),
        )
        for s in report["stages"]
    }
    assert totals == {
        ("Qualify", "EUR"): (2, "3001", "600"),  # 3001 x 20% = 600.2
        ("Close", "EUR"): (1, "3001", "1501"),  # 1500.5 rounds half up
        ("Close", "USD"): (1, "300", "150"),
        ("Empty", ""): (0, None, None),
    }, report

    default = world.get("/v1/crm/reports/pipeline")
    pipelines = world.get("/v1/crm/pipelines")["pipelines"]
    assert default["pipeline_id"] == pipelines[0]["id"] and pipelines[0]["is_default"]
    names = list(dict.fromkeys(s["stage_name"] for s in default["stages"]))
    assert names == [s["name"] for s in pipelines[0]["stages"]], default


def test_import_takes_a_json_array_and_answers_per_row(world: Any) -> None:
    existing = world.contact()
    import_id = unique("imp-")
    first = email()
    rows = [
        {"import_id": import_id, "row": 1, "contact": {"first_name": "A", "email": first}},
        {"contact": {"first_name": "B", "email": "not-an-address"}},
        {"contact": {"first_name": "C", "email": first.upper()}},
        {"contact": {"first_name": "D", "email": existing["email"]}},
        {"contact": {"email": email()}},
        {"contact": {"first_name": "F", "phone": phone()}},
    ]
    body = json.dumps(rows)
    reply = world.mesh.call("POST", "/v1/crm/contacts:import", body, token=world.a.token)
    assert reply.status == 200, reply
    results = reply.body["results"]
    created = results[0]["contact_id"]
    assert_like(
        results,
        [
            {"row": "1", "outcome": "IMPORT_OUTCOME_CREATED", "contact_id": NONEMPTY},
            {"row": "2", "outcome": "IMPORT_OUTCOME_ERROR", "field": "email"},
            {"row": "3", "outcome": "IMPORT_OUTCOME_DUPLICATE", "contact_id": created},
            {"row": "4", "outcome": "IMPORT_OUTCOME_DUPLICATE", "contact_id": existing["id"]},
            {"row": "5", "outcome": "IMPORT_OUTCOME_ERROR", "field": "last_name"},
            {"row": "6", "outcome": "IMPORT_OUTCOME_CREATED", "contact_id": NONEMPTY},
        ],
        "rows",
    )
    totals = {"rows": "6", "created": "2", "updated": "0", "duplicates": "2", "errors": "2"}
    assert_like(reply.body, {"totals": totals, "last_committed_row": "6"}, "totals")
    assert world.get(f"/v1/crm/contacts/{created}")["source"] == "import"
    progress = world.get(f"/v1/crm/imports/{import_id}")
    assert_like(progress, {"last_committed_row": "6", "totals": totals}, "progress")

    again = world.mesh.call("POST", "/v1/crm/contacts:import", body, token=world.a.token)
    assert again.status == 200, again
    assert {r["outcome"] for r in again.body["results"]} == {"IMPORT_OUTCOME_ALREADY_IMPORTED"}
    assert_like(again.body["totals"], {"rows": "6", "created": "0", "already_imported": "6"}, "")
    same = _page(world, {"filter": f'email = "{first}"'})["contacts"]
    assert [c["id"] for c in same] == [created]

    not_an_array = world.mesh.call("POST", "/v1/crm/contacts:import", rows[0], token=world.a.token)
    assert not_an_array.status == 400, not_an_array
    _json(not_an_array)


def test_web_form_submission_needs_no_token(world: Any) -> None:
    form = world.mesh.call("POST", "/v1/crm/web-forms", {"name": "Site"}, token=world.a.token)
    assert form.status == 200, form
    key, form_id = form.body["form_key"], form.body["id"]
    address = email()
    visitor = {"first_name": "Web", "email": address, "company_name": "Visitor Ltd"}
    submitted = world.mesh.call("POST", f"/v1/crm/web-forms/{key}:submit", visitor)
    assert submitted.status == 200, submitted
    _json(submitted)
    lead = world.get(f"/v1/crm/leads/{submitted.body['submission_id']}")
    assert_like(
        lead,
        {
            "email": address,
            "source": "web_form",
            "web_form_id": form_id,
            "owner_id": world.a.user_id,
        },
        "lead",
    )

    unknown = world.mesh.call("POST", "/v1/crm/web-forms/wf_nope:submit", visitor)
    assert unknown.status == 404 and error_info(unknown.body)["reason"] == "FORM_NOT_FOUND"
    off = world.mesh.call(
        "PATCH",
        f"/v1/crm/web-forms/{form_id}?update_mask=enabled",
        {"enabled": False},
        token=world.a.token,
    )
    assert off.status == 200 and off.body["enabled"] is False, off
    closed = world.mesh.call("POST", f"/v1/crm/web-forms/{key}:submit", visitor)
    assert closed.status == 404, closed
    # Only the submit route is public.
    assert world.mesh.call("GET", "/v1/crm/web-forms").status == 401


def test_duplicate_contact_is_409_naming_the_existing_one(world: Any) -> None:
    number = phone()
    existing = world.contact(phone=number)
    twin = {"first_name": "Twin", "email": existing["email"].upper() + " "}
    reply = world.mesh.call("POST", "/v1/crm/contacts", twin, token=world.a.token)
    assert reply.status == 409, reply
    _json(reply)
    assert reply.body["code"] == grpc.StatusCode.ALREADY_EXISTS.value[0]
    info = error_info(reply.body)
    assert info["reason"] == "DUPLICATE_CONTACT", info
    assert info["metadata"] == {"existing_contact_id": existing["id"], "matched_on": "email"}

    by_phone = crm.Contact(first_name="Twin", phone=number.replace(" ", "-"))
    answer = world.grpc("CreateContact", pb.CreateContactRequest(contact=by_phone), world.a)
    assert answer.code is grpc.StatusCode.ALREADY_EXISTS, answer
    assert error_info(answer.body)["metadata"]["existing_contact_id"] == existing["id"]

    forced = world.mesh.call(
        "POST", "/v1/crm/contacts?allow_duplicate=true", twin, token=world.a.token
    )
    assert forced.status == 200 and forced.body["id"] != existing["id"], forced


def test_unknown_id_of_ones_own_tenant_is_404_json(world: Any) -> None:
    reply = world.mesh.call("GET", "/v1/crm/contacts/no-such-contact", token=world.a.token)
    assert reply.status == 404, reply
    _json(reply)


def test_grpcurl_reads_a_contact_through_the_edge(world: Any) -> None:
    contact = world.contact()
    out = grpcurl(
        "-plaintext",
        "-H",
        f"authorization: Bearer {world.a.token}",
        "-d",
        json.dumps({"id": contact["id"]}),
        f"127.0.0.1:{world.mesh.edge_port}",
        "erp.crm.v1.CrmService/GetContact",
    )
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["id"] == contact["id"] and answer["email"] == contact["email"]
