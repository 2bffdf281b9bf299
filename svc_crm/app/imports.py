"""Bulk import of contacts from a client stream, one message per row.

Rows are checked one by one, then written in batches (`CrmConfig.import_batch`),
each batch in one transaction together with the import's progress row. A bad
row gets an ERROR result and never stops the others. When the stream breaks,
the batches already committed stay, and `crm_imports.last_committed_row` says
where they end: sending the same `import_id` again skips those rows
(ALREADY_IMPORTED), so a resumed import creates nothing twice. Each batch locks
the progress row and checks that no other attempt committed since this one
started (a client resuming while its first attempt still runs here): the older
attempt stops with ABORTED instead of writing rows twice.

Duplicates are found by normalized e-mail and phone, against live contacts and
against the earlier rows of the same import. With ON_DUPLICATE_UPDATE a row that
matches an earlier row of the import updates the contact that row made, whether
that row's batch is committed or still in hand: batch size changes no outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, literal, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb
from mesh import entitlements
from mesh.db import bulk_insert
from mesh.errors import Aborted, InvalidArgument
from mesh.ids import new_id
from mesh.timestamps import to_timestamp
from svc_crm import convert, events
from svc_crm.app import contacts, custom_fields
from svc_crm.app.common import Deps, actor_id
from svc_crm.domain.custom_fields import Definition
from svc_crm.domain.people import clean_tags, email_key, phone_key
from svc_crm.domain.records import RecordType
from svc_crm.store import (
    Companies,
    ContactRow,
    Contacts,
    HistoryRow,
    ImportRow,
    Imports,
    among,
)

IMPORT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
OUTCOME = pb.ImportOutcome
DUPLICATE_MODE = {
    pb.ON_DUPLICATE_UNSPECIFIED: "skip",
    pb.ON_DUPLICATE_SKIP: "skip",
    pb.ON_DUPLICATE_UPDATE: "update",
    pb.ON_DUPLICATE_CREATE: "create",
}
EVENT_CHUNK = 500  # contacts per crm.contacts.imported event (about 100 kB)
UPDATABLE = ("first_name", "last_name", "email", "phone", "company_id", "title", "owner_id")


@dataclass
class _Run:
    """One call of ImportContacts: its settings, its results, its batch in hand.

    Results are kept with the order they were received in (`seq`), so that rows
    sharing a number (a repeated number is an error) answer in the order sent."""

    import_id: str
    mode: str
    definitions: dict[str, Definition]
    last_committed: int
    results: list[tuple[int, pb.ImportRowResult]] = field(default_factory=list)
    totals: pb.ImportTotals = field(default_factory=pb.ImportTotals)
    batch: list[tuple[int, int, crm_pb2.Contact]] = field(default_factory=list)  # seq, row, …
    last_row: int = 0
    received: int = 0
    # Rows refused for their number, not yet counted in the import's progress row.
    unsaved_errors: int = 0
    # Live contacts of the tenant: counted once, then kept up by this call's creates
    # (a count per batch grows with the table; a concurrent create elsewhere skews the
    # usage gauge by that one contact until its next report).
    live: int | None = None


def _result(
    row: int,
    outcome: pb.ImportOutcome.ValueType,
    contact_id: str = "",
    fld: str = "",
    msg: str = "",
) -> pb.ImportRowResult:
    return pb.ImportRowResult(
        row=row, outcome=outcome, contact_id=contact_id, field=fld, message=msg
    )


async def run(
    deps: Deps, requests: AsyncIterator[pb.ImportContactsRequest]
) -> pb.ImportContactsResponse:
    """Receive rows while the previous batch is being checked and written (one batch
    in flight), so reading the stream overlaps with the database's work."""
    state: _Run | None = None
    writing: asyncio.Task[None] | None = None
    try:
        async for message in requests:
            if state is None:
                state = await _start(deps, message)
            if _take(state, message) and len(state.batch) >= deps.config.import_batch:
                writing = await _hand_over(deps, state, writing)
        if state is None:
            raise InvalidArgument.one("import_id", "send at least one row")
        if state.batch:
            writing = await _hand_over(deps, state, writing)
        if writing is not None:
            await writing
            writing = None
        if state.unsaved_errors:
            await _save_errors(deps, state)
    finally:
        if writing is not None:  # the stream broke: the batch in flight is abandoned
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writing
    ordered = sorted(state.results, key=lambda r: (r[1].row, r[0]))
    return pb.ImportContactsResponse(
        import_id=state.import_id,
        results=[r for _, r in ordered],
        totals=state.totals,
        last_committed_row=state.last_committed,
    )


