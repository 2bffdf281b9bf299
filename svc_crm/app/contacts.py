"""Contacts: create with duplicate detection, update by field mask, archive and
restore, merge, list and search. Every change writes its event, its history line
and (when the live count moves) the `contacts` usage gauge in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from erp.crm.v1 import crm_pb2 as pb
from mesh.context import current_tenant
from mesh.entitlements import ensure_within_limit
from mesh.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    Violations,
)
from mesh.ids import new_id
from mesh.keyset import SortKey, keyset
from svc_crm import convert, events
from svc_crm.app import custom_fields
from svc_crm.app.common import Deps, actor_id, remember_change
from svc_crm.app.masks import as_updated, changed_paths, touched
from svc_crm.domain.people import (
    Person,
    check_owner,
    check_person,
    check_tags,
    clean_tags,
    email_key,
    email_words,
    phone_key,
    phone_words,
    query_words,
    search_words,
)
from svc_crm.domain.records import RecordType
from svc_crm.store import (
    ActivityRow,
    Companies,
    CompanyRow,
    ContactRow,
    Contacts,
    OpportunityRow,
)

CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company_id",
    "title",
    "owner_id",
    "tags",
    "custom_fields",
)
NAMES = ("first_name", "last_name")  # one of them is required


def search_text(row: ContactRow) -> str:
    return search_text_of(row.first_name, row.last_name, row.email, row.phone)


def search_text_of(
    first_name: str, last_name: str, email: str, phone: str, phone_key_: str | None = None
) -> str:
    return search_words(first_name, last_name, email_words(email), phone_words(phone, phone_key_))


def check_contact(message: pb.Contact, prefix: str = "contact.") -> list[FieldViolation]:
    person = Person(
        message.first_name, message.last_name, message.email, message.phone, message.title
    )
    found = check_person(person, prefix)
    found += check_tags(message.tags, f"{prefix}tags")
    found += check_owner(message.owner_id, f"{prefix}owner_id")
    return found


async def _check_company(
    session: AsyncSession, company_id: str, field: str
) -> list[FieldViolation]:
    if company_id and await Companies(session).find(company_id) is None:
        return [FieldViolation(field, "no such company")]
    return []


async def refuse_duplicate(
    session: AsyncSession, email: str, phone: str, *, exclude: str = ""
) -> None:
    """ALREADY_EXISTS naming the live contact with the same e-mail or phone."""
    keys_e = {email_key(email)} - {""}
    keys_p = {phone_key(phone)} - {""}
    found = await Contacts(session).matching(keys_e, keys_p, exclude=exclude)
    if not found:
        return
    existing = found[0]
    on = "email" if existing.email_key in keys_e else "phone"
    raise AlreadyExists(
        f"contact {existing.id} has the same {on}; pass allow_duplicate to create it anyway",
        reason="DUPLICATE_CONTACT",
        metadata={"existing_contact_id": existing.id, "matched_on": on},
    )


def new_row(message: pb.Contact, custom: dict[str, Any], now: datetime, source: str) -> ContactRow:
    row = ContactRow(
        id=new_id(),
        first_name=message.first_name.strip(),
        last_name=message.last_name.strip(),
        email=message.email.strip(),
        email_key=email_key(message.email),
        phone=message.phone.strip(),
        phone_key=phone_key(message.phone),
        company_id=message.company_id,
        title=message.title.strip(),
        owner_id=message.owner_id or actor_id(),
        tags=clean_tags(message.tags),
        custom=custom,
        source=source,
        archived=False,
        merged_into_id="",
        created_at=now,
        updated_at=now,
    )
    row.search_text = search_text(row)
    return row


async def create_in(
    session: AsyncSession,
    message: pb.Contact,
    now: datetime,
    *,
    allow_duplicate: bool,
    source: str = "manual",
    prefix: str = "contact.",
    custom_field_name: str = "",
) -> ContactRow:
    """Create a contact inside the caller's transaction (CreateContact, lead conversion).
    Violations are named `<prefix><field>`; custom values `custom_field_name` (by
    default `<prefix>custom_fields`)."""
    problems = Violations(check_contact(message, prefix))
    problems.extend(await _check_company(session, message.company_id, f"{prefix}company_id"))
    definitions = await custom_fields.definitions(session, RecordType.CONTACT)
    custom, found = custom_fields.apply(
        definitions,
        {},
        message.custom_fields,
        creating=True,
        field=custom_field_name or f"{prefix}custom_fields",
    )
    problems.extend(found)
    problems.raise_if_any()
    repo = Contacts(session)
    await repo.lock_for_creates()
    if not allow_duplicate:
        await refuse_duplicate(session, message.email, message.phone)
    live = await repo.live_count()
    ensure_within_limit("contacts", live + 1)
    row = repo.add(new_row(message, custom, now, source))
    remember_change(session, RecordType.CONTACT, row.id, "created", now)
    await events.publish(session, pb.ContactCreated(contact=convert.contact(row)), row.id)
    await events.report_contacts(session, live + 1, now)
    return row


async def create(deps: Deps, session: AsyncSession, request: pb.Contact, allow: bool) -> ContactRow:
    return await create_in(session, request, deps.now(), allow_duplicate=allow)


async def get(deps: Deps, contact_id: str) -> Mapping[str, Any]:
    """The contact's column values (GetContact is the hottest read: no ORM instance)."""
    return await Contacts.read_values(deps.db, contact_id)


