"""Activities (calls, e-mails, meetings, tasks, notes about one record) and a
record's timeline: its activities and its history merged, newest first, paged.

An activity's `timeline_at` is when it counts on the timeline: its completion,
else its creation; every change that moves one moves the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.crm.v1 import crm_pb2 as pb
from mesh.context import current_tenant
from mesh.db import TenantRepository
from mesh.errors import FailedPrecondition, InvalidArgument, Violations
from mesh.ids import new_id
from mesh.keyset import SortKey, keyset
from mesh.timestamps import from_timestamp
from svc_crm import convert, events
from svc_crm.app.common import Deps, actor_id
from svc_crm.app.masks import changed_paths
from svc_crm.domain.activities import check_activity
from svc_crm.domain.people import check_owner
from svc_crm.domain.records import RecordType
from svc_crm.store import (
    Activities,
    ActivityRow,
    Companies,
    Contacts,
    HistoryRow,
    Leads,
    Opportunities,
)

ACTIVITY_FIELDS = ("subject", "body", "due_time", "owner_id")
REPOSITORIES: dict[RecordType, type[TenantRepository[Any]]] = {
    RecordType.CONTACT: Contacts,
    RecordType.COMPANY: Companies,
    RecordType.LEAD: Leads,
    RecordType.OPPORTUNITY: Opportunities,
}


async def record_exists(session: AsyncSession, kind: RecordType, record_id: str) -> bool:
    return await REPOSITORIES[kind](session).find(record_id) is not None


async def _record(session: AsyncSession, ref: pb.RecordRef, field: str) -> tuple[RecordType, str]:
    """The referenced record of this tenant: 400 on `field` when it is not there."""
    kind = convert.record_type(ref.kind, f"{field}.kind")
    if not ref.id.strip():
        raise InvalidArgument.one(f"{field}.id", "is required")
    if not await record_exists(session, kind, ref.id):
        raise InvalidArgument.one(f"{field}.id", f"no such {kind.value}")
    return kind, ref.id


async def create(deps: Deps, session: AsyncSession, message: pb.Activity) -> ActivityRow:
    problems = Violations()
    if message.kind not in convert.ACTIVITY_OF:
        problems.add("activity.kind", "call, email, meeting, task or note is required")
    problems.extend(check_activity(message.subject, message.body))
    problems.extend(check_owner(message.owner_id, "activity.owner_id"))
    if not message.HasField("record"):
        problems.add("activity.record", "is required")
    problems.raise_if_any()
    kind, record_id = await _record(session, message.record, "activity.record")
    now = deps.now()
    row = Activities(session).add(
        ActivityRow(
            id=new_id(),
            kind=convert.ACTIVITY_OF[message.kind].value,
            record_kind=kind.value,
            record_id=record_id,
            subject=message.subject.strip(),
            body=message.body,
            due_at=(
                from_timestamp(message.due_time, "activity.due_time")
                if message.HasField("due_time")
                else None
            ),
            completed_at=None,
            owner_id=message.owner_id or actor_id(),
            archived=False,
            created_at=now,
            updated_at=now,
            timeline_at=now,
        )
    )
    await events.publish(session, pb.ActivityCreated(activity=convert.activity(row)), row.id)
    return row


def _require_live(row: ActivityRow) -> None:
    if row.archived:
        raise FailedPrecondition("the activity was deleted", reason="ACTIVITY_ARCHIVED")


async def update_activity(deps: Deps, message: pb.Activity, mask: Sequence[str]) -> ActivityRow:
    paths = changed_paths(message, mask, ACTIVITY_FIELDS, "activity.")
    problems = Violations()
    if "subject" in paths or "body" in paths:
        found = check_activity(message.subject, message.body)
        problems.extend(v for v in found if v.field.removeprefix("activity.") in paths)
    if "owner_id" in paths:
        problems.extend(check_owner(message.owner_id, "activity.owner_id"))
    problems.raise_if_any()
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Activities(session).get(message.id, lock=True)
        _require_live(row)
        for path in paths:
            if path == "subject":
                row.subject = message.subject.strip()
            elif path == "body":
                row.body = message.body
            elif path == "due_time":
                has = message.HasField("due_time")
                row.due_at = from_timestamp(message.due_time, "activity.due_time") if has else None
            elif path == "owner_id":
                row.owner_id = message.owner_id or actor_id()
        row.updated_at = now
        await events.publish(
            session,
            pb.ActivityUpdated(activity=convert.activity(row), changed_fields=list(paths)),
            row.id,
        )
        return row


async def complete(deps: Deps, activity_id: str, when: datetime | None) -> ActivityRow:
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Activities(session).get(activity_id, lock=True)
        _require_live(row)
        if row.completed_at is not None and when is None:
            return row  # already done: nothing to do, nothing published
        done = when or now
        row.completed_at = done
        row.timeline_at = done
        row.updated_at = now
        await events.publish(
            session,
            pb.ActivityUpdated(activity=convert.activity(row), changed_fields=["complete_time"]),
            row.id,
        )
        return row


async def delete(deps: Deps, activity_id: str) -> ActivityRow:
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Activities(session).get(activity_id, lock=True)
        if row.archived:
            return row
        row.archived = True
        row.updated_at = now
        await events.publish(session, pb.ActivityArchived(activity=convert.activity(row)), row.id)
        return row


# ---- timeline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One timeline item: an activity or a history line, at its time."""

    time: datetime
    id: str
    activity: ActivityRow | None = None
    change: HistoryRow | None = None


