"""Duplicate contacts: a normalized e-mail or phone that matches a live contact is
refused with ALREADY_EXISTS naming it, unless forced; MergeContacts folds one
contact into another and moves its activities and opportunities."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from auth_client import bad_fields, fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import error_info  # type: ignore[import-not-found]
from crm_client import Tenant, company, contact, new_tenant, opportunity  # type: ignore[import-not-found]
from crm_harness import Crm  # type: ignore[import-not-found]
from google.protobuf import field_mask_pb2, struct_pb2

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb


def struct(**values: Any) -> struct_pb2.Struct:
    found = struct_pb2.Struct()
    found.update(values)
    return found


def ref(contact_id: str) -> crm_pb2.RecordRef:
    return crm_pb2.RecordRef(kind=crm_pb2.RECORD_KIND_CONTACT, id=contact_id)


async def create(
    crm: Crm, tenant: Tenant, allow_duplicate: bool = False, **fields: object
) -> crm_pb2.Contact:
    found: crm_pb2.Contact = await crm.stub.CreateContact(
        pb.CreateContactRequest(
            contact=crm_pb2.Contact(**fields),  # type: ignore[arg-type]
            allow_duplicate=allow_duplicate,
        ),
        metadata=tenant.token,
    )
    return found


async def live_ids(crm: Crm, tenant: Tenant) -> list[str]:
    answer = await crm.stub.ListContacts(
        pb.ListContactsRequest(page_size=500), metadata=tenant.token
    )
    return sorted(c.id for c in answer.contacts)


async def duplicate_of(crm: Crm, tenant: Tenant, **fields: object) -> dict[str, str]:
    """The ErrorInfo metadata of a CreateContact refused as a duplicate."""
    fields.setdefault("first_name", "Twin")
    error = await fails(
        crm.stub.CreateContact(
            pb.CreateContactRequest(contact=crm_pb2.Contact(**fields)),  # type: ignore[arg-type]
            metadata=tenant.token,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    info = error_info(error)
    assert info.reason == "DUPLICATE_CONTACT"
    return dict(info.metadata)


@pytest.fixture(scope="module")
async def tenant(auth: Auth, crm: Crm) -> Tenant:
    found: Tenant = await new_tenant(auth, "Twins Ltd")
    for key in ("tier", "region"):
        await crm.stub.DefineCustomField(
            pb.DefineCustomFieldRequest(
                field=crm_pb2.CustomFieldDefinition(
                    record_kind=crm_pb2.RECORD_KIND_CONTACT,
                    key=key,
                    label=key.title(),
                    type=crm_pb2.CUSTOM_FIELD_TYPE_TEXT,
                )
            ),
            metadata=found.token,
        )
    return found


async def test_same_email_is_a_duplicate(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth, "Email Twins Ltd")
    first = await create(crm, tenant, first_name="Ada", email="ada@example.com")

    assert await duplicate_of(crm, tenant, email="ADA@Example.com ") == {
        "existing_contact_id": first.id,
        "matched_on": "email",
    }
    assert await live_ids(crm, tenant) == [first.id]  # nothing was made

    forced = await create(crm, tenant, True, first_name="Ada", email="ADA@Example.com ")
    assert forced.id != first.id and forced.email == "ADA@Example.com"
    assert await live_ids(crm, tenant) == sorted([first.id, forced.id])
    # With two alike, the oldest is named.
    assert (await duplicate_of(crm, tenant, email="ada@EXAMPLE.com"))["existing_contact_id"] == (
        first.id
    )

    # An archived contact is no duplicate; restoring one is not refused either.
    for one in (first, forced):
        await crm.stub.ArchiveContact(pb.ArchiveContactRequest(id=one.id), metadata=tenant.token)
    third = await create(crm, tenant, first_name="Ada", email="ada@example.com")
    assert await live_ids(crm, tenant) == [third.id]


async def test_same_phone_is_a_duplicate(crm: Crm, tenant: Tenant) -> None:
    first = await create(crm, tenant, first_name="Grace", phone="+44 20 7946 0018")
    for written in ("+44-20-79460018", "+44 (20) 7946.0018", "+442079460018 ext. 7"):
        assert await duplicate_of(crm, tenant, phone=written) == {
            "existing_contact_id": first.id,
            "matched_on": "phone",
        }, written
    # Other digits, or the national form without "+", are other numbers.
    await create(crm, tenant, first_name="Other", phone="+44 20 7946 0019")
    await create(crm, tenant, first_name="Local", phone="020 7946 0018")
    forced = await create(crm, tenant, True, first_name="Grace", phone="+44-20-79460018")
    assert forced.phone == "+44-20-79460018"


async def test_update_to_a_duplicate_is_refused(crm: Crm, tenant: Tenant) -> None:
    taken = await create(crm, tenant, first_name="Taken", email="taken@twins.example")
    other = await create(crm, tenant, first_name="Other", email="other@twins.example")
    request = pb.UpdateContactRequest(
        contact=crm_pb2.Contact(id=other.id, email=" Taken@Twins.Example"),
        update_mask=field_mask_pb2.FieldMask(paths=["email"]),
    )
    error = await fails(
        crm.stub.UpdateContact(request, metadata=tenant.token), grpc.StatusCode.ALREADY_EXISTS
    )
    info = error_info(error)
    assert (info.reason, dict(info.metadata)) == (
        "DUPLICATE_CONTACT",
        {"existing_contact_id": taken.id, "matched_on": "email"},
    )
    unchanged = await crm.stub.GetContact(pb.GetContactRequest(id=other.id), metadata=tenant.token)
    assert unchanged.email == "other@twins.example"
    # A contact is no duplicate of itself.
    same = await crm.stub.UpdateContact(
        pb.UpdateContactRequest(
            contact=crm_pb2.Contact(id=taken.id, email="TAKEN@twins.example"),
            update_mask=field_mask_pb2.FieldMask(paths=["email"]),
        ),
        metadata=tenant.token,
    )
    assert same.email == "TAKEN@twins.example"
    request.allow_duplicate = True
    forced = await crm.stub.UpdateContact(request, metadata=tenant.token)
    assert forced.email == "Taken@Twins.Example"


async def activity(
    crm: Crm,
    tenant: Tenant,
    contact_id: str,
    subject: str,
    kind: crm_pb2.ActivityKind.ValueType = crm_pb2.ACTIVITY_KIND_NOTE,
) -> crm_pb2.Activity:
    found: crm_pb2.Activity = await crm.stub.CreateActivity(
        pb.CreateActivityRequest(
            activity=crm_pb2.Activity(kind=kind, record=ref(contact_id), subject=subject)
        ),
        metadata=tenant.token,
    )
    return found


async def activities_of(crm: Crm, tenant: Tenant, contact_id: str) -> list[str]:
    answer = await crm.stub.ListActivities(
        pb.ListActivitiesRequest(filter=f'record_id = "{contact_id}"', page_size=500),
        metadata=tenant.token,
    )
    return sorted(a.id for a in answer.activities)


async def timeline(crm: Crm, tenant: Tenant, contact_id: str) -> list[crm_pb2.TimelineEntry]:
    answer = await crm.stub.GetTimeline(
        pb.GetTimelineRequest(record=ref(contact_id), page_size=500), metadata=tenant.token
    )
    return list(answer.entries)


async def test_merge_moves_activities_and_opportunities(crm: Crm, tenant: Tenant) -> None:
    employer = await company(crm, tenant, "Analytical Engines")
    survivor = await contact(
        crm,
        tenant,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@merge.example",
        tags=["vip"],
        custom_fields=struct(tier="gold"),
    )
    merged = await contact(
        crm,
        tenant,
        first_name="Augusta",
        last_name="King",
        email="augusta@merge.example",
        phone="+44 20 7946 0777",
        title="Countess",
        company_id=employer.id,
        tags=["eu", "VIP"],
        custom_fields=struct(tier="silver", region="north"),
    )
    own = await activity(crm, tenant, survivor.id, "Survivor's call", crm_pb2.ACTIVITY_KIND_CALL)
    moving = [
        await activity(crm, tenant, merged.id, "First note"),
        await activity(crm, tenant, merged.id, "Meeting", crm_pb2.ACTIVITY_KIND_MEETING),
    ]
    their_deal = await opportunity(crm, tenant, contact_id=merged.id)
    our_deal = await opportunity(crm, tenant, contact_id=survivor.id)
    other = await contact(crm, tenant, first_name="Bystander")
    bystander_deal = await opportunity(crm, tenant, contact_id=other.id)

    request = pb.MergeContactsRequest(
        survivor_id=survivor.id, merged_id=merged.id, idempotency_key="merge-ada"
    )
    answer = await crm.stub.MergeContacts(request, metadata=tenant.token)
    assert (answer.moved_activities, answer.moved_opportunities) == (2, 1)
    kept = answer.contact
    assert kept.id == survivor.id
    # The survivor's own values win; its empty fields are filled from the merged one.
    assert (kept.first_name, kept.last_name, kept.email) == ("Ada", "Lovelace", "ada@merge.example")
    assert (kept.phone, kept.title, kept.company_id) == (
        "+44 20 7946 0777",
        "Countess",
        employer.id,
    )
    assert list(kept.tags) == ["vip", "eu"]
    assert dict(kept.custom_fields) == {"tier": "gold", "region": "north"}
    assert (kept.archived, kept.merged_into_id) == (False, "")
    assert (
        await crm.stub.GetContact(pb.GetContactRequest(id=survivor.id), metadata=tenant.token)
        == kept
    )

    gone = await crm.stub.GetContact(pb.GetContactRequest(id=merged.id), metadata=tenant.token)
    assert (gone.archived, gone.merged_into_id) == (True, survivor.id)
    assert (gone.first_name, gone.email) == ("Augusta", "augusta@merge.example")  # kept as it was

    # Activities and deals now belong to the survivor; a bystander's stay.
    assert await activities_of(crm, tenant, survivor.id) == sorted(
        [own.id, *(a.id for a in moving)]
    )
    assert await activities_of(crm, tenant, merged.id) == []
    for deal, owner in [(their_deal, survivor), (our_deal, survivor), (bystander_deal, other)]:
        found = await crm.stub.GetOpportunity(
            pb.GetOpportunityRequest(id=deal.id), metadata=tenant.token
        )
        assert found.contact_id == owner.id, deal.name
    entries = await timeline(crm, tenant, survivor.id)
    assert sorted(e.activity.id for e in entries if e.WhichOneof("item") == "activity") == sorted(
        [own.id, *(a.id for a in moving)]
    )
    changes = [e.change for e in entries if e.WhichOneof("item") == "change"]
    assert [(c.change, c.summary) for c in changes if c.change == "merged"] == [
        ("merged", f"Merged {merged.id} into it")
    ]
    assert {c.change for c in changes} == {"created", "merged"}
    old = await timeline(crm, tenant, merged.id)
    assert [e.WhichOneof("item") for e in old] == ["change", "change"]
    assert [e.change.change for e in old] == ["merged", "created"]  # newest first
    assert old[0].change.summary == f"Merged into {survivor.id}"

    # The merged phone now finds (and de-duplicates against) the survivor.
    hits = await crm.stub.SearchContacts(
        pb.SearchContactsRequest(query="7946 0777"), metadata=tenant.token
    )
    assert [c.id for c in hits.contacts] == [survivor.id]
    assert await duplicate_of(crm, tenant, phone="+44-20-7946-0777") == {
        "existing_contact_id": survivor.id,
        "matched_on": "phone",
    }

    # The same key replays the first answer, nothing moves twice.
    replay = await crm.stub.MergeContacts(request, metadata=tenant.token)
    assert replay == answer

    # A merged contact can be neither merged again, merged into, restored nor changed.
    for call in (
        crm.stub.MergeContacts(
            pb.MergeContactsRequest(survivor_id=survivor.id, merged_id=merged.id),
            metadata=tenant.token,
        ),
        crm.stub.MergeContacts(
            pb.MergeContactsRequest(survivor_id=merged.id, merged_id=other.id),
            metadata=tenant.token,
        ),
        crm.stub.RestoreContact(pb.RestoreContactRequest(id=merged.id), metadata=tenant.token),
        crm.stub.UpdateContact(
            pb.UpdateContactRequest(
                contact=crm_pb2.Contact(id=merged.id, title="Back"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            ),
            metadata=tenant.token,
        ),
    ):
        error = await fails(call, grpc.StatusCode.FAILED_PRECONDITION)
        info = error_info(error)
        assert info.reason == "CONTACT_MERGED"
        assert info.metadata["merged_into_id"] == survivor.id
    assert await activities_of(crm, tenant, other.id) == []
    still = await crm.stub.GetContact(pb.GetContactRequest(id=other.id), metadata=tenant.token)
    assert (still.archived, still.merged_into_id) == (False, "")


async def test_merge_refuses_bad_pairs(crm: Crm, tenant: Tenant) -> None:
    one = await contact(crm, tenant, first_name="One")
    for request, field in [
        (pb.MergeContactsRequest(survivor_id=one.id, merged_id=one.id), "merged_id"),
        (pb.MergeContactsRequest(survivor_id="", merged_id=one.id), "survivor_id"),
        (pb.MergeContactsRequest(survivor_id=one.id), "merged_id"),
    ]:
        error = await fails(
            crm.stub.MergeContacts(request, metadata=tenant.token),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {field}
    await fails(
        crm.stub.MergeContacts(
            pb.MergeContactsRequest(survivor_id=one.id, merged_id="no-such-contact"),
            metadata=tenant.token,
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    found = await crm.stub.GetContact(pb.GetContactRequest(id=one.id), metadata=tenant.token)
    assert (found.archived, found.merged_into_id) == (False, "")
