"""Contacts through svc_crm's gRPC API: create, get, update by field mask (custom
fields one key at a time too), archive and restore, lists with filters, sorting
and keyset paging, and full-text search."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from auth_client import bad_fields, fails, status_details  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from crm_client import Tenant, company, contact, new_tenant, unique  # type: ignore[import-not-found]
from crm_harness import Crm  # type: ignore[import-not-found]
from google.protobuf import field_mask_pb2, struct_pb2
from google.rpc import error_details_pb2

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb

Ids = list[str]


def struct(**values: Any) -> struct_pb2.Struct:
    found = struct_pb2.Struct()
    found.update(values)
    return found


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """field -> description of the BadRequest detail."""
    for detail in status_details(error).details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return {v.field: v.description for v in bad.field_violations}
    raise AssertionError("no BadRequest detail")


@contextmanager
def clock_at(crm: Crm, moment: datetime) -> Iterator[None]:
    """The shared crm clock reads `moment` for the duration, then what it read before."""
    before = crm.clock.now
    crm.clock.now = moment
    try:
        yield
    finally:
        crm.clock.now = before


async def define(
    crm: Crm, tenant: Tenant, key: str, kind: crm_pb2.CustomFieldType.ValueType, *choices: str
) -> None:
    await crm.stub.DefineCustomField(
        pb.DefineCustomFieldRequest(
            field=crm_pb2.CustomFieldDefinition(
                record_kind=crm_pb2.RECORD_KIND_CONTACT,
                key=key,
                label=key.title(),
                type=kind,
                choices=list(choices),
            )
        ),
        metadata=tenant.token,
    )


async def get(crm: Crm, tenant: Tenant, contact_id: str) -> crm_pb2.Contact:
    found: crm_pb2.Contact = await crm.stub.GetContact(
        pb.GetContactRequest(id=contact_id), metadata=tenant.token
    )
    return found


async def update(
    crm: Crm, tenant: Tenant, message: crm_pb2.Contact, *paths: str
) -> crm_pb2.Contact:
    found: crm_pb2.Contact = await crm.stub.UpdateContact(
        pb.UpdateContactRequest(contact=message, update_mask=mask(*paths)), metadata=tenant.token
    )
    return found


async def listed(crm: Crm, tenant: Tenant, filter_text: str = "", **more: object) -> Ids:
    """Ids of one page (up to 500) of ListContacts, in the order answered."""
    request = pb.ListContactsRequest(filter=filter_text, page_size=500, **more)  # type: ignore[arg-type]
    answer = await crm.stub.ListContacts(request, metadata=tenant.token)
    assert answer.next_page_token == ""
    return [c.id for c in answer.contacts]


async def searched(crm: Crm, tenant: Tenant, query: str) -> Ids:
    answer = await crm.stub.SearchContacts(
        pb.SearchContactsRequest(query=query), metadata=tenant.token
    )
    return [c.id for c in answer.contacts]


@pytest.fixture(scope="module")
async def shop(auth: Auth, crm: Crm) -> Tenant:
    """A tenant with contact fields tier (choice) and score (number)."""
    tenant = await new_tenant(auth, "Contacts Ltd")
    await define(crm, tenant, "tier", crm_pb2.CUSTOM_FIELD_TYPE_CHOICE, "gold", "silver")
    await define(crm, tenant, "score", crm_pb2.CUSTOM_FIELD_TYPE_NUMBER)
    return tenant


# ---- create, get, update --------------------------------------------------------------


async def test_create_and_get(crm: Crm, shop: Tenant) -> None:
    employer = await company(crm, shop, "Initech")
    made = await contact(
        crm,
        shop,
        first_name=" Ada ",
        last_name="Lovelace",
        email="Ada.Lovelace@Example.com",
        phone="+44 20 7946 0001",
        company_id=employer.id,
        title="Analyst",
        tags=["VIP", " eu", "vip"],
        custom_fields=struct(tier="gold", score=7),
    )
    assert made.id
    assert (made.first_name, made.last_name, made.title) == ("Ada", "Lovelace", "Analyst")
    assert made.email == "Ada.Lovelace@Example.com"  # stored as given, compared lower-cased
    assert made.phone == "+44 20 7946 0001"
    assert made.company_id == employer.id
    assert made.owner_id == shop.owner_id  # the creator by default
    assert list(made.tags) == ["vip", "eu"]
    assert dict(made.custom_fields) == {"tier": "gold", "score": 7.0}
    assert made.source == "manual"
    assert (made.archived, made.merged_into_id) == (False, "")
    assert made.create_time == made.update_time and made.create_time.seconds > 0
    assert await get(crm, shop, made.id) == made

    error = await fails(
        crm.stub.CreateContact(
            pb.CreateContactRequest(
                contact=crm_pb2.Contact(email="not-an-email", phone="12ab", company_id="nope")
            ),
            metadata=shop.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(error) == {
        "contact.last_name": "a first or last name is required",
        "contact.email": "not a valid e-mail address",
        "contact.phone": "digits, spaces, ( ) . - and a leading + only",
        "contact.company_id": "no such company",
    }
    await fails(
        crm.stub.GetContact(pb.GetContactRequest(id=unique("missing")), metadata=shop.token),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_update_changes_only_the_masked_fields(crm: Crm, shop: Tenant) -> None:
    made = await contact(
        crm,
        shop,
        first_name="Grace",
        last_name="Hopper",
        title="Rear Admiral",
        custom_fields=struct(tier="gold", score=3),
    )
    # The message carries other values too: only the masked one is applied.
    changed = await update(
        crm,
        shop,
        crm_pb2.Contact(id=made.id, first_name="Ignored", title="Commodore", phone="+1 555 0100"),
        "title",
    )
    assert (changed.first_name, changed.title, changed.phone) == ("Grace", "Commodore", "")

    # One custom key: tier changes, score (absent from the mask) is kept.
    changed = await update(
        crm,
        shop,
        crm_pb2.Contact(id=made.id, custom_fields=struct(tier="silver", score=99)),
        "custom_fields.tier",
    )
    assert dict(changed.custom_fields) == {"tier": "silver", "score": 3.0}

    # A masked key the message lacks is cleared.
    changed = await update(crm, shop, crm_pb2.Contact(id=made.id), "custom_fields.score")
    assert dict(changed.custom_fields) == {"tier": "silver"}

    # Without a mask, every field the message sets.
    changed = await update(
        crm,
        shop,
        crm_pb2.Contact(id=made.id, email="GRACE@navy.example", tags=["Navy"]),
    )
    assert (changed.email, list(changed.tags), changed.title) == (
        "GRACE@navy.example",
        ["navy"],
        "Commodore",
    )
    assert await get(crm, shop, made.id) == changed

    # Clearing one name is fine while the other remains; clearing both is not.
    changed = await update(crm, shop, crm_pb2.Contact(id=made.id), "first_name")
    assert (changed.first_name, changed.last_name) == ("", "Hopper")
    error = await fails(
        crm.stub.UpdateContact(
            pb.UpdateContactRequest(
                contact=crm_pb2.Contact(id=made.id), update_mask=mask("last_name")
            ),
            metadata=shop.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert violations(error) == {"contact.last_name": "a first or last name is required"}
    assert (await get(crm, shop, made.id)).last_name == "Hopper"


async def test_update_refuses_bad_masks_and_values(crm: Crm, shop: Tenant) -> None:
    made = await contact(crm, shop, custom_fields=struct(tier="gold"))
    cases: list[tuple[crm_pb2.Contact, tuple[str, ...], dict[str, str]]] = [
        (crm_pb2.Contact(id=made.id), ("id",), {"update_mask": ""}),
        (crm_pb2.Contact(id=made.id), ("email.domain",), {"update_mask": ""}),
        (crm_pb2.Contact(id=made.id), (), {"contact": "nothing to change"}),
        (
            crm_pb2.Contact(id=made.id, email="nope", phone="1"),
            ("email", "phone"),
            {
                "contact.email": "not a valid e-mail address",
                "contact.phone": "must have 5 to 15 digits, not 1",
            },
        ),
        (
            crm_pb2.Contact(id=made.id, custom_fields=struct(tier="bronze")),
            ("custom_fields.tier",),
            {"contact.custom_fields.tier": "tier must be one of ['gold', 'silver']"},
        ),
        (
            crm_pb2.Contact(id=made.id, custom_fields=struct(colour="red")),
            ("custom_fields",),
            {"contact.custom_fields.colour": "unknown custom field; defined: score, tier"},
        ),
    ]
    for message, paths, expected in cases:
        error = await fails(
            crm.stub.UpdateContact(
                pb.UpdateContactRequest(contact=message, update_mask=mask(*paths)),
                metadata=shop.token,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        found = violations(error)
        if expected.get("update_mask") == "":
            assert set(found) == {"update_mask"}, paths
            assert found["update_mask"].startswith(f'"{paths[0]}" cannot be changed'), found
        else:
            assert found == expected, paths
    assert await get(crm, shop, made.id) == made  # nothing was applied
    await fails(
        crm.stub.UpdateContact(
            pb.UpdateContactRequest(
                contact=crm_pb2.Contact(id=unique("missing"), title="x"), update_mask=mask("title")
            ),
            metadata=shop.token,
        ),
        grpc.StatusCode.NOT_FOUND,
    )


# ---- archive and restore --------------------------------------------------------------


async def test_archive_and_restore(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth, "Archive Ltd")
    kept = await contact(crm, tenant, title="archived notes")  # the word in a value
    gone = await contact(crm, tenant, title="archived too")

    archived = await crm.stub.ArchiveContact(
        pb.ArchiveContactRequest(id=gone.id), metadata=tenant.token
    )
    assert archived.archived is True
    again = await crm.stub.ArchiveContact(
        pb.ArchiveContactRequest(id=gone.id), metadata=tenant.token
    )
    assert again == archived  # already archived: unchanged
    assert (await get(crm, tenant, gone.id)).archived is True  # Get shows archived ones

    assert await listed(crm, tenant) == [kept.id]
    assert sorted(await listed(crm, tenant, show_archived=True)) == sorted([kept.id, gone.id])
    assert await listed(crm, tenant, "archived = true") == [gone.id]
    assert await listed(crm, tenant, "archived = false") == [kept.id]
    # A filter that merely mentions the word does not bring archived contacts back.
    assert await listed(crm, tenant, 'title : "archived"') == [kept.id]
    assert await searched(crm, tenant, gone.last_name) == []

    restored = await crm.stub.RestoreContact(
        pb.RestoreContactRequest(id=gone.id), metadata=tenant.token
    )
    assert restored.archived is False
    assert sorted(await listed(crm, tenant)) == sorted([kept.id, gone.id])
    assert await searched(crm, tenant, gone.last_name) == [gone.id]


# ---- lists: filters -------------------------------------------------------------------


@pytest.fixture(scope="module")
async def people(auth: Auth, crm: Crm) -> tuple[Tenant, dict[str, str]]:
    """A tenant with three contacts made on three days, by key: ada, grace, alan."""
    tenant = await new_tenant(auth, "Filters Ltd")
    await define(crm, tenant, "tier", crm_pb2.CUSTOM_FIELD_TYPE_CHOICE, "gold", "silver")
    await define(crm, tenant, "score", crm_pb2.CUSTOM_FIELD_TYPE_NUMBER)
    await define(crm, tenant, "renewal", crm_pb2.CUSTOM_FIELD_TYPE_DATE)
    made: dict[str, str] = {}
    with clock_at(crm, datetime(2025, 12, 15, 9, 0, tzinfo=UTC)):
        made["ada"] = (
            await contact(
                crm,
                tenant,
                first_name="Ada",
                last_name="Lovelace",
                email="ada@analytical.example",
                tags=["vip", "eu"],
                custom_fields=struct(tier="gold", score=10, renewal="2026-03-01"),
            )
        ).id
    with clock_at(crm, datetime(2026, 1, 10, 9, 0, tzinfo=UTC)):
        made["grace"] = (
            await contact(
                crm,
                tenant,
                first_name="Grace",
                last_name="Hopper",
                email="grace@navy.example",
                tags=["us"],
                custom_fields=struct(tier="silver", score=3),
            )
        ).id
    with clock_at(crm, datetime(2026, 2, 1, 9, 0, tzinfo=UTC)):
        made["alan"] = (
            await contact(crm, tenant, first_name="Alan", last_name="Turing", owner_id="u_other")
        ).id
    return tenant, made


FILTERS = [
    ("", ["alan", "grace", "ada"]),  # newest first
    ('owner = "u_other"', ["alan"]),
    ('created > "2026-01-01"', ["alan", "grace"]),
    ("created <= 2026-01-10T09:00:00Z", None),  # a bare timestamp: ":" is an operator
    ('created <= "2026-01-10T09:00:00Z"', ["grace", "ada"]),
    ('OWNER_IS_TENANT_OWNER AND created > "2026-01-01"', ["grace"]),
    ("tags:vip", ["ada"]),
    ("tags:VIP OR tags:us", ["grace", "ada"]),
    ("tags:v", []),  # an element, not a substring
    ("custom.tier = gold", ["ada"]),
    ("custom.tier != gold", ["grace"]),  # a missing value matches no comparison
    ("NOT custom.tier = gold", ["alan", "grace"]),  # NOT does include it
    ("custom.score >= 3 AND custom.score < 10", ["grace"]),
    ("custom.renewal < 2026-06-30", ["ada"]),
    ('last_name : "OV"', ["ada"]),
    ('name = "Grace Hopper"', ["grace"]),
    ("email = grace@navy.example", ["grace"]),
    ("(tags:us OR tags:vip) AND NOT first_name = Ada", ["grace"]),
    ("first_name = Ada OR first_name = Alan AND owner = u_other", ["alan", "ada"]),
]


@pytest.mark.parametrize(("filter_text", "expected"), FILTERS)
async def test_list_filters(
    crm: Crm, people: tuple[Tenant, dict[str, str]], filter_text: str, expected: list[str] | None
) -> None:
    tenant, made = people
    filter_text = filter_text.replace("OWNER_IS_TENANT_OWNER", f'owner = "{tenant.owner_id}"')
    if expected is None:
        error = await fails(
            crm.stub.ListContacts(
                pb.ListContactsRequest(filter=filter_text), metadata=tenant.token
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {"filter"}
        return
    assert await listed(crm, tenant, filter_text) == [made[k] for k in expected]


BAD_FILTERS = [
    ("owner = ", "filter", "at column 9: expected a value after '='"),
    ("owner == x", "filter", "at column 8: expected a value after '='"),
    ("colour = red", "filter", 'at column 1: unknown field "colour"'),
    ('created > "yesterday"', "filter", 'at column 11: field "created" is a timestamp'),
    ("tags = vip", "filter", 'at column 6: list field "tags" takes only ":"'),
    ("custom.tier = gold and owner = x", "filter", "at column 20: expected AND, OR or end"),
    ("(owner = x", "filter", "unclosed parenthesis opened at column 1"),
    ("custom.nope = 1", "filter", 'at column 1: unknown field "custom.nope"'),
    ("custom.score > high", "filter", 'at column 16: field "custom.score" is a number'),
    ("archived = maybe", "filter", 'at column 12: field "archived" is true or false'),
]


@pytest.mark.parametrize(("filter_text", "field", "start"), BAD_FILTERS)
async def test_filter_errors_name_the_column(
    crm: Crm, people: tuple[Tenant, dict[str, str]], filter_text: str, field: str, start: str
) -> None:
    tenant, _ = people
    error = await fails(
        crm.stub.ListContacts(pb.ListContactsRequest(filter=filter_text), metadata=tenant.token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    found = violations(error)
    assert set(found) == {field}
    assert found[field].startswith(start), found[field]


async def test_order_by_errors(crm: Crm, people: tuple[Tenant, dict[str, str]]) -> None:
    tenant, made = people
    ordered = await crm.stub.ListContacts(
        pb.ListContactsRequest(order_by="last_name desc"), metadata=tenant.token
    )
    assert [c.id for c in ordered.contacts] == [made["alan"], made["ada"], made["grace"]]
    for order_by, start in [
        ("shoe_size", 'at column 1: unknown field "shoe_size"'),
        ("last_name sideways", 'at column 11: expected asc or desc after "last_name"'),
        ("created, created", 'at column 10: field "created" appears twice'),
    ]:
        error = await fails(
            crm.stub.ListContacts(pb.ListContactsRequest(order_by=order_by), metadata=tenant.token),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        found = violations(error)
        assert set(found) == {"order_by"} and found["order_by"].startswith(start), found


# ---- lists: sorting and paging --------------------------------------------------------

FIRST_NAMES = ("Anna", "Bert", "Carl")


async def import_rows(crm: Crm, tenant: Tenant, count: int) -> Ids:
    """`count` contacts in one import (all made at the same instant)."""

    async def rows() -> AsyncIterator[pb.ImportContactsRequest]:
        for i in range(count):
            yield pb.ImportContactsRequest(
                import_id="paging",
                contact=crm_pb2.Contact(
                    first_name=FIRST_NAMES[i % 3],
                    last_name=f"P{i:03d}",
                    email=f"p{i:03d}@paging.example",
                ),
            )

    answer = await crm.stub.ImportContacts(rows(), metadata=tenant.token)
    assert answer.totals.created == count, answer.totals
    return [r.contact_id for r in answer.results]


async def pages(crm: Crm, tenant: Tenant, order_by: str, filter_text: str = "") -> list[Ids]:
    found: list[Ids] = []
    token = ""
    while True:
        answer = await crm.stub.ListContacts(
            pb.ListContactsRequest(
                filter=filter_text, order_by=order_by, page_size=50, page_token=token
            ),
            metadata=tenant.token,
        )
        found.append([c.id for c in answer.contacts])
        token = answer.next_page_token
        if not token:
            return found
        assert len(found) < 10, "paging does not end"


async def test_paging_visits_every_contact_once(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth, "Paging Ltd")
    made = await import_rows(crm, tenant, 120)
    names = {i: FIRST_NAMES[n % 3] for n, i in enumerate(made)}
    assert len(set(made)) == 120

    # Ties everywhere (one instant; three first names): the id breaks them.
    for order_by, expected in [
        ("", sorted(made, reverse=True)),  # created desc, then id desc
        ("first_name desc", sorted(made, key=lambda i: (names[i], i), reverse=True)),
        ("first_name, created", sorted(made, key=lambda i: (names[i], i))),
    ]:
        found = await pages(crm, tenant, order_by)
        assert [len(p) for p in found] == [50, 50, 20], order_by
        flat = [i for p in found for i in p]
        assert flat == expected, order_by

    # With a filter: the 40 Berts fit one page, by last name (the import's row order).
    berts = await pages(crm, tenant, "last_name", "first_name = Bert")
    assert berts == [[i for i in made if names[i] == "Bert"]]


async def test_page_token_is_bound_to_its_query(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth, "Tokens Ltd")
    await import_rows(crm, tenant, 3)
    first = await crm.stub.ListContacts(
        pb.ListContactsRequest(filter="first_name != Zed", page_size=1), metadata=tenant.token
    )
    token = first.next_page_token
    assert len(first.contacts) == 1 and token
    for request in [
        pb.ListContactsRequest(filter="first_name != Zoe", page_size=1, page_token=token),
        pb.ListContactsRequest(
            filter="first_name != Zed", order_by="last_name", page_size=1, page_token=token
        ),
        pb.ListContactsRequest(
            filter="first_name != Zed", show_archived=True, page_size=1, page_token=token
        ),
        pb.ListContactsRequest(page_token="not-a-token"),
    ]:
        error = await fails(
            crm.stub.ListContacts(request, metadata=tenant.token),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {"page_token"}
    follow = await crm.stub.ListContacts(
        pb.ListContactsRequest(filter="first_name != Zed", page_size=1, page_token=token),
        metadata=tenant.token,
    )
    assert len(follow.contacts) == 1 and follow.contacts[0].id != first.contacts[0].id


# ---- search ---------------------------------------------------------------------------


async def test_search(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth, "Search Ltd")
    globex = await company(crm, tenant, "Globex Corporation")
    zoe = await contact(
        crm,
        tenant,
        first_name="Zoë",
        last_name="O'Brien",
        email="Zoe.OBrien@Example.com",
        phone="+44 20 7946 0018",
        company_id=globex.id,
    )
    smith = await contact(
        crm, tenant, first_name="Zoe", last_name="Smith", email="zs@other.example"
    )
    ada = await contact(
        crm, tenant, first_name="Ada", last_name="Lovelace", email="", phone="(555) 010-0999"
    )
    gone = await contact(crm, tenant, first_name="Zoey", last_name="Archived")
    await crm.stub.ArchiveContact(pb.ArchiveContactRequest(id=gone.id), metadata=tenant.token)

    cases = [
        ("zoe", [zoe.id, smith.id]),  # by last name: O'Brien, Smith; accents ignored
        ("ZOË", [zoe.id, smith.id]),
        ("zo smi", [smith.id]),  # every word must start a word
        ("obri", [zoe.id]),
        ("o'brien", [zoe.id]),
        ("brien", []),  # the start of a word, not the middle
        ("zoe.obrien@example.com", [zoe.id]),  # the e-mail whole, case ignored
        ("example.com", [zoe.id]),  # its domain
        ("glob", [zoe.id]),  # the company's name
        ("corporation zoe", [zoe.id]),
        ("7946", [zoe.id]),  # a written group of the phone
        ("442079460018", [zoe.id]),  # its digits
        ("+44 20 7946 0018", [zoe.id]),  # as written
        ("+442079460018", [zoe.id]),
        ("5550100999", [ada.id]),
        ("555", [ada.id]),
        ("lovelace 010", [ada.id]),
        ("zoey", []),  # archived
        ("nobody", []),
    ]
    for query, expected in cases:
        assert await searched(crm, tenant, query) == expected, query
    for query in ["", "  ;; ", "a b c d e f g h i"]:
        error = await fails(
            crm.stub.SearchContacts(pb.SearchContactsRequest(query=query), metadata=tenant.token),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {"query"}, query

    paged = await crm.stub.SearchContacts(
        pb.SearchContactsRequest(query="zoe", page_size=1), metadata=tenant.token
    )
    assert [c.id for c in paged.contacts] == [zoe.id]
    rest = await crm.stub.SearchContacts(
        pb.SearchContactsRequest(query="zoe", page_size=1, page_token=paged.next_page_token),
        metadata=tenant.token,
    )
    assert [c.id for c in rest.contacts] == [smith.id] and rest.next_page_token == ""
    error = await fails(
        crm.stub.SearchContacts(
            pb.SearchContactsRequest(query="ada", page_token=paged.next_page_token),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"page_token"}