def merge_newest_first(sources: Sequence[Sequence[Entry]]) -> list[Entry]:
    """The entries of every source (each newest first), merged newest first; ties by id."""
    return sorted((e for s in sources for e in s), key=lambda e: (e.time, e.id), reverse=True)


async def timeline(
    deps: Deps, ref: pb.RecordRef, page_size: int, page_token: str
) -> tuple[list[Entry], str]:
    kind = convert.record_type(ref.kind, "record.kind")
    if not ref.id.strip():
        raise InvalidArgument.one("record.id", "is required")
    tenant = current_tenant()
    a, h = ActivityRow, HistoryRow
    # One keyset over two tables: the same (time, id) sort, newest first, on each; the
    # token is bound to this record.
    pages = keyset(
        [SortKey("time", a.timeline_at, True), SortKey("id", a.id, True)],
        page_size,
        page_token,
        query=f"timeline|{kind.value}|{ref.id}",
    )
    in_history = replace(pages, keys=[SortKey("time", h.at, True), SortKey("id", h.id, True)])
    doings = select(a).where(
        a.tenant_id == tenant,
        a.record_kind == kind.value,
        a.record_id == ref.id,
        a.archived.is_(False),
    )
    changes = select(h).where(
        h.tenant_id == tenant, h.record_kind == kind.value, h.record_id == ref.id
    )
    after_a, after_h = pages.where(), in_history.where()
    if after_a is not None and after_h is not None:
        doings = doings.where(after_a)
        changes = changes.where(after_h)
    doings = doings.order_by(*pages.order_by()).limit(pages.size + 1)
    changes = changes.order_by(*in_history.order_by()).limit(pages.size + 1)
    async with deps.db.sessions() as session:
        await REPOSITORIES[kind](session).get(ref.id)  # NOT_FOUND for another tenant's too
        found_a = list((await session.scalars(doings)).all())
        found_h = list((await session.scalars(changes)).all())
    merged = merge_newest_first(
        [
            [Entry(r.timeline_at, r.id, activity=r) for r in found_a],
            [Entry(r.at, r.id, change=r) for r in found_h],
        ]
    )[: pages.size + 1]
    return merged[: pages.size], pages.next_token([(e.time, e.id) for e in merged])
