"""Custom fields through svc_crm's gRPC API: definitions of each type, refused
definitions, typed values named by their path, required fields on create, unknown
keys, and archiving a definition (its values stay)."""

from __future__ import annotations

import math
from typing import Any

import grpc
import pytest
from auth_client import fails, status_details  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from crm_client import Tenant, contact, new_tenant  # type: ignore[import-not-found]
from crm_harness import Crm  # type: ignore[import-not-found]
from google.protobuf import field_mask_pb2, struct_pb2
from google.rpc import error_details_pb2

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb

CONTACT = crm_pb2.RECORD_KIND_CONTACT
COMPANY = crm_pb2.RECORD_KIND_COMPANY
TEXT = crm_pb2.CUSTOM_FIELD_TYPE_TEXT
NUMBER = crm_pb2.CUSTOM_FIELD_TYPE_NUMBER
DATE = crm_pb2.CUSTOM_FIELD_TYPE_DATE
CHOICE = crm_pb2.CUSTOM_FIELD_TYPE_CHOICE


def struct(**values: Any) -> struct_pb2.Struct:
    found = struct_pb2.Struct()
    found.update(values)
    return found


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    for detail in status_details(error).details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return {v.field: v.description for v in bad.field_violations}
    raise AssertionError("no BadRequest detail")


def definition(
    key: str,
    kind: crm_pb2.CustomFieldType.ValueType = TEXT,
    *choices: str,
    record: crm_pb2.RecordKind.ValueType = CONTACT,
    required: bool = False,
    label: str = "",
) -> crm_pb2.CustomFieldDefinition:
    return crm_pb2.CustomFieldDefinition(
        record_kind=record,
        key=key,
        label=label or key.replace("_", " ").title(),
        type=kind,
        choices=list(choices),
        required=required,
    )


async def define(
    crm: Crm, tenant: Tenant, field: crm_pb2.CustomFieldDefinition, key: str = ""
) -> crm_pb2.CustomFieldDefinition:
    found: crm_pb2.CustomFieldDefinition = await crm.stub.DefineCustomField(
        pb.DefineCustomFieldRequest(field=field, idempotency_key=key), metadata=tenant.token
    )
    return found


async def listed(
    crm: Crm,
    tenant: Tenant,
    record: crm_pb2.RecordKind.ValueType = crm_pb2.RECORD_KIND_UNSPECIFIED,
    archived: bool = False,
) -> list[tuple[int, str]]:
    answer = await crm.stub.ListCustomFields(
        pb.ListCustomFieldsRequest(record_kind=record, show_archived=archived),
        metadata=tenant.token,
    )
    return [(f.record_kind, f.key) for f in answer.fields]