def _take(state: _Run, message: pb.ImportContactsRequest) -> bool:
    """Answer the row at once (bad number, already imported) or add it to the batch."""
    row = message.row or state.last_row + 1
    state.totals.rows += 1
    state.received += 1
    seq = state.received
    if row <= state.last_row:
        result = _result(
            row, OUTCOME.IMPORT_OUTCOME_ERROR, fld="row", msg="row numbers must increase"
        )
        state.results.append((seq, result))
        state.totals.errors += 1
        state.unsaved_errors += 1
        return False
    state.last_row = row
    if row <= state.last_committed:
        state.results.append((seq, _result(row, OUTCOME.IMPORT_OUTCOME_ALREADY_IMPORTED)))
        state.totals.already_imported += 1
        return False
    state.batch.append((seq, row, message.contact))
    return True


async def _hand_over(
    deps: Deps, state: _Run, writing: asyncio.Task[None] | None
) -> asyncio.Task[None]:
    """Wait for the batch in flight, then start writing the one in hand."""
    if writing is not None:
        await writing
    batch, state.batch = state.batch, []
    unsaved, state.unsaved_errors = state.unsaved_errors, 0
    return asyncio.create_task(_write_batch(deps, state, batch, unsaved))


async def _start(deps: Deps, first: pb.ImportContactsRequest) -> _Run:
    if not IMPORT_ID.fullmatch(first.import_id):
        raise InvalidArgument.one("import_id", "1 to 100 letters, digits or _.:-")
    if first.on_duplicate not in DUPLICATE_MODE:
        raise InvalidArgument.one("on_duplicate", "SKIP, UPDATE or CREATE")
    now = deps.now()
    try:
        async with deps.db.transaction() as session:
            found = await Imports(session).find(first.import_id)
            if found is None:
                found = Imports(session).add(
                    ImportRow(import_id=first.import_id, created_at=now, updated_at=now)
                )
                await session.flush()
            definitions = await custom_fields.definitions(session, RecordType.CONTACT)
            last = found.last_committed_row or 0
    except IntegrityError:  # the same import started twice at once: the other one wins
        raise Aborted(
            "this import is being started by another call at the same moment; retry",
            reason="IMPORT_STARTING",
        ) from None
    return _Run(first.import_id, DUPLICATE_MODE[first.on_duplicate], definitions, last)


@dataclass
class _Checked:
    seq: int
    row: int
    message: crm_pb2.Contact
    custom: dict[str, Any]
    email: str
    phone: str