async def update_contact(
    deps: Deps, message: pb.Contact, mask: Sequence[str], allow_duplicate: bool
) -> ContactRow:
    paths = changed_paths(message, mask, CONTACT_FIELDS, "contact.")
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Contacts(session).get(message.id, lock=True)
        if row.merged_into_id:
            raise FailedPrecondition(
                f"contact was merged into {row.merged_into_id}; change that one",
                reason="CONTACT_MERGED",
                metadata={"merged_into_id": row.merged_into_id},
            )
        problems = Violations(check_contact(as_updated(row, message, paths, NAMES)))
        problems.items = [v for v in problems.items if touched(v.field, paths, "contact.")]
        if "company_id" in paths:
            problems.extend(await _check_company(session, message.company_id, "contact.company_id"))
        custom = row.custom
        custom_given = [p for p in paths if p.startswith("custom_fields")]
        if custom_given:
            definitions = await custom_fields.definitions(session, RecordType.CONTACT)
            custom, found = custom_fields.apply_paths(
                definitions, row.custom, message.custom_fields, custom_given, "contact."
            )
            problems.extend(found)
        problems.raise_if_any()
        if not allow_duplicate and ({"email", "phone"} & set(paths)):
            await refuse_duplicate(
                session,
                message.email if "email" in paths else "",
                message.phone if "phone" in paths else "",
                exclude=row.id,
            )
        _apply(row, message, paths, custom)
        row.updated_at = now
        row.search_text = search_text(row)
        remember_change(
            session, RecordType.CONTACT, row.id, "updated", now, "Changed: " + ", ".join(paths)
        )
        await events.publish(
            session,
            pb.ContactUpdated(contact=convert.contact(row), changed_fields=list(paths)),
            row.id,
        )
        return row


def _apply(
    row: ContactRow, message: pb.Contact, paths: Sequence[str], custom: dict[str, Any]
) -> None:
    for path in paths:
        if path == "tags":
            row.tags = clean_tags(message.tags)
        elif path.startswith("custom_fields"):
            row.custom = custom
        elif path == "email":
            row.email, row.email_key = message.email.strip(), email_key(message.email)
        elif path == "phone":
            row.phone, row.phone_key = message.phone.strip(), phone_key(message.phone)
        elif path == "owner_id":
            row.owner_id = message.owner_id or actor_id()
        else:
            setattr(row, path, getattr(message, path).strip())
    if not row.first_name and not row.last_name:
        raise InvalidArgument.one("contact.last_name", "a first or last name is required")


async def set_archived(deps: Deps, contact_id: str, archived: bool) -> ContactRow:
    now = deps.now()
    async with deps.db.transaction() as session:
        repo = Contacts(session)
        row = await repo.get(contact_id, lock=True)
        if row.archived == archived:
            return row  # already so: nothing to do, nothing published
        if row.merged_into_id and not archived:
            raise FailedPrecondition(
                f"contact was merged into {row.merged_into_id} and cannot be restored",
                reason="CONTACT_MERGED",
                metadata={"merged_into_id": row.merged_into_id},
            )
        if not archived:
            await repo.lock_for_creates()
        live = await repo.live_count()
        if not archived:
            ensure_within_limit("contacts", live + 1)
        row.archived = archived
        row.updated_at = now
        change = "archived" if archived else "restored"
        remember_change(session, RecordType.CONTACT, row.id, change, now)
        message = convert.contact(row)
        if archived:
            await events.publish(session, pb.ContactArchived(contact=message), row.id)
        else:
            await events.publish(
                session, pb.ContactUpdated(contact=message, changed_fields=["archived"]), row.id
            )
        await events.report_contacts(session, live - 1 if archived else live + 1, now)
        return row


