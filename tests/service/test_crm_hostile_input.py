"""Input a careless or hostile client sends: control characters, ids no row can
have, values just past a limit, times out of range, racing state changes. Each is
a 4xx naming the problem (never INTERNAL), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio

import grpc
from auth_client import bad_fields, fails, reason  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from crm_client import contact, eur, new_tenant, opportunity  # type: ignore[import-not-found]
from crm_harness import Crm  # type: ignore[import-not-found]
from google.protobuf import timestamp_pb2

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def test_control_characters_and_impossible_ids(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    for bad_id in ("\x00", "a\x00b", "x" * 5000):
        await fails(
            crm.stub.GetContact(pb.GetContactRequest(id=bad_id), metadata=tenant.token),
            grpc.StatusCode.NOT_FOUND,
        )
        await fails(
            crm.stub.SubmitWebForm(pb.SubmitWebFormRequest(form_key=bad_id, email="a@b.co")),
            grpc.StatusCode.NOT_FOUND,
        )
    for fields, field in (
        ({"company_id": "c\x00"}, "contact.company_id"),
        ({"email": "a\x00b@example.com"}, "contact.email"),
        ({"owner_id": "u\x00"}, "contact.owner_id"),
        ({"title": "CEO\x07"}, "contact.title"),
    ):
        message = crm_pb2.Contact(first_name="Ada", **fields)  # type: ignore[arg-type]
        error = await fails(
            crm.stub.CreateContact(pb.CreateContactRequest(contact=message), metadata=tenant.token),
            INVALID,
        )
        assert bad_fields(error) == {field}
    error = await fails(
        crm.stub.CreateOpportunity(
            pb.CreateOpportunityRequest(
                opportunity=crm_pb2.Opportunity(name="Deal\x00", amount=eur(1))
            ),
            metadata=tenant.token,
        ),
        INVALID,
    )
    assert bad_fields(error) == {"opportunity.name"}


async def test_values_just_past_a_limit(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    error = await fails(
        crm.stub.DefineCustomField(
            pb.DefineCustomFieldRequest(
                field=crm_pb2.CustomFieldDefinition(
                    record_kind=crm_pb2.RECORD_KIND_CONTACT,
                    key="t" * 40 + "\n",
                    label="Tier",
                    type=crm_pb2.CUSTOM_FIELD_TYPE_TEXT,
                )
            ),
            metadata=tenant.token,
        ),
        INVALID,
    )
    assert bad_fields(error) == {"field.key"}
    # Folding lengthens "ß" to "ss": the name fits its column, its folded key must too.
    made = await crm.stub.CreateCompany(
        pb.CreateCompanyRequest(company=crm_pb2.Company(name="ß" * 150)), metadata=tenant.token
    )
    assert made.name == "ß" * 150
    rows = [pb.ImportContactsRequest(import_id="i" * 100 + "\n", contact=crm_pb2.Contact())]
    error = await fails(crm.stub.ImportContacts(iter(rows), metadata=tenant.token), INVALID)
    assert bad_fields(error) == {"import_id"}
    rows = [
        pb.ImportContactsRequest(
            import_id="odd-mode", on_duplicate=99, contact=crm_pb2.Contact(first_name="A")
        )
    ]
    error = await fails(crm.stub.ImportContacts(iter(rows), metadata=tenant.token), INVALID)
    assert bad_fields(error) == {"on_duplicate"}


async def test_times_and_dates_out_of_range(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    person = await contact(crm, tenant)
    activity = crm_pb2.Activity(
        kind=crm_pb2.ACTIVITY_KIND_TASK,
        record=crm_pb2.RecordRef(kind=crm_pb2.RECORD_KIND_CONTACT, id=person.id),
        subject="Call back",
        due_time=timestamp_pb2.Timestamp(seconds=253402300800 + 10),
    )
    error = await fails(
        crm.stub.CreateActivity(pb.CreateActivityRequest(activity=activity), metadata=tenant.token),
        INVALID,
    )
    assert bad_fields(error) == {"activity.due_time"}
    error = await fails(
        crm.stub.GetWinRateReport(
            pb.GetWinRateReportRequest(
                start_date={"year": 2026, "month": 1, "day": 1},
                end_date={"year": 9999, "month": 12, "day": 31},
            ),
            metadata=tenant.token,
        ),
        INVALID,
    )
    assert bad_fields(error) == {"end_date"}


async def test_racing_wins_publish_one(auth: Auth, crm: Crm) -> None:
    """Twenty clients win the same deal at once: one wins, the others are told it is
    closed (finance must not invoice twice)."""
    tenant = await new_tenant(auth)
    deal = await opportunity(crm, tenant)
    outcomes = await asyncio.gather(
        *(
            crm.stub.WinOpportunity(pb.WinOpportunityRequest(id=deal.id), metadata=tenant.token)
            for _ in range(20)
        ),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, crm_pb2.Opportunity)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(won) == 1 and len(refused) == 19
    assert all(e.code() == grpc.StatusCode.FAILED_PRECONDITION for e in refused)
    assert {reason(e) for e in refused} == {"OPPORTUNITY_CLOSED"}


async def test_a_hand_made_page_token_is_refused(auth: Auth, crm: Crm) -> None:
    """Tokens are plain JSON: one edited to hold values of the wrong type (or a time
    without a zone) is a 400 on page_token, not a database error."""
    import base64
    import json

    tenant = await new_tenant(auth)
    for _ in range(2):
        await contact(crm, tenant)
    first = await crm.stub.ListContacts(pb.ListContactsRequest(page_size=1), metadata=tenant.token)
    decoded = json.loads(base64.urlsafe_b64decode(first.next_page_token))
    for keys in (
        ["not a time", "x"],
        [{"t": "2026-01-01T00:00:00"}, "x"],
        [{"t": "2026-01-01T00:00:00+00:00"}, 2**70],
    ):
        forged = base64.urlsafe_b64encode(
            json.dumps({"q": decoded["q"], "k": keys}).encode()
        ).decode()
        error = await fails(
            crm.stub.ListContacts(
                pb.ListContactsRequest(page_size=1, page_token=forged), metadata=tenant.token
            ),
            INVALID,
        )
        assert bad_fields(error) == {"page_token"}
    # The genuine token still pages on.
    second = await crm.stub.ListContacts(
        pb.ListContactsRequest(page_size=1, page_token=first.next_page_token),
        metadata=tenant.token,
    )
    assert len(second.contacts) == 1 and second.contacts[0].id != first.contacts[0].id