async def _write_batch(
    deps: Deps, state: _Run, batch: list[tuple[int, int, crm_pb2.Contact]], unsaved_errors: int
) -> None:
    now = deps.now()
    checked: list[_Checked] = []
    results: list[tuple[int, pb.ImportRowResult]] = []
    for seq, row, message in batch:
        problems = contacts.check_contact(message, prefix="")
        custom, found = custom_fields.apply(
            state.definitions, {}, message.custom_fields, creating=True, field="custom_fields"
        )
        problems += found
        if problems:
            first = problems[0]
            results.append(
                (
                    seq,
                    _result(
                        row, OUTCOME.IMPORT_OUTCOME_ERROR, fld=first.field, msg=first.description
                    ),
                )
            )
            continue
        checked.append(
            _Checked(seq, row, message, custom, email_key(message.email), phone_key(message.phone))
        )
    async with deps.db.transaction() as session:
        if deps.db.dialect == "postgresql":
            # The duplicate lookup (2,000 keys) is index probes, but PostgreSQL's default
            # costs (made for spinning disks) prefer scanning the whole tenant, a cost
            # that grows with every batch; and a cached generic plan (psycopg prepares
            # repeated statements) can do the same. Both only for this transaction.
            await session.execute(text("SET LOCAL random_page_cost = 1.1"))
            await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        await Contacts(session).lock_for_creates()
        progress = await _progress(session, state)
        known_companies = await _companies(session, checked)
        repo = Contacts(session)
        existing = await repo.matching(
            {c.email for c in checked} - {""}, {c.phone for c in checked} - {""}
        )
        by_email = {r.email_key: r for r in reversed(existing) if r.email_key}
        by_phone = {r.phone_key: r for r in reversed(existing) if r.phone_key}
        if state.live is None:
            state.live = await repo.live_count()
        live = state.live
        snapshot = entitlements.current()
        limit = snapshot.limit("contacts") if snapshot else None
        new_rows: list[dict[str, Any]] = []
        updated: list[ContactRow] = []
        for c in checked:
            if c.message.company_id and c.message.company_id not in known_companies:
                results.append(
                    (
                        c.seq,
                        _result(
                            c.row,
                            OUTCOME.IMPORT_OUTCOME_ERROR,
                            fld="company_id",
                            msg="no such company",
                        ),
                    )
                )
                continue
            match = by_email.get(c.email) if c.email else None
            match = match or (by_phone.get(c.phone) if c.phone else None)
            if match is not None and state.mode != "create":
                if state.mode == "update":
                    # An earlier row of this batch (a dict, not inserted yet) is updated
                    # like a committed contact, so batch boundaries change no outcome.
                    if isinstance(match, ContactRow):
                        _update(match, c, now)
                        if match not in updated:
                            updated.append(match)
                    else:
                        _update_new(match, c, now)
                    results.append(
                        (c.seq, _result(c.row, OUTCOME.IMPORT_OUTCOME_UPDATED, _id_of(match)))
                    )
                else:
                    on = "email" if c.email and by_email.get(c.email) is match else "phone"
                    results.append(
                        (
                            c.seq,
                            _result(
                                c.row,
                                OUTCOME.IMPORT_OUTCOME_DUPLICATE,
                                _id_of(match),
                                fld=on,
                                msg=f"same {on} as contact {_id_of(match)}",
                            ),
                        )
                    )
                continue
            if limit is not None and live + len(new_rows) + 1 > limit:
                results.append(
                    (
                        c.seq,
                        _result(
                            c.row,
                            OUTCOME.IMPORT_OUTCOME_ERROR,
                            msg=f"the plan allows {limit} contacts",
                        ),
                    )
                )
                continue
            values = _values(c, now)
            new_rows.append(values)
            # Later rows of this import match this one (by its id, as a dict).
            if c.email:
                by_email.setdefault(c.email, values)  # type: ignore[arg-type]
            if c.phone:
                by_phone.setdefault(c.phone, values)  # type: ignore[arg-type]
            results.append((c.seq, _result(c.row, OUTCOME.IMPORT_OUTCOME_CREATED, values["id"])))
        await _insert(session, state.import_id, new_rows, updated, now)
        counts = _count(r for _, r in results)
        progress.last_committed_row = batch[-1][1]
        # Rows refused for their number since the last batch are counted with it.
        progress.rows += len(batch) + unsaved_errors
        progress.created += counts[OUTCOME.IMPORT_OUTCOME_CREATED]
        progress.updated += counts[OUTCOME.IMPORT_OUTCOME_UPDATED]
        progress.duplicates += counts[OUTCOME.IMPORT_OUTCOME_DUPLICATE]
        progress.errors += counts[OUTCOME.IMPORT_OUTCOME_ERROR] + unsaved_errors
        progress.updated_at = now
        if new_rows:
            await events.report_contacts(session, live + len(new_rows), now)
    state.live = live + len(new_rows)
    state.last_committed = batch[-1][1]
    state.results += results
    state.totals.created += counts[OUTCOME.IMPORT_OUTCOME_CREATED]
    state.totals.updated += counts[OUTCOME.IMPORT_OUTCOME_UPDATED]
    state.totals.duplicates += counts[OUTCOME.IMPORT_OUTCOME_DUPLICATE]
    state.totals.errors += counts[OUTCOME.IMPORT_OUTCOME_ERROR]


def _id_of(match: ContactRow | dict[str, Any]) -> str:
    return match["id"] if isinstance(match, dict) else match.id


async def _progress(session: AsyncSession, state: _Run) -> ImportRow:
    """The import's progress row, locked for this batch's transaction. When another
    attempt of the same import committed since this one started (a client resuming
    while its first attempt still runs here), this attempt stops: writing its batch
    would import rows the other one imported."""
    stmt = Imports(session).scoped().where(ImportRow.import_id == state.import_id).with_for_update()
    progress: ImportRow = (await session.execute(stmt)).scalar_one()
    if progress.last_committed_row != state.last_committed:
        raise Aborted(
            f"import {state.import_id} was resumed by another call, which committed up to "
            f"row {progress.last_committed_row}; send the rows after it again",
            reason="IMPORT_OVERTAKEN",
            metadata={"last_committed_row": str(progress.last_committed_row)},
        )
    return progress


async def _save_errors(deps: Deps, state: _Run) -> None:
    """Count rows refused for their number when no batch follows them."""
    async with deps.db.transaction() as session:
        progress = await _progress(session, state)
        progress.rows += state.unsaved_errors
        progress.errors += state.unsaved_errors
        progress.updated_at = deps.now()
    state.unsaved_errors = 0


def _count(results: Iterable[pb.ImportRowResult]) -> dict[int, int]:
    counts: dict[int, int] = dict.fromkeys(OUTCOME.values(), 0)
    for r in results:
        counts[r.outcome] += 1
    return counts