async def refused(crm: Crm, tenant: Tenant, message: crm_pb2.Contact) -> dict[str, str]:
    """The field violations of a CreateContact that must fail."""
    error = await fails(
        crm.stub.CreateContact(pb.CreateContactRequest(contact=message), metadata=tenant.token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    return violations(error)


@pytest.fixture(scope="module")
async def typed(auth: Auth, crm: Crm) -> Tenant:
    """A tenant with one contact field of each type: note, score, renewal, tier."""
    tenant = await new_tenant(auth, "Custom Ltd")
    await define(crm, tenant, definition("note", TEXT))
    await define(crm, tenant, definition("score", NUMBER))
    await define(crm, tenant, definition("renewal", DATE))
    await define(crm, tenant, definition("tier", CHOICE, "gold", "silver"))
    return tenant


async def test_define_each_type(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth, "Definitions Ltd")
    made = await define(
        crm, tenant, definition("tier", CHOICE, "gold", "silver", label=" Tier "), key="tier-1"
    )
    assert made.id and made.create_time.seconds > 0
    assert (made.record_kind, made.key, made.label, made.type) == (CONTACT, "tier", "Tier", CHOICE)
    assert (list(made.choices), made.required, made.archived) == (["gold", "silver"], False, False)
    again = await define(
        crm, tenant, definition("tier", CHOICE, "gold", "silver", label=" Tier "), key="tier-1"
    )
    assert again == made  # the idempotency key replays the first answer
    error = await fails(
        crm.stub.DefineCustomField(
            pb.DefineCustomFieldRequest(field=definition("tier2"), idempotency_key="tier-1"),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"idempotency_key"}

    for key, kind in [("notes_2", TEXT), ("score", NUMBER), ("renewal", DATE)]:
        found = await define(crm, tenant, definition(key, kind))
        assert (found.key, found.type, list(found.choices)) == (key, kind, [])
    # The same key on another kind of record is another field.
    company_tier = await define(crm, tenant, definition("tier", TEXT, record=COMPANY))
    assert company_tier.id != made.id and company_tier.record_kind == COMPANY

    assert await listed(crm, tenant, CONTACT) == [
        (CONTACT, "notes_2"),
        (CONTACT, "renewal"),
        (CONTACT, "score"),
        (CONTACT, "tier"),
    ]
    assert await listed(crm, tenant, COMPANY) == [(COMPANY, "tier")]
    everything = await listed(crm, tenant)
    assert sorted(everything) == sorted([*await listed(crm, tenant, CONTACT), (COMPANY, "tier")])
    assert len(everything) == 5
    # By record kind, then key.
    kinds = [k for k, _ in everything]
    assert everything == sorted(
        everything, key=lambda f: ({1: "contact", 2: "company"}[f[0]], f[1])
    )
    assert set(kinds) == {CONTACT, COMPANY}


BAD_DEFINITIONS = [
    (definition("Tier"), {"field.key"}),
    (definition("2nd"), {"field.key"}),
    (definition("a" * 41), {"field.key"}),
    (definition("ok_key", label=" "), {"field.label"}),
    (definition("ok_key", label="x" * 101), {"field.label"}),
    (definition("ok_key", CHOICE), {"field.choices"}),
    (definition("ok_key", CHOICE, "a", "a"), {"field.choices"}),
    (definition("ok_key", CHOICE, "a", " "), {"field.choices"}),
    (definition("ok_key", TEXT, "a"), {"field.choices"}),
    (definition("ok_key", record=crm_pb2.RECORD_KIND_UNSPECIFIED), {"field.record_kind"}),
    (definition("ok_key", crm_pb2.CUSTOM_FIELD_TYPE_UNSPECIFIED), {"field.type"}),
    (definition("note", NUMBER), {"field.key"}),  # taken in the fixture
    (definition("ok_key", label="a\x00b"), {"field.label"}),
    (definition("ok_key", CHOICE, "a\x00"), {"field.choices"}),
    (definition("Bad Key", TEXT, "x", label=" "), {"field.key", "field.label", "field.choices"}),
]


@pytest.mark.parametrize(("field", "expected"), BAD_DEFINITIONS)
async def test_bad_definitions_are_refused(
    crm: Crm, typed: Tenant, field: crm_pb2.CustomFieldDefinition, expected: set[str]
) -> None:
    error = await fails(
        crm.stub.DefineCustomField(pb.DefineCustomFieldRequest(field=field), metadata=typed.token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == expected
    assert await listed(crm, typed, CONTACT) == [
        (CONTACT, "note"),
        (CONTACT, "renewal"),
        (CONTACT, "score"),
        (CONTACT, "tier"),
    ]


async def test_values_are_stored_typed(crm: Crm, typed: Tenant) -> None:
    made = await contact(
        crm,
        typed,
        custom_fields=struct(note="likes tea", score=7, renewal="2026-03-01", tier="gold"),
    )
    assert dict(made.custom_fields) == {
        "note": "likes tea",
        "score": 7.0,
        "renewal": "2026-03-01",
        "tier": "gold",
    }
    fraction = await contact(crm, typed, custom_fields=struct(score=2.5, note=""))
    assert dict(fraction.custom_fields) == {"score": 2.5, "note": ""}
    # The stored number is typed: filters compare it as a number.
    answer = await crm.stub.ListContacts(
        pb.ListContactsRequest(filter="custom.score > 2.4 AND custom.score < 7"),
        metadata=typed.token,
    )
    assert [c.id for c in answer.contacts] == [fraction.id]

    # null clears one value; other values stay.
    changed = await crm.stub.UpdateContact(
        pb.UpdateContactRequest(
            contact=crm_pb2.Contact(id=made.id, custom_fields=struct(note=None)),
            update_mask=field_mask_pb2.FieldMask(paths=["custom_fields"]),
        ),
        metadata=typed.token,
    )
    assert dict(changed.custom_fields) == {"score": 7.0, "renewal": "2026-03-01", "tier": "gold"}


DEFINED = "note, renewal, score, tier"
BAD_VALUES = [
    (struct(score="ten"), {"contact.custom_fields.score": "score is a number"}),
    (struct(score=True), {"contact.custom_fields.score": "score is a number"}),
    (
        struct(renewal="2026-02-30"),
        {"contact.custom_fields.renewal": "renewal is a date: YYYY-MM-DD, not '2026-02-30'"},
    ),
    (
        struct(renewal="20260301"),
        {"contact.custom_fields.renewal": "renewal is a date: YYYY-MM-DD, not '20260301'"},
    ),
    (
        struct(renewal="2026-W09-1"),
        {"contact.custom_fields.renewal": "renewal is a date: YYYY-MM-DD, not '2026-W09-1'"},
    ),
    (struct(renewal=20260301), {"contact.custom_fields.renewal": "renewal is date: give a string"}),
    (
        struct(tier="bronze"),
        {"contact.custom_fields.tier": "tier must be one of ['gold', 'silver']"},
    ),
    (struct(tier="Gold"), {"contact.custom_fields.tier": "tier must be one of ['gold', 'silver']"}),
    (struct(note=5), {"contact.custom_fields.note": "note is text: give a string"}),
    (struct(note="x" * 1001), {"contact.custom_fields.note": "note: at most 1000 characters"}),
    (struct(note=["a"]), {"contact.custom_fields.note": "note is text: give a string"}),
    (
        struct(colour="red"),
        {"contact.custom_fields.colour": "unknown custom field; defined: " + DEFINED},
    ),
    (
        struct(score="x", tier="y", nope=1),
        {
            "contact.custom_fields.score": "score is a number",
            "contact.custom_fields.tier": "tier must be one of ['gold', 'silver']",
            "contact.custom_fields.nope": "unknown custom field; defined: " + DEFINED,
        },
    ),
]


@pytest.mark.parametrize(("values", "expected"), BAD_VALUES)
async def test_bad_values_name_their_field(
    crm: Crm, typed: Tenant, values: struct_pb2.Struct, expected: dict[str, str]
) -> None:
    message = crm_pb2.Contact(first_name="Val", last_name="Ue", custom_fields=values)
    assert await refused(crm, typed, message) == expected
    # The same values through an update, key by key: the same fields, nothing changed.
    made = await contact(crm, typed, custom_fields=struct(tier="silver"))
    error = await fails(
        crm.stub.UpdateContact(
            pb.UpdateContactRequest(
                contact=crm_pb2.Contact(id=made.id, custom_fields=values),
                update_mask=field_mask_pb2.FieldMask(
                    paths=[f"custom_fields.{key}" for key in values]
                ),
            ),
            metadata=typed.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(error) == expected
    found = await crm.stub.GetContact(pb.GetContactRequest(id=made.id), metadata=typed.token)
    assert dict(found.custom_fields) == {"tier": "silver"}


async def test_numbers_that_json_cannot_carry_are_refused(crm: Crm, typed: Tenant) -> None:
    for number in (math.nan, math.inf):
        values = struct_pb2.Struct()
        values.fields["score"].number_value = number
        message = crm_pb2.Contact(first_name="Nan", custom_fields=values)
        found = await refused(crm, typed, message)
        assert set(found) == {"contact.custom_fields.score"}, number


async def test_text_with_control_characters_is_refused(crm: Crm, typed: Tenant) -> None:
    """PostgreSQL cannot read U+0000 out of JSON as text: stored, it would make every
    later filter on the field fail. A 400 now, never a 500 later."""
    for text in ("a\x00b", "bell\x07"):
        found = await refused(
            crm, typed, crm_pb2.Contact(first_name="Nul", custom_fields=struct(note=text))
        )
        assert found == {"contact.custom_fields.note": "note: no control characters"}, text
    lines = await contact(crm, typed, custom_fields=struct(note="one\r\ntwo\tthree"))
    assert dict(lines.custom_fields) == {"note": "one\r\ntwo\tthree"}
    answer = await crm.stub.ListContacts(
        pb.ListContactsRequest(filter='custom.note : "two"'), metadata=typed.token
    )
    assert [c.id for c in answer.contacts] == [lines.id]


async def test_company_values_are_checked_by_company_fields(crm: Crm, typed: Tenant) -> None:
    await define(crm, typed, definition("employees", NUMBER, record=COMPANY))
    made = await crm.stub.CreateCompany(
        pb.CreateCompanyRequest(
            company=crm_pb2.Company(name="Typed Co", custom_fields=struct(employees=12))
        ),
        metadata=typed.token,
    )
    assert dict(made.custom_fields) == {"employees": 12.0}
    error = await fails(
        crm.stub.CreateCompany(
            pb.CreateCompanyRequest(
                company=crm_pb2.Company(
                    name="Bad Co", custom_fields=struct(employees="many", tier="gold")
                )
            ),
            metadata=typed.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(error) == {
        "company.custom_fields.employees": "employees is a number",
        "company.custom_fields.tier": "unknown custom field; defined: employees",
    }


async def test_required_fields_and_archiving(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth, "Required Ltd")
    region = await define(crm, tenant, definition("region", CHOICE, "eu", "us", required=True))
    assert region.required is True
    await define(crm, tenant, definition("since", DATE))

    assert await refused(crm, tenant, crm_pb2.Contact(first_name="No", last_name="Region")) == {
        "contact.custom_fields.region": "is required"
    }
    assert await refused(
        crm, tenant, crm_pb2.Contact(first_name="Blank", custom_fields=struct(region=""))
    ) == {"contact.custom_fields.region": "region must be one of ['eu', 'us']"}
    # A bad value of a required field is reported once, as bad.
    assert await refused(
        crm, tenant, crm_pb2.Contact(first_name="Bad", custom_fields=struct(region="asia"))
    ) == {"contact.custom_fields.region": "region must be one of ['eu', 'us']"}
    kept = await contact(crm, tenant, custom_fields=struct(region="eu", since="2025-01-02"))

    # Required only of new records: an update may leave it, or clear it.
    changed = await crm.stub.UpdateContact(
        pb.UpdateContactRequest(
            contact=crm_pb2.Contact(id=kept.id, title="Buyer"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        ),
        metadata=tenant.token,
    )
    assert dict(changed.custom_fields) == {"region": "eu", "since": "2025-01-02"}

    archived = await crm.stub.ArchiveCustomField(
        pb.ArchiveCustomFieldRequest(id=region.id), metadata=tenant.token
    )
    assert archived.archived is True and archived.id == region.id and archived.key == "region"
    assert await listed(crm, tenant, CONTACT) == [(CONTACT, "since")]
    assert await listed(crm, tenant, CONTACT, archived=True) == [
        (CONTACT, "region"),
        (CONTACT, "since"),
    ]

    # No longer required, no longer writable, no longer filterable; the values stay.
    fresh = await contact(crm, tenant, first_name="After")
    assert dict(fresh.custom_fields) == {}
    assert await refused(
        crm, tenant, crm_pb2.Contact(first_name="Late", custom_fields=struct(region="us"))
    ) == {"contact.custom_fields.region": "unknown custom field; defined: since"}
    found = await crm.stub.GetContact(pb.GetContactRequest(id=kept.id), metadata=tenant.token)
    assert dict(found.custom_fields) == {"region": "eu", "since": "2025-01-02"}
    changed = await crm.stub.UpdateContact(
        pb.UpdateContactRequest(
            contact=crm_pb2.Contact(id=kept.id, custom_fields=struct(since="2025-02-03")),
            update_mask=field_mask_pb2.FieldMask(paths=["custom_fields.since"]),
        ),
        metadata=tenant.token,
    )
    assert dict(changed.custom_fields) == {"region": "eu", "since": "2025-02-03"}
    error = await fails(
        crm.stub.ListContacts(
            pb.ListContactsRequest(filter="custom.region = eu"), metadata=tenant.token
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(violations(error)) == {"filter"}

    # An archived key stays taken; archiving again changes nothing.
    error = await fails(
        crm.stub.DefineCustomField(
            pb.DefineCustomFieldRequest(field=definition("region", TEXT)), metadata=tenant.token
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(error) == {"field.key": '"region" is already defined'}
    again = await crm.stub.ArchiveCustomField(
        pb.ArchiveCustomFieldRequest(id=region.id), metadata=tenant.token
    )
    assert again == archived
    await fails(
        crm.stub.ArchiveCustomField(
            pb.ArchiveCustomFieldRequest(id="no-such-field"), metadata=tenant.token
        ),
        grpc.StatusCode.NOT_FOUND,
    )