MERGED_FIELDS = ("first_name", "last_name", "email", "phone", "company_id", "title")


async def merge(
    deps: Deps, session: AsyncSession, survivor_id: str, merged_id: str
) -> tuple[ContactRow, int, int]:
    """Fill the survivor's empty fields from the merged contact, move its activities
    and opportunities, archive it: all in the caller's transaction."""
    if survivor_id == merged_id:
        raise InvalidArgument.one("merged_id", "must differ from survivor_id")
    now = deps.now()
    repo = Contacts(session)
    # Both locked, always in id order: two merges of the same pair cannot deadlock.
    first, second = sorted((survivor_id, merged_id))
    locked = {first: await repo.get(first, lock=True), second: await repo.get(second, lock=True)}
    survivor, merged = locked[survivor_id], locked[merged_id]
    for row in (survivor, merged):
        if row.merged_into_id:
            raise FailedPrecondition(
                f"contact {row.id} was already merged into {row.merged_into_id}",
                reason="CONTACT_MERGED",
                metadata={"contact_id": row.id, "merged_into_id": row.merged_into_id},
            )
    if survivor.archived:
        raise FailedPrecondition(
            f"contact {survivor.id} is archived; restore it before merging into it",
            reason="CONTACT_ARCHIVED",
            metadata={"contact_id": survivor.id},
        )
    for name in MERGED_FIELDS:
        if not getattr(survivor, name) and getattr(merged, name):
            setattr(survivor, name, getattr(merged, name))
    if not survivor.email_key:
        survivor.email_key = merged.email_key
    if not survivor.phone_key:
        survivor.phone_key = merged.phone_key
    survivor.tags = clean_tags([*survivor.tags, *merged.tags])
    survivor.custom = {**merged.custom, **survivor.custom}
    survivor.search_text = search_text(survivor)
    survivor.updated_at = now
    tenant = current_tenant()
    moved_activities = await session.execute(
        update(ActivityRow)
        .where(
            ActivityRow.tenant_id == tenant,
            ActivityRow.record_kind == RecordType.CONTACT.value,
            ActivityRow.record_id == merged.id,
        )
        .values(record_id=survivor.id, updated_at=now)
    )
    moved_deals = await session.execute(
        update(OpportunityRow)
        .where(OpportunityRow.tenant_id == tenant, OpportunityRow.contact_id == merged.id)
        .values(contact_id=survivor.id, updated_at=now)
    )
    was_live = not merged.archived
    merged.archived = True
    merged.merged_into_id = survivor.id
    merged.updated_at = now
    remember_change(
        session, RecordType.CONTACT, survivor.id, "merged", now, f"Merged {merged.id} into it"
    )
    remember_change(
        session, RecordType.CONTACT, merged.id, "merged", now, f"Merged into {survivor.id}"
    )
    survivor_message = convert.contact(survivor)
    await events.publish_many(
        session,
        [
            (pb.ContactMerged(survivor=survivor_message, merged_id=merged.id), survivor.id),
            (pb.ContactArchived(contact=convert.contact(merged)), merged.id),
        ],
    )
    if was_live:
        await events.report_contacts(session, await repo.live_count(), now)
    counts = (int(moved_activities.rowcount or 0), int(moved_deals.rowcount or 0))  # type: ignore[attr-defined]
    return survivor, counts[0], counts[1]


SEARCH_MAX_WORDS = 8


async def search(
    deps: Deps, query: str, page_size: int, page_token: str
) -> tuple[list[ContactRow], str]:
    """Live contacts where every query word starts a word of the name, e-mail, phone
    or company name; by last name, first name."""
    words = query_words(query)
    if not words:
        raise InvalidArgument.one("query", "give at least one word to search for")
    if len(words) > SEARCH_MAX_WORDS:
        raise InvalidArgument.one("query", f"at most {SEARCH_MAX_WORDS} words")
    c, co = ContactRow, CompanyRow
    keys = [
        SortKey("last_name", c.last_name),
        SortKey("first_name", c.first_name),
        SortKey("id", c.id),
    ]
    pages = keyset(keys, page_size, page_token, query="search:" + " ".join(words))
    matches = [
        or_(
            c.search_text.contains(" " + w, autoescape=True),
            co.search_text.contains(" " + w, autoescape=True),
        )
        for w in words
    ]
    stmt = (
        pages.select(c)
        .outerjoin(co, and_(co.tenant_id == c.tenant_id, co.id == c.company_id))
        .where(c.tenant_id == current_tenant(), c.archived.is_(False), *matches)
    )
    async with deps.db.sessions() as session:
        return await pages.fetch(session, stmt)