async def _companies(session: AsyncSession, checked: list[_Checked]) -> set[str]:
    wanted = {c.message.company_id for c in checked if c.message.company_id}

    return set(await Companies(session).names(wanted))


def _values(c: _Checked, now: datetime) -> dict[str, Any]:
    m = c.message
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": "",  # set by _insert
        "first_name": m.first_name.strip(),
        "last_name": m.last_name.strip(),
        "email": m.email.strip(),
        "email_key": c.email,
        "phone": m.phone.strip(),
        "phone_key": c.phone,
        "company_id": m.company_id,
        "title": m.title.strip(),
        "owner_id": m.owner_id or actor_id(),
        "tags": clean_tags(m.tags),
        "custom": c.custom,
        "source": "import",
        "archived": False,
        "merged_into_id": "",
        "created_at": now,
        "updated_at": now,
    }
    values["search_text"] = contacts.search_text_of(
        values["first_name"], values["last_name"], values["email"], values["phone"], c.phone
    )
    return values


def _update_new(values: dict[str, Any], c: _Checked, now: datetime) -> None:
    """ON_DUPLICATE_UPDATE against an earlier row of the same batch: `_update` on the
    values about to be inserted."""
    row = ContactRow(**values)
    _update(row, c, now)
    for name in (*UPDATABLE, "email_key", "phone_key", "tags", "custom", "search_text"):
        values[name] = getattr(row, name)
    values["updated_at"] = now


def _update(row: ContactRow, c: _Checked, now: datetime) -> None:
    """ON_DUPLICATE_UPDATE: the row's non-empty fields win; tags and custom add up."""
    for name in UPDATABLE:
        value = getattr(c.message, name).strip()
        if value:
            setattr(row, name, value)
    row.email_key, row.phone_key = email_key(row.email), phone_key(row.phone)
    row.tags = clean_tags([*row.tags, *c.message.tags])
    row.custom = {**row.custom, **c.custom}
    row.search_text = contacts.search_text(row)
    row.updated_at = now


async def _insert(
    session: AsyncSession,
    import_id: str,
    new_rows: list[dict[str, Any]],
    updated: list[ContactRow],
    now: datetime,
) -> None:
    """New contacts, their history lines and their events, each in one statement."""
    tenant = Contacts(session).tenant_id
    created: list[tuple[Any, str]] = []
    if new_rows:
        for values in new_rows:
            values["tenant_id"] = tenant
        # Core inserts (COPY on PostgreSQL): nothing here needs the ORM's identity map.
        await bulk_insert(session, cast(Table, ContactRow.__table__), new_rows)
        await _history(session, tenant, [v["id"] for v in new_rows], now)
        # One event per EVENT_CHUNK contacts, not one per row: an import of 100,000 rows
        # would otherwise cost 100,000 envelopes, outbox rows and publishes.
        stamp = to_timestamp(now)
        created = [
            (
                crm_pb2.ContactsImported(
                    import_id=import_id,
                    contacts=[
                        convert.contact_of(v, stamp) for v in new_rows[at : at + EVENT_CHUNK]
                    ],
                ),
                import_id,
            )
            for at in range(0, len(new_rows), EVENT_CHUNK)
        ]
    changed = [
        (
            crm_pb2.ContactUpdated(contact=convert.contact(r), changed_fields=["import"]),
            r.id,
        )
        for r in updated
    ]
    await events.publish_many(session, [*created, *changed])


async def _history(session: AsyncSession, tenant: str, ids: list[str], now: datetime) -> None:
    """The "created" history line of each new contact, made by the database from the
    rows just written (no Python work per row). A record's creation line takes the
    record's own id, which is unique among history lines (one creation per record)."""
    c = ContactRow
    made = select(
        c.id,
        c.tenant_id,
        literal(RecordType.CONTACT.value),
        c.id,
        literal("created"),
        literal("Imported"),
        literal(actor_id()),
        c.created_at,
    ).where(c.tenant_id == tenant, among(session, c.id, set(ids)))
    columns = ["id", "tenant_id", "record_kind", "record_id", "change", "summary", "actor_id", "at"]
    await session.execute(insert(cast(Table, HistoryRow.__table__)).from_select(columns, made))


async def status(deps: Deps, import_id: str) -> pb.GetImportResponse:
    async with deps.db.sessions() as session:
        row = await Imports(session).get(import_id)
    return pb.GetImportResponse(
        import_id=row.import_id,
        last_committed_row=row.last_committed_row,
        totals=pb.ImportTotals(
            rows=row.rows,
            created=row.created,
            updated=row.updated,
            duplicates=row.duplicates,
            errors=row.errors,
        ),
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
    )
