"""Activities on every kind of record: create, bad record references, update,
complete, delete, filtered lists; and a record's timeline of activities and changes,
newest first and paged with every entry exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import grpc
from auth_client import bad_fields, fails, reason  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from crm_client import (  # type: ignore[import-not-found]
    Tenant,
    company,
    contact,
    new_tenant,
    opportunity,
)
from crm_harness import Crm  # type: ignore[import-not-found]
from google.protobuf import field_mask_pb2, timestamp_pb2

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb

KINDS = [
    crm_pb2.ACTIVITY_KIND_CALL,
    crm_pb2.ACTIVITY_KIND_EMAIL,
    crm_pb2.ACTIVITY_KIND_MEETING,
    crm_pb2.ACTIVITY_KIND_TASK,
    crm_pb2.ACTIVITY_KIND_NOTE,
]
CONTACT = crm_pb2.RECORD_KIND_CONTACT
COMPANY = crm_pb2.RECORD_KIND_COMPANY
LEAD = crm_pb2.RECORD_KIND_LEAD
OPPORTUNITY = crm_pb2.RECORD_KIND_OPPORTUNITY
TASK = crm_pb2.ACTIVITY_KIND_TASK


def ts(value: datetime) -> timestamp_pb2.Timestamp:
    found = timestamp_pb2.Timestamp()
    found.FromDatetime(value)
    return found


def when(value: timestamp_pb2.Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def ref(kind: crm_pb2.RecordKind.ValueType, record_id: str) -> crm_pb2.RecordRef:
    return crm_pb2.RecordRef(kind=kind, id=record_id)


async def activity(
    crm: Crm,
    tenant: Tenant,
    record: crm_pb2.RecordRef,
    kind: crm_pb2.ActivityKind.ValueType = crm_pb2.ACTIVITY_KIND_NOTE,
    **fields: Any,
) -> crm_pb2.Activity:
    fields.setdefault("subject", "Spoke about the renewal")
    found: crm_pb2.Activity = await crm.stub.CreateActivity(
        pb.CreateActivityRequest(activity=crm_pb2.Activity(kind=kind, record=record, **fields)),
        metadata=tenant.token,
    )
    return found


async def records(crm: Crm, tenant: Tenant) -> list[crm_pb2.RecordRef]:
    """One record of each kind."""
    lead = await crm.stub.CreateLead(
        pb.CreateLeadRequest(lead=crm_pb2.Lead(last_name="Prospect")), metadata=tenant.token
    )
    return [
        ref(CONTACT, (await contact(crm, tenant)).id),
        ref(COMPANY, (await company(crm, tenant)).id),
        ref(LEAD, lead.id),
        ref(OPPORTUNITY, (await opportunity(crm, tenant)).id),
    ]


async def listed(crm: Crm, tenant: Tenant, filter_text: str, order_by: str = "") -> list[str]:
    answer = await crm.stub.ListActivities(
        pb.ListActivitiesRequest(filter=filter_text, order_by=order_by, page_size=500),
        metadata=tenant.token,
    )
    return [a.id for a in answer.activities]


async def test_every_kind_on_every_record(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    made: list[crm_pb2.Activity] = []
    due = datetime(2031, 5, 4, 9, 30, tzinfo=UTC)
    for record in await records(crm, tenant):
        for kind in KINDS:
            made.append(
                await activity(
                    crm, tenant, record, kind, subject=f" {kind}:{record.kind} ", due_time=ts(due)
                )
            )
    assert len(made) == 20
    for a in made:
        assert a.subject == f"{a.kind}:{a.record.kind}"  # trimmed
        assert (a.owner_id, a.archived, a.HasField("complete_time")) == (
            tenant.owner_id,
            False,
            False,
        )
        assert when(a.due_time) == due and when(a.create_time) == crm.clock()
    assert {(a.kind, a.record.kind) for a in made} == {
        (k, r) for k in KINDS for r in (CONTACT, COMPANY, LEAD, OPPORTUNITY)
    }
    for record_kind, record_id in {(a.record.kind, a.record.id) for a in made}:
        ids = await listed(crm, tenant, f'record_id = "{record_id}"')
        assert sorted(ids) == sorted(a.id for a in made if a.record.id == record_id)
        name = crm_pb2.RecordKind.Name(record_kind).removeprefix("RECORD_KIND_")
        assert sorted(await listed(crm, tenant, f"record_kind = {name}")) == sorted(ids)
    tasks = await listed(crm, tenant, "kind = task")
    assert sorted(tasks) == sorted(a.id for a in made if a.kind == TASK)


async def test_an_activity_needs_a_record_of_the_tenant(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    other = await new_tenant(auth)
    mine = await contact(crm, tenant)
    theirs = await contact(crm, other)
    for record, field in (
        (ref(CONTACT, "no-such-contact"), "activity.record.id"),
        (ref(CONTACT, theirs.id), "activity.record.id"),  # another tenant's: as if absent
        (ref(COMPANY, mine.id), "activity.record.id"),  # a contact's id is no company
        (ref(LEAD, mine.id), "activity.record.id"),
        (ref(CONTACT, ""), "activity.record.id"),
        (ref(crm_pb2.RECORD_KIND_UNSPECIFIED, mine.id), "activity.record.kind"),
    ):
        error = await fails(
            crm.stub.CreateActivity(
                pb.CreateActivityRequest(
                    activity=crm_pb2.Activity(
                        kind=crm_pb2.ACTIVITY_KIND_CALL, record=record, subject="Call"
                    )
                ),
                metadata=tenant.token,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {field}, record
    error = await fails(
        crm.stub.CreateActivity(
            pb.CreateActivityRequest(activity=crm_pb2.Activity(subject=" ")),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"activity.kind", "activity.subject", "activity.record"}
    assert await listed(crm, tenant, "") == []
    assert await listed(crm, other, "") == []


async def test_update_complete_and_delete(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    person = await contact(crm, tenant)
    task = await activity(
        crm,
        tenant,
        ref(CONTACT, person.id),
        TASK,
        subject="Send the quote",
        due_time=ts(datetime(2031, 1, 10, tzinfo=UTC)),
    )
    crm.clock.advance(seconds=10)
    changed = await crm.stub.UpdateActivity(
        pb.UpdateActivityRequest(
            activity=crm_pb2.Activity(id=task.id, subject="Send the final quote", body="v2"),
            update_mask=field_mask_pb2.FieldMask(paths=["subject", "due_time", "owner_id"]),
        ),
        metadata=tenant.token,
    )
    assert (changed.subject, changed.body, changed.HasField("due_time")) == (
        "Send the final quote",
        "",  # not in the mask
        False,  # in the mask without a value: cleared
    )
    assert changed.owner_id == tenant.owner_id and when(changed.update_time) == crm.clock()
    for mask, field in ((["subject"], "activity.subject"), (["record"], "update_mask")):
        error = await fails(
            crm.stub.UpdateActivity(
                pb.UpdateActivityRequest(
                    activity=crm_pb2.Activity(id=task.id, subject=""),
                    update_mask=field_mask_pb2.FieldMask(paths=mask),
                ),
                metadata=tenant.token,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {field}

    crm.clock.advance(seconds=10)
    done = await crm.stub.CompleteActivity(
        pb.CompleteActivityRequest(id=task.id), metadata=tenant.token
    )
    assert when(done.complete_time) == crm.clock()
    crm.clock.advance(seconds=10)
    again = await crm.stub.CompleteActivity(
        pb.CompleteActivityRequest(id=task.id), metadata=tenant.token
    )
    assert again == done  # already done: unchanged
    back_then = datetime(2030, 12, 24, 17, 0, tzinfo=UTC)
    dated = await crm.stub.CompleteActivity(
        pb.CompleteActivityRequest(id=task.id, complete_time=ts(back_then)), metadata=tenant.token
    )
    assert when(dated.complete_time) == back_then

    crm.clock.advance(seconds=10)
    gone = await crm.stub.DeleteActivity(
        pb.DeleteActivityRequest(id=task.id), metadata=tenant.token
    )
    assert gone.archived and when(gone.update_time) == crm.clock()
    assert (
        await crm.stub.DeleteActivity(pb.DeleteActivityRequest(id=task.id), metadata=tenant.token)
        == gone
    )
    for call in (
        crm.stub.CompleteActivity(pb.CompleteActivityRequest(id=task.id), metadata=tenant.token),
        crm.stub.UpdateActivity(
            pb.UpdateActivityRequest(activity=crm_pb2.Activity(id=task.id, subject="x")),
            metadata=tenant.token,
        ),
    ):
        error = await fails(call, grpc.StatusCode.FAILED_PRECONDITION)
        assert reason(error) == "ACTIVITY_ARCHIVED"
    assert await listed(crm, tenant, "") == []
    other = await new_tenant(auth)
    await fails(
        crm.stub.DeleteActivity(pb.DeleteActivityRequest(id=task.id), metadata=other.token),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_open_tasks_of_an_owner_due_before_a_date(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    record = ref(CONTACT, (await contact(crm, tenant)).id)
    me, bob = tenant.owner_id, "u-bob"

    async def task(
        due: datetime | None, owner: str = "", kind: crm_pb2.ActivityKind.ValueType = TASK
    ) -> str:
        fields: dict[str, Any] = {"owner_id": owner}
        if due is not None:
            fields["due_time"] = ts(due)
        return str((await activity(crm, tenant, record, kind, **fields)).id)

    d = datetime(2031, 3, 1, tzinfo=UTC)
    late = await task(d - timedelta(days=1))
    early = await task(d - timedelta(days=30))
    await task(d)  # due at the date itself: not before it
    await task(d + timedelta(days=1))
    await task(None)  # no due date
    bobs = await task(d - timedelta(days=2), owner=bob)
    await task(d - timedelta(days=2), kind=crm_pb2.ACTIVITY_KIND_CALL)
    finished = await task(d - timedelta(days=3))
    await crm.stub.CompleteActivity(pb.CompleteActivityRequest(id=finished), metadata=tenant.token)
    deleted = await task(d - timedelta(days=4))
    await crm.stub.DeleteActivity(pb.DeleteActivityRequest(id=deleted), metadata=tenant.token)

    wanted = f'kind = task AND owner = "{me}" AND completed = false AND due < 2031-03-01'
    assert await listed(crm, tenant, wanted, "due") == [early, late]
    assert await listed(crm, tenant, wanted, "due desc") == [late, early]
    assert await listed(crm, tenant, 'owner = "u-bob"') == [bobs]
    assert await listed(crm, tenant, f'owner = "{me}" AND completed = true') == [finished]
    error = await fails(
        crm.stub.ListActivities(
            pb.ListActivitiesRequest(filter="due < someday"), metadata=tenant.token
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"filter"}


# ---- timeline ------------------------------------------------------------------------------


def identity(entry: crm_pb2.TimelineEntry) -> tuple[str, str]:
    if entry.HasField("activity"):
        return ("activity", entry.activity.id)
    return ("change", f"{entry.change.change}|{entry.change.summary}")


async def timeline(
    crm: Crm, tenant: Tenant, record: crm_pb2.RecordRef, page_size: int
) -> list[list[crm_pb2.TimelineEntry]]:
    pages: list[list[crm_pb2.TimelineEntry]] = []
    token = ""
    while True:
        page = await crm.stub.GetTimeline(
            pb.GetTimelineRequest(record=record, page_size=page_size, page_token=token),
            metadata=tenant.token,
        )
        pages.append(list(page.entries))
        token = page.next_page_token
        if not token:
            return pages
        assert len(pages) < 50, "the timeline does not end"


async def test_timeline_newest_first_in_pages(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    person = await contact(crm, tenant, title="Engineer")
    record = ref(CONTACT, person.id)
    elsewhere = ref(CONTACT, (await contact(crm, tenant)).id)
    expected: list[tuple[datetime, tuple[str, str]]] = [(crm.clock(), ("change", "created|"))]
    made: dict[str, crm_pb2.Activity] = {}

    async def later(seconds: int = 7) -> datetime:
        crm.clock.advance(seconds=seconds)
        now: datetime = crm.clock()
        return now

    async def update(title: str) -> None:
        at = await later()
        await crm.stub.UpdateContact(
            pb.UpdateContactRequest(
                contact=crm_pb2.Contact(id=person.id, title=title),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            ),
            metadata=tenant.token,
        )
        expected.append((at, ("change", "updated|Changed: title")))

    async def log(n: int, kind: crm_pb2.ActivityKind.ValueType) -> None:
        at = await later()
        a = await activity(crm, tenant, record, kind, subject=f"A{n}")
        made[f"A{n}"] = a
        expected.append((at, ("activity", a.id)))
        await activity(crm, tenant, elsewhere, kind, subject=f"other {n}")

    await log(1, crm_pb2.ACTIVITY_KIND_NOTE)
    await update("Lead engineer")
    await log(2, crm_pb2.ACTIVITY_KIND_CALL)
    await log(3, TASK)
    await update("Architect")
    await log(4, crm_pb2.ACTIVITY_KIND_MEETING)
    await log(5, crm_pb2.ACTIVITY_KIND_EMAIL)
    await log(6, crm_pb2.ACTIVITY_KIND_NOTE)
    await log(7, TASK)
    # completing A3 moves it to its completion time
    done_at = await later()
    await crm.stub.CompleteActivity(
        pb.CompleteActivityRequest(id=made["A3"].id), metadata=tenant.token
    )
    expected = [(done_at, e) if e == ("activity", made["A3"].id) else (t, e) for t, e in expected]
    await update("Chief architect")
    gone = await activity(crm, tenant, record, subject="deleted")
    await crm.stub.DeleteActivity(pb.DeleteActivityRequest(id=gone.id), metadata=tenant.token)

    pages = await timeline(crm, tenant, record, page_size=3)
    assert [len(p) for p in pages] == [3, 3, 3, 2]
    entries = [e for p in pages for e in p]
    newest_first = sorted(expected, key=lambda x: x[0], reverse=True)
    assert [(when(e.time), identity(e)) for e in entries] == newest_first
    times = [when(e.time) for e in entries]
    assert all(a > b for a, b in pairwise(times))  # strictly newest first
    assert len({(when(e.time), identity(e)) for e in entries}) == 11  # each exactly once
    by_id = {e.activity.id: e.activity for e in entries if e.HasField("activity")}
    assert by_id[made["A3"].id].complete_time == entries[1].time
    assert {e.change.actor_id for e in entries if e.HasField("change")} == {tenant.owner_id}

    whole = await timeline(crm, tenant, record, page_size=0)  # 0 means 50
    assert whole == [entries]


async def test_timeline_pages_through_entries_of_one_instant(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    person = await contact(crm, tenant)
    record = ref(CONTACT, person.id)
    ids = [(await activity(crm, tenant, record, subject=f"same {n}")).id for n in range(7)]
    pages = await timeline(crm, tenant, record, page_size=3)
    assert [len(p) for p in pages] == [3, 3, 2]
    entries = [e for p in pages for e in p]
    assert {when(e.time) for e in entries} == {crm.clock()}
    found = [e.activity.id for e in entries if e.HasField("activity")]
    assert sorted(found) == sorted(ids) and len(found) == 7  # each exactly once
    assert found == sorted(found, reverse=True)  # ties: by id, newest id first
    assert sum(e.HasField("change") for e in entries) == 1

    other_record = ref(CONTACT, (await contact(crm, tenant)).id)
    first = await crm.stub.GetTimeline(
        pb.GetTimelineRequest(record=record, page_size=3), metadata=tenant.token
    )
    for token, asked in ((first.next_page_token, other_record), ("garbage!", record)):
        error = await fails(
            crm.stub.GetTimeline(
                pb.GetTimelineRequest(record=asked, page_token=token), metadata=tenant.token
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {"page_token"}
    other = await new_tenant(auth)
    await fails(
        crm.stub.GetTimeline(pb.GetTimelineRequest(record=record), metadata=other.token),
        grpc.StatusCode.NOT_FOUND,
    )
