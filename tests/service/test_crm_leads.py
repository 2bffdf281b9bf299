"""Leads: capture, update, qualify, disqualify with a reason, and conversion into a
contact, a company (reused by its folded name) and an opportunity, all or nothing;
public web forms with their key, owner and rate limit."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import grpc
import pytest
from auth_client import bad_fields, fails, reason, retry_seconds  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from crm_client import (  # type: ignore[import-not-found]
    Tenant,
    company,
    eur,
    new_tenant,
    unique,
)
from crm_harness import Crm  # type: ignore[import-not-found]
from google.protobuf import field_mask_pb2
from google.type import date_pb2
from jetstream_probe import read_event  # type: ignore[import-not-found]

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb
from svc_crm.app import opportunities, web_forms
from svc_crm.store import Companies, Contacts

NEW = crm_pb2.LEAD_STATUS_NEW
QUALIFIED = crm_pb2.LEAD_STATUS_QUALIFIED
DISQUALIFIED = crm_pb2.LEAD_STATUS_DISQUALIFIED
CONVERTED = crm_pb2.LEAD_STATUS_CONVERTED


async def lead(crm: Crm, tenant: Tenant, **fields: Any) -> crm_pb2.Lead:
    fields.setdefault("first_name", "Grace")
    fields.setdefault("last_name", "Hopper")
    fields.setdefault("email", f"{unique('l')}@example.com")
    found: crm_pb2.Lead = await crm.stub.CreateLead(
        pb.CreateLeadRequest(lead=crm_pb2.Lead(**fields)), metadata=tenant.token
    )
    return found


async def get_lead(crm: Crm, tenant: Tenant, lead_id: str) -> crm_pb2.Lead:
    found: crm_pb2.Lead = await crm.stub.GetLead(
        pb.GetLeadRequest(id=lead_id), metadata=tenant.token
    )
    return found


async def counts(crm: Crm, tenant: Tenant) -> tuple[int, int, int]:
    """Contacts, companies and opportunities of the tenant (fewer than 500 each)."""
    c = await crm.stub.ListContacts(pb.ListContactsRequest(page_size=500), metadata=tenant.token)
    k = await crm.stub.ListCompanies(pb.ListCompaniesRequest(page_size=500), metadata=tenant.token)
    o = await crm.stub.ListOpportunities(
        pb.ListOpportunitiesRequest(page_size=500), metadata=tenant.token
    )
    return len(c.contacts), len(k.companies), len(o.opportunities)


# ---- capture, update, qualify, disqualify -----------------------------------------------


async def test_capture_and_update_a_lead(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    made = await lead(
        crm,
        tenant,
        email="grace@navy.example.com",
        phone="+1 202 555 0142",
        company_name="US Navy",
        title="Rear Admiral",
        message="Tell me about COBOL",
    )
    assert (made.status, made.source, made.owner_id, made.web_form_id) == (
        NEW,
        "manual",
        tenant.owner_id,
        "",
    )
    assert (made.first_name, made.last_name, made.email, made.phone, made.company_name) == (
        "Grace",
        "Hopper",
        "grace@navy.example.com",
        "+1 202 555 0142",
        "US Navy",
    )
    assert made.create_time.ToDatetime(tzinfo=UTC) == crm.clock()
    assert await get_lead(crm, tenant, made.id) == made

    cases: tuple[tuple[dict[str, Any], str], ...] = (
        ({"first_name": "", "last_name": ""}, "lead.last_name"),
        ({"email": "grace.at.navy"}, "lead.email"),
        ({"phone": "call me"}, "lead.phone"),
    )
    for fields, field in cases:
        error = await fails(
            crm.stub.CreateLead(
                pb.CreateLeadRequest(lead=crm_pb2.Lead(**{"last_name": "X", **fields})),
                metadata=tenant.token,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {field}

    crm.clock.advance(seconds=5)
    changed = await crm.stub.UpdateLead(
        pb.UpdateLeadRequest(
            lead=crm_pb2.Lead(id=made.id, title="Commodore", source="conference", email="bad"),
            update_mask=field_mask_pb2.FieldMask(paths=["title", "source"]),
        ),
        metadata=tenant.token,
    )
    assert (changed.title, changed.source, changed.email) == (
        "Commodore",
        "conference",
        "grace@navy.example.com",  # not in the mask: kept (and not checked)
    )
    assert changed.update_time.seconds == made.update_time.seconds + 5
    error = await fails(
        crm.stub.UpdateLead(
            pb.UpdateLeadRequest(
                lead=crm_pb2.Lead(id=made.id, email="bad"),
                update_mask=field_mask_pb2.FieldMask(paths=["email"]),
            ),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"lead.email"}
    assert await get_lead(crm, tenant, made.id) == changed

    other = await new_tenant(auth)
    await fails(
        crm.stub.GetLead(pb.GetLeadRequest(id=made.id), metadata=other.token),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_a_create_is_replayed_by_its_key(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    ask = pb.CreateLeadRequest(lead=crm_pb2.Lead(last_name="Once"), idempotency_key="lead-k1")
    first = await crm.stub.CreateLead(ask, metadata=tenant.token)
    assert await crm.stub.CreateLead(ask, metadata=tenant.token) == first
    listed = await crm.stub.ListLeads(pb.ListLeadsRequest(), metadata=tenant.token)
    assert [x.id for x in listed.leads] == [first.id]


async def test_qualify_and_disqualify_with_a_reason(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    made = await lead(crm, tenant)
    qualified = await crm.stub.QualifyLead(pb.QualifyLeadRequest(id=made.id), metadata=tenant.token)
    assert qualified.status == QUALIFIED
    error = await fails(
        crm.stub.QualifyLead(pb.QualifyLeadRequest(id=made.id), metadata=tenant.token),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "LEAD_STATE"

    for blank in ("", "   "):
        error = await fails(
            crm.stub.DisqualifyLead(
                pb.DisqualifyLeadRequest(id=made.id, reason=blank), metadata=tenant.token
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {"reason"}
    assert (await get_lead(crm, tenant, made.id)).status == QUALIFIED

    out = await crm.stub.DisqualifyLead(
        pb.DisqualifyLeadRequest(id=made.id, reason=" No budget this year "),
        metadata=tenant.token,
    )
    assert (out.status, out.disqualify_reason) == (DISQUALIFIED, "No budget this year")
    await fails(
        crm.stub.DisqualifyLead(
            pb.DisqualifyLeadRequest(id=made.id, reason="again"), metadata=tenant.token
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    error = await fails(
        crm.stub.ConvertLead(pb.ConvertLeadRequest(id=made.id), metadata=tenant.token),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "LEAD_STATE"

    back = await crm.stub.QualifyLead(pb.QualifyLeadRequest(id=made.id), metadata=tenant.token)
    assert (back.status, back.disqualify_reason) == (QUALIFIED, "")
    assert await counts(crm, tenant) == (0, 0, 0)


# ---- conversion -------------------------------------------------------------------------


async def test_convert_links_contact_company_and_opportunity(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    unicorn = await company(crm, tenant, "Ünicorn Labs")
    made = await lead(
        crm,
        tenant,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@unicorn.example.com",
        phone="+44 20 7946 0018",
        title="CTO",
        company_name="  UNICORN labs ",  # the same company, folded
    )
    crm.clock.advance(seconds=1)
    done = await crm.stub.ConvertLead(
        pb.ConvertLeadRequest(
            id=made.id,
            create_opportunity=True,
            amount=eur(12_500_00),
            expected_close_date=date_pb2.Date(year=2031, month=6, day=30),
        ),
        metadata=tenant.token,
    )
    person, deal = done.contact, done.opportunity
    assert done.company == unicorn  # reused, untouched
    assert (done.lead.status, done.lead.converted_contact_id) == (CONVERTED, person.id)
    assert done.lead.converted_company_id == unicorn.id
    assert done.lead.converted_opportunity_id == deal.id
    assert (person.first_name, person.last_name, person.email, person.phone, person.title) == (
        "Ada",
        "Lovelace",
        "ada@unicorn.example.com",
        "+44 20 7946 0018",
        "CTO",
    )
    assert (person.company_id, person.source, person.owner_id) == (
        unicorn.id,
        "lead",
        tenant.owner_id,
    )
    pipelines = await crm.stub.ListPipelines(pb.ListPipelinesRequest(), metadata=tenant.token)
    default = pipelines.pipelines[0]
    assert (deal.name, deal.pipeline_id, deal.stage_id) == (
        "Ünicorn Labs deal",
        default.id,
        default.stages[0].id,
    )
    assert (deal.contact_id, deal.company_id, deal.lead_id, deal.owner_id) == (
        person.id,
        unicorn.id,
        made.id,
        tenant.owner_id,
    )
    assert (deal.amount, deal.status) == (eur(12_500_00), crm_pb2.OPPORTUNITY_STATUS_OPEN)
    assert deal.expected_close_date == date_pb2.Date(year=2031, month=6, day=30)

    assert await get_lead(crm, tenant, made.id) == done.lead
    got = await crm.stub.GetContact(pb.GetContactRequest(id=person.id), metadata=tenant.token)
    assert got == person
    kept = await crm.stub.GetOpportunity(
        pb.GetOpportunityRequest(id=deal.id), metadata=tenant.token
    )
    assert kept == deal
    assert await counts(crm, tenant) == (1, 1, 1)

    error = await fails(
        crm.stub.ConvertLead(pb.ConvertLeadRequest(id=made.id), metadata=tenant.token),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "LEAD_STATE"
    await fails(
        crm.stub.UpdateLead(
            pb.UpdateLeadRequest(lead=crm_pb2.Lead(id=made.id, title="x")), metadata=tenant.token
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )

    event = crm_pb2.LeadConverted()
    await read_event(
        auth.nats_url,
        f"erp.crm.{tenant.tenant_id}.lead.converted",
        event,
        match=lambda e: e.lead.id == made.id,
    )
    assert event.lead == done.lead


async def test_convert_makes_a_company_or_none(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    await company(crm, tenant, "Archived Name Ltd")  # another name: not reused
    fresh = await lead(crm, tenant, company_name="Fresh Fields GmbH")
    done = await crm.stub.ConvertLead(pb.ConvertLeadRequest(id=fresh.id), metadata=tenant.token)
    assert (done.company.name, done.company.owner_id) == ("Fresh Fields GmbH", tenant.owner_id)
    assert done.lead.converted_company_id == done.company.id == done.contact.company_id
    assert not done.HasField("opportunity") and done.lead.converted_opportunity_id == ""
    again = await lead(crm, tenant, company_name="fresh fields gmbh")
    reused = await crm.stub.ConvertLead(pb.ConvertLeadRequest(id=again.id), metadata=tenant.token)
    assert reused.company == done.company

    alone = await lead(crm, tenant, first_name="", last_name="Solo")
    solo = await crm.stub.ConvertLead(
        pb.ConvertLeadRequest(id=alone.id, create_opportunity=True, amount=eur(0)),
        metadata=tenant.token,
    )
    assert not solo.HasField("company") and solo.contact.company_id == ""
    assert (solo.opportunity.name, solo.opportunity.company_id) == ("Solo deal", "")
    assert await counts(crm, tenant) == (3, 2, 1)

    given = await company(crm, tenant, "Chosen Co")
    pick = await lead(crm, tenant, company_name="Ignored Inc")
    chosen = await crm.stub.ConvertLead(
        pb.ConvertLeadRequest(id=pick.id, company_id=given.id), metadata=tenant.token
    )
    assert chosen.company == given and chosen.contact.company_id == given.id

    other = await new_tenant(auth)
    theirs = await company(crm, other, "Theirs")
    left = await lead(crm, tenant)
    for ask, field in (
        (pb.ConvertLeadRequest(id=left.id, company_id=theirs.id), "company_id"),
        (pb.ConvertLeadRequest(id=left.id, create_opportunity=True), "amount"),
        (
            pb.ConvertLeadRequest(id=left.id, create_opportunity=True, amount=eur(-1)),
            "amount.amount_minor",
        ),
    ):
        error = await fails(
            crm.stub.ConvertLead(ask, metadata=tenant.token), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert bad_fields(error) == {field}
    assert (await get_lead(crm, tenant, left.id)).status == NEW
    assert await counts(crm, tenant) == (4, 3, 1)


async def test_conversion_is_all_or_nothing(
    auth: Auth, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await new_tenant(auth)
    made = await lead(crm, tenant, company_name="Halfway Ltd", email="half@way.example.com")
    before = await get_lead(crm, tenant, made.id)
    seen: list[tuple[bool, bool]] = []
    real = opportunities.create_in

    async def broken(session: Any, message: crm_pb2.Opportunity, *args: Any, **kw: Any) -> Any:
        # the contact and the company are written in this transaction by now
        await session.flush()
        seen.append(
            (
                await Contacts(session).find(message.contact_id) is not None,
                await Companies(session).find(message.company_id) is not None,
            )
        )
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(opportunities, "create_in", broken)
    ask = pb.ConvertLeadRequest(
        id=made.id, create_opportunity=True, amount=eur(900_00), idempotency_key="convert-1"
    )
    await fails(crm.stub.ConvertLead(ask, metadata=tenant.token), grpc.StatusCode.INTERNAL)
    assert seen == [(True, True)]
    assert await counts(crm, tenant) == (0, 0, 0)
    assert await get_lead(crm, tenant, made.id) == before
    monkeypatch.setattr(opportunities, "create_in", real)

    # the same from a bad stage: the opportunity step refuses after the others
    error = await fails(
        crm.stub.ConvertLead(
            pb.ConvertLeadRequest(
                id=made.id, create_opportunity=True, amount=eur(900_00), stage_id="no-such-stage"
            ),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"stage_id"}
    assert await counts(crm, tenant) == (0, 0, 0)
    assert await get_lead(crm, tenant, made.id) == before
    timeline = await crm.stub.GetTimeline(
        pb.GetTimelineRequest(record=crm_pb2.RecordRef(kind=crm_pb2.RECORD_KIND_LEAD, id=made.id)),
        metadata=tenant.token,
    )
    assert [e.change.change for e in timeline.entries] == ["created"]

    # the failed key was not spent: its retry converts, and a second retry replays
    done = await crm.stub.ConvertLead(ask, metadata=tenant.token)
    assert done.lead.status == CONVERTED and done.company.name == "Halfway Ltd"
    assert await crm.stub.ConvertLead(ask, metadata=tenant.token) == done
    assert await counts(crm, tenant) == (1, 1, 1)

    # the first crm.lead.converted of this lead is the one that happened
    event = crm_pb2.LeadConverted()
    await read_event(
        auth.nats_url,
        f"erp.crm.{tenant.tenant_id}.lead.converted",
        event,
        match=lambda e: e.lead.id == made.id,
    )
    assert event.lead.converted_contact_id == done.contact.id
    assert event.lead.converted_opportunity_id == done.opportunity.id


# ---- web forms --------------------------------------------------------------------------


async def web_form(crm: Crm, tenant: Tenant, **fields: Any) -> crm_pb2.WebForm:
    fields.setdefault("name", "Contact us")
    found: crm_pb2.WebForm = await crm.stub.CreateWebForm(
        pb.CreateWebFormRequest(**fields), metadata=tenant.token
    )
    return found


async def test_a_web_form_captures_leads_without_a_token(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    form = await web_form(crm, tenant, name=" Demo request ", owner_id="sales-rep-7")
    assert (form.name, form.rate_limit_per_minute, form.owner_id, form.enabled) == (
        "Demo request",
        crm.config.web_form_rate_default,
        "sales-rep-7",
        True,
    )
    assert form.form_key.startswith("wf_") and len(form.form_key) > 20
    mine = await web_form(crm, tenant, name="Newsletter", rate_limit_per_minute=5)
    assert (mine.owner_id, mine.rate_limit_per_minute) == (tenant.owner_id, 5)
    listed = await crm.stub.ListWebForms(pb.ListWebFormsRequest(), metadata=tenant.token)
    assert [f.id for f in listed.web_forms] == [form.id, mine.id]

    answer = await crm.stub.SubmitWebForm(  # no metadata at all
        pb.SubmitWebFormRequest(
            form_key=form.form_key,
            first_name="Linus",
            last_name="Pauling",
            email="linus@example.org",
            company_name="Caltech",
            message="Please call me",
        )
    )
    captured = await get_lead(crm, tenant, answer.submission_id)
    assert (captured.source, captured.web_form_id, captured.owner_id, captured.status) == (
        "web_form",
        form.id,
        "sales-rep-7",
        NEW,
    )
    assert (captured.last_name, captured.email, captured.company_name, captured.message) == (
        "Pauling",
        "linus@example.org",
        "Caltech",
        "Please call me",
    )
    error = await fails(
        crm.stub.SubmitWebForm(pb.SubmitWebFormRequest(form_key=form.form_key, last_name="Anon")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"email"}

    for key in ("", "wf_" + "x" * 32, mine.form_key + "x"):
        error = await fails(
            crm.stub.SubmitWebForm(
                pb.SubmitWebFormRequest(form_key=key, last_name="X", email="x@example.org")
            ),
            grpc.StatusCode.NOT_FOUND,
        )
        assert reason(error) == "FORM_NOT_FOUND"

    off = await crm.stub.UpdateWebForm(
        pb.UpdateWebFormRequest(
            web_form=crm_pb2.WebForm(id=form.id, enabled=False, name="ignored"),
            update_mask=field_mask_pb2.FieldMask(paths=["enabled"]),
        ),
        metadata=tenant.token,
    )
    assert (off.enabled, off.name) == (False, "Demo request")
    error = await fails(
        crm.stub.SubmitWebForm(
            pb.SubmitWebFormRequest(form_key=form.form_key, last_name="X", email="x@example.org")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert reason(error) == "FORM_NOT_FOUND"
    listed = await crm.stub.ListLeads(pb.ListLeadsRequest(), metadata=tenant.token)
    assert [x.id for x in listed.leads] == [answer.submission_id]

    for fields, field in (
        ({"name": "  "}, "name"),
        ({"rate_limit_per_minute": 10_001}, "rate_limit_per_minute"),
    ):
        error = await fails(
            crm.stub.CreateWebForm(
                pb.CreateWebFormRequest(**{"name": "F", **fields}),  # type: ignore[arg-type]
                metadata=tenant.token,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {field}


class FakeMonotonic:
    """The web form limiter's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_web_form_admits_its_rate_per_minute(
    auth: Auth, crm: Crm, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeMonotonic()
    monkeypatch.setattr(web_forms.LIMITER, "clock", clock)
    tenant = await new_tenant(auth)
    form = await web_form(crm, tenant, rate_limit_per_minute=3)
    other = await web_form(crm, tenant, rate_limit_per_minute=3)

    def submit(key: str, n: int) -> Any:
        return crm.stub.SubmitWebForm(
            pb.SubmitWebFormRequest(form_key=key, last_name=f"V{n}", email=f"v{n}@example.org")
        )

    admitted = [(await submit(form.form_key, n)).submission_id for n in range(3)]
    error = await fails(submit(form.form_key, 3), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert (reason(error), retry_seconds(error)) == ("RATE_LIMITED", 20)  # 3/min: one per 20 s
    assert error.details() == "this form admits 3 submissions per minute; retry in 20 seconds"
    await submit(other.form_key, 4)  # each form has its own allowance

    clock.now += 15
    error = await fails(submit(form.form_key, 5), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert retry_seconds(error) == 5
    clock.now += 5  # one submission has come back
    admitted.append((await submit(form.form_key, 6)).submission_id)
    await fails(submit(form.form_key, 7), grpc.StatusCode.RESOURCE_EXHAUSTED)

    listed = await crm.stub.ListLeads(
        pb.ListLeadsRequest(filter='source = "web_form"', page_size=10), metadata=tenant.token
    )
    assert len(listed.leads) == 5
    assert {x.id for x in listed.leads if x.web_form_id == form.id} == set(admitted)


async def test_clearing_one_name_of_a_lead_keeps_the_other(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    made = await lead(crm, tenant, first_name="Grace", last_name="Hopper")
    changed = await crm.stub.UpdateLead(
        pb.UpdateLeadRequest(
            lead=crm_pb2.Lead(id=made.id),
            update_mask=field_mask_pb2.FieldMask(paths=["first_name"]),
        ),
        metadata=tenant.token,
    )
    assert (changed.first_name, changed.last_name) == ("", "Hopper")
    error = await fails(
        crm.stub.UpdateLead(
            pb.UpdateLeadRequest(
                lead=crm_pb2.Lead(id=made.id),
                update_mask=field_mask_pb2.FieldMask(paths=["last_name"]),
            ),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"lead.last_name"}


async def test_converting_onto_a_known_person_asks_which_contact(auth: Auth, crm: Crm) -> None:
    """A lead whose e-mail is a live contact's: ALREADY_EXISTS naming it, nothing made;
    then converted onto that contact, or into a new one when duplicates are allowed."""
    tenant = await new_tenant(auth)
    known = await crm.stub.CreateContact(
        pb.CreateContactRequest(
            contact=crm_pb2.Contact(first_name="Ada", last_name="L", email="ada@known.test")
        ),
        metadata=tenant.token,
    )
    first = await lead(crm, tenant, email="ADA@known.test")
    error = await fails(
        crm.stub.ConvertLead(pb.ConvertLeadRequest(id=first.id), metadata=tenant.token),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert reason(error) == "DUPLICATE_CONTACT"
    assert (await get_lead(crm, tenant, first.id)).status == NEW
    onto = await crm.stub.ConvertLead(
        pb.ConvertLeadRequest(id=first.id, contact_id=known.id), metadata=tenant.token
    )
    assert onto.contact.id == known.id
    assert onto.lead.converted_contact_id == known.id
    second = await lead(crm, tenant, email="ada@known.test")
    fresh = await crm.stub.ConvertLead(
        pb.ConvertLeadRequest(id=second.id, allow_duplicate=True), metadata=tenant.token
    )
    assert fresh.contact.id != known.id
    assert fresh.contact.email == "ada@known.test"
    other = await new_tenant(auth)
    stranger = await lead(crm, other)
    error = await fails(
        crm.stub.ConvertLead(
            pb.ConvertLeadRequest(id=stranger.id, contact_id=known.id), metadata=other.token
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"contact_id"}


async def test_conversion_fills_the_contacts_custom_fields(auth: Auth, crm: Crm) -> None:
    """A required contact field is taken from the request, or from the lead's field of
    the same key and type; missing, it is named under contact_custom_fields."""
    tenant = await new_tenant(auth)
    for kind in (crm_pb2.RECORD_KIND_CONTACT, crm_pb2.RECORD_KIND_LEAD):
        await crm.stub.DefineCustomField(
            pb.DefineCustomFieldRequest(
                field=crm_pb2.CustomFieldDefinition(
                    record_kind=kind,
                    key="region",
                    label="Region",
                    type=crm_pb2.CUSTOM_FIELD_TYPE_TEXT,
                    required=kind == crm_pb2.RECORD_KIND_CONTACT,
                )
            ),
            metadata=tenant.token,
        )
    bare = await lead(crm, tenant)
    error = await fails(
        crm.stub.ConvertLead(pb.ConvertLeadRequest(id=bare.id), metadata=tenant.token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"contact_custom_fields.region"}
    given = pb.ConvertLeadRequest(id=bare.id)
    given.contact_custom_fields.update({"region": "EMEA"})
    converted = await crm.stub.ConvertLead(given, metadata=tenant.token)
    assert dict(converted.contact.custom_fields) == {"region": "EMEA"}
    carried = crm_pb2.Lead(first_name="Kat", last_name="J", email=f"{unique('k')}@x.test")
    carried.custom_fields.update({"region": "APAC"})
    with_value = await crm.stub.CreateLead(
        pb.CreateLeadRequest(lead=carried), metadata=tenant.token
    )
    converted = await crm.stub.ConvertLead(
        pb.ConvertLeadRequest(id=with_value.id), metadata=tenant.token
    )
    assert dict(converted.contact.custom_fields) == {"region": "APAC"}
