"""Bulk import of contacts (a client stream, one message per row): exact per-row
results and totals for 10,000 rows with 5% bad rows and 5% duplicates, resuming an
interrupted import without creating anything twice, the duplicate modes, row
numbering, and a missing import id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from auth_client import bad_fields, fails, reason  # type: ignore[import-not-found]
from auth_harness import Auth, DatabaseFactory  # type: ignore[import-not-found]
from crm_client import (  # type: ignore[import-not-found]
    Tenant,
    company,
    contact,
    new_tenant,
    unique,
)
from crm_harness import Crm, start_crm  # type: ignore[import-not-found]
from google.protobuf import struct_pb2

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb
from svc_crm.config import CrmConfig

CREATED = pb.IMPORT_OUTCOME_CREATED
UPDATED = pb.IMPORT_OUTCOME_UPDATED
DUPLICATE = pb.IMPORT_OUTCOME_DUPLICATE
ERROR = pb.IMPORT_OUTCOME_ERROR
ALREADY = pb.IMPORT_OUTCOME_ALREADY_IMPORTED


@pytest.fixture(scope="module")
async def small_batch_crm(auth: Auth, databases: DatabaseFactory) -> AsyncIterator[Crm]:
    """A second svc_crm on a database of its own that commits every 500 rows."""
    running = await start_crm(
        auth, databases.make(auth.backend, "crm"), CrmConfig(import_batch=500)
    )
    try:
        yield running
    finally:
        await running.close()


def custom(**values: Any) -> struct_pb2.Struct:
    found = struct_pb2.Struct()
    found.update(values)
    return found


def request(
    import_id: str,
    row: int,
    on_duplicate: pb.OnDuplicate.ValueType = pb.ON_DUPLICATE_UNSPECIFIED,
    **fields: object,
) -> pb.ImportContactsRequest:
    return pb.ImportContactsRequest(
        import_id=import_id,
        row=row,
        contact=crm_pb2.Contact(**fields),  # type: ignore[arg-type]
        on_duplicate=on_duplicate,
    )


async def send(
    crm: Crm, tenant: Tenant, rows: Iterable[pb.ImportContactsRequest]
) -> pb.ImportContactsResponse:
    answer: pb.ImportContactsResponse = await crm.stub.ImportContacts(
        iter(list(rows)), metadata=tenant.token
    )
    return answer


async def all_contacts(crm: Crm, tenant: Tenant, filter_text: str = "") -> list[crm_pb2.Contact]:
    found: list[crm_pb2.Contact] = []
    token = ""
    while True:
        page = await crm.stub.ListContacts(
            pb.ListContactsRequest(filter=filter_text, page_size=500, page_token=token),
            metadata=tenant.token,
        )
        found += page.contacts
        token = page.next_page_token
        if not token:
            return found


async def committed_row(crm: Crm, tenant: Tenant, import_id: str) -> int:
    """GetImport's last committed row; 0 while the server has not started the import."""
    try:
        status = await crm.stub.GetImport(
            pb.GetImportRequest(import_id=import_id), metadata=tenant.token
        )
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.NOT_FOUND:
            return 0
        raise
    return int(status.last_committed_row)


async def until_committed(crm: Crm, tenant: Tenant, import_id: str, row: int) -> None:
    deadline = time.monotonic() + 60
    while await committed_row(crm, tenant, import_id) < row:
        assert time.monotonic() < deadline, f"row {row} of {import_id} was never committed"
        await asyncio.sleep(0.05)


def outcomes(answer: pb.ImportContactsResponse) -> list[tuple[int, int, str]]:
    return [(r.row, r.outcome, r.field) for r in answer.results]


def totals(t: pb.ImportTotals) -> tuple[int, int, int, int, int, int]:
    return (t.rows, t.created, t.updated, t.duplicates, t.errors, t.already_imported)


# ---- 10,000 rows ----------------------------------------------------------------------

ROWS = 10_000
KNOWN = 250  # contacts that exist before the import


def known_email(k: int) -> str:
    return f"known{k:04d}@old.example.com"


def known_phone(k: int) -> str:
    return f"+49 30 {k:07d}"


def row_email(i: int) -> str:
    return f"row{i:05d}@new.example.com"


def row_phone(i: int) -> str:
    return f"+1 555 {i:07d}"


@dataclass(frozen=True)
class Expected:
    outcome: int
    field: str = ""
    known: int = -1  # duplicate of the k-th contact made before the import
    row: int = 0  # duplicate of this earlier row of the import


def plan_row(i: int, known_used: list[int]) -> tuple[dict[str, Any], Expected]:
    """Row i's contact fields and what the import must answer for it.

    Every 20th row is bad (bad e-mail, no name, bad phone, unknown custom field in
    turn); every 20th row from the 10th is a duplicate (of a contact made before by
    its e-mail, by its phone; of an earlier row of this import by e-mail, by phone,
    a few rows back or in an earlier batch); the other 90% are new contacts."""
    turn = (i // 20) % 4
    if i % 20 == 0:
        base: dict[str, Any] = {"first_name": "Bad", "last_name": f"R{i}"}
        if turn == 0:
            return {**base, "email": f"row{i}-at-example.com"}, Expected(ERROR, "email")
        if turn == 1:
            return {"email": row_email(i), "phone": row_phone(i)}, Expected(ERROR, "last_name")
        if turn == 2:
            return {**base, "email": row_email(i), "phone": "555-CALL-NOW"}, Expected(
                ERROR, "phone"
            )
        return {**base, "email": row_email(i), "custom_fields": custom(colour="red")}, Expected(
            ERROR, "custom_fields.colour"
        )
    if i % 20 == 10:
        base = {"first_name": "Dup", "last_name": f"R{i}"}
        if turn in (0, 1):
            k = len(known_used)
            known_used.append(k)
            if turn == 0:  # the same address, written differently
                email = f"  {known_email(k).upper()} "
                return {**base, "email": email}, Expected(DUPLICATE, "email", known=k)
            phone = known_phone(k).replace(" ", "-")  # the same number, other punctuation
            return {**base, "email": row_email(i), "phone": phone}, Expected(
                DUPLICATE, "phone", known=k
            )
        j = i - 1003 if i > 1003 and (i // 80) % 2 else i - 17  # an earlier valid row
        if turn == 2:
            return {**base, "email": row_email(j).upper()}, Expected(DUPLICATE, "email", row=j)
        return {**base, "email": row_email(i), "phone": f"+1 (555) {j:07d}"}, Expected(
            DUPLICATE, "phone", row=j
        )
    fields: dict[str, Any] = {
        "first_name": "Row",
        "last_name": f"N{i}",
        "email": row_email(i),
        "title": "Buyer" if i % 2 else "",
        "tags": ["imported"],
    }
    if i % 2:
        fields["phone"] = row_phone(i)
    if i % 3 == 0:
        fields["custom_fields"] = custom(tier="gold")
    return fields, Expected(CREATED)


async def define_tier(crm: Crm, tenant: Tenant) -> None:
    await crm.stub.DefineCustomField(
        pb.DefineCustomFieldRequest(
            field=crm_pb2.CustomFieldDefinition(
                record_kind=crm_pb2.RECORD_KIND_CONTACT,
                key="tier",
                label="Tier",
                type=crm_pb2.CUSTOM_FIELD_TYPE_TEXT,
            )
        ),
        metadata=tenant.token,
    )


async def test_ten_thousand_rows_exact_results(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    await define_tier(crm, tenant)
    known: list[crm_pb2.Contact] = []
    for start in range(0, KNOWN, 50):
        known += await asyncio.gather(
            *(
                contact(crm, tenant, email=known_email(k), phone=known_phone(k))
                for k in range(start, start + 50)
            )
        )
    known_ids = [c.id for c in known]

    known_used: list[int] = []
    planned = [plan_row(i, known_used) for i in range(1, ROWS + 1)]
    expected = [e for _, e in planned]
    assert len(known_used) == KNOWN  # every contact made before is hit exactly once
    assert sum(e.outcome == ERROR for e in expected) == ROWS // 20
    assert sum(e.outcome == DUPLICATE for e in expected) == ROWS // 20

    started = time.perf_counter()
    answer = await send(
        crm, tenant, (request("big-1", i, **f) for i, (f, _) in enumerate(planned, start=1))
    )
    elapsed = time.perf_counter() - started
    print(f"\nimport of {ROWS} rows on {auth.backend}: {elapsed:.2f} s")

    assert answer.import_id == "big-1"
    assert answer.last_committed_row == ROWS
    assert totals(answer.totals) == (ROWS, 9000, 0, 500, 500, 0)
    assert [r.row for r in answer.results] == list(range(1, ROWS + 1))
    assert [(r.outcome, r.field) for r in answer.results] == [
        (e.outcome, e.field) for e in expected
    ]
    made = {r.row: r.contact_id for r in answer.results if r.outcome == CREATED}
    assert len(set(made.values())) == 9000 and "" not in made.values()
    for r, e in zip(answer.results, expected, strict=True):
        if e.outcome == ERROR:
            assert r.contact_id == "" and r.message, r
        elif e.known >= 0:
            assert r.contact_id == known_ids[e.known], r
            assert r.message == f"same {e.field} as contact {known_ids[e.known]}"
        elif e.row:
            assert r.contact_id == made[e.row], r
    # the errors say why, in words
    assert answer.results[19].message == "a first or last name is required"
    assert answer.results[79].message == "not a valid e-mail address"

    # the contacts are really there: the imported ones exactly, and nothing else new
    imported = await all_contacts(crm, tenant, 'source = "import"')
    assert {c.id for c in imported} == set(made.values())
    assert len(await all_contacts(crm, tenant)) == KNOWN + 9000
    by_id = {c.id: c for c in imported}
    three = by_id[made[3]]  # a row with a phone, a title and a custom field
    assert (three.first_name, three.last_name, three.email, three.phone, three.title) == (
        "Row",
        "N3",
        row_email(3),
        row_phone(3),
        "Buyer",
    )
    assert dict(three.custom_fields) == {"tier": "gold"}
    assert (list(three.tags), three.source, three.owner_id) == (
        ["imported"],
        "import",
        tenant.owner_id,
    )
    four = by_id[made[4]]
    assert (four.phone, four.title, dict(four.custom_fields)) == ("", "", {})

    status = await crm.stub.GetImport(pb.GetImportRequest(import_id="big-1"), metadata=tenant.token)
    assert status.last_committed_row == ROWS
    assert totals(status.totals) == (ROWS, 9000, 0, 500, 500, 0)


# ---- resume -------------------------------------------------------------------------------

RESUME_ROWS = 3000
CUT = 2300  # rows sent before the call is cancelled; 2000 of them are committed


def resume_plan(i: int) -> tuple[dict[str, Any], Expected]:
    """Every 10th row has no name; every 10th from the 5th duplicates an earlier row:
    three rows back, or (after the cut, every other one) a row committed by the
    interrupted attempt."""
    if i % 10 == 0:
        return {"email": f"r{i}@resume.example.com"}, Expected(ERROR, "last_name")
    if i % 10 == 5:
        j = i - 1001 if i > 2000 and i % 20 == 5 else i - 3
        return {"last_name": f"Dup {i}", "email": f"R{j}@Resume.Example.com"}, Expected(
            DUPLICATE, "email", row=j
        )
    return {"last_name": f"Row {i}", "email": f"r{i}@resume.example.com"}, Expected(CREATED)


async def test_an_interrupted_import_resumes_without_duplicates(
    auth: Auth, small_batch_crm: Crm
) -> None:
    crm = small_batch_crm
    tenant = await new_tenant(auth)
    planned = [resume_plan(i) for i in range(1, RESUME_ROWS + 1)]
    rows = [request("resume-1", i, **f) for i, (f, _) in enumerate(planned, start=1)]

    async def until_cut() -> AsyncIterator[pb.ImportContactsRequest]:
        for message in rows[:CUT]:
            yield message
        # the server holds rows 2001..2300 in its unfinished batch: wait until the
        # four full batches are committed, then break the stream
        await until_committed(crm, tenant, "resume-1", 2000)
        raise ConnectionResetError("the client went away")

    call = crm.stub.ImportContacts(until_cut(), metadata=tenant.token)
    with pytest.raises(asyncio.CancelledError):
        await call
    assert call.cancelled()

    status = await crm.stub.GetImport(
        pb.GetImportRequest(import_id="resume-1"), metadata=tenant.token
    )
    assert status.last_committed_row == 2000  # a multiple of the batch, nothing after
    assert totals(status.totals) == (2000, 1600, 0, 200, 200, 0)
    first = await all_contacts(crm, tenant)
    assert len(first) == 1600
    id_of = {c.email: c.id for c in first}

    answer = await send(crm, tenant, rows)  # every row again, the same import id
    assert answer.last_committed_row == RESUME_ROWS
    assert totals(answer.totals) == (RESUME_ROWS, 800, 0, 100, 100, 2000)
    assert [(r.row, r.outcome, r.field, r.contact_id) for r in answer.results[:2000]] == [
        (i, ALREADY, "", "") for i in range(1, 2001)
    ]
    assert [(r.row, r.outcome, r.field) for r in answer.results[2000:]] == [
        (i, e.outcome, e.field) for i, (_, e) in enumerate(planned[2000:], start=2001)
    ]

    contacts = await all_contacts(crm, tenant)
    valid = [f"r{i}@resume.example.com" for i, (_, e) in enumerate(planned, 1) if e.outcome == 1]
    assert len(valid) == 2400
    assert sorted(c.email for c in contacts) == sorted(valid)  # each valid row exactly once
    id_of = {c.email: c.id for c in contacts} | id_of
    assert all(id_of[c.email] == c.id for c in contacts)  # first attempt's kept their ids
    for r, (_, e) in zip(answer.results[2000:], planned[2000:], strict=True):
        if e.outcome == CREATED:
            assert r.contact_id == id_of[f"r{r.row}@resume.example.com"], r
        elif e.outcome == DUPLICATE:  # also of rows the first attempt committed
            assert r.contact_id == id_of[f"r{e.row}@resume.example.com"], r
    assert sum(1 for _, e in planned[2000:] if e.row and e.row <= 2000) == 50

    status = await crm.stub.GetImport(
        pb.GetImportRequest(import_id="resume-1"), metadata=tenant.token
    )
    assert status.last_committed_row == RESUME_ROWS
    assert totals(status.totals) == (RESUME_ROWS, 2400, 0, 300, 300, 0)

    again = await send(crm, tenant, rows)  # a finished import changes nothing
    assert totals(again.totals) == (RESUME_ROWS, 0, 0, 0, 0, RESUME_ROWS)
    assert {r.outcome for r in again.results} == {ALREADY}
    assert len(await all_contacts(crm, tenant)) == 2400


async def test_an_attempt_overtaken_by_another_commits_nothing_more(
    auth: Auth, small_batch_crm: Crm
) -> None:
    """A client that resumes while its first attempt still runs on the server: the
    later attempt wins, the earlier one stops at its next batch (ABORTED) instead of
    writing rows the other one wrote (rows without e-mail or phone cannot be told
    apart as duplicates)."""
    crm = small_batch_crm
    tenant = await new_tenant(auth)
    rows = [request("race-1", i, last_name=f"Nameless {i}") for i in range(1, 601)]
    first = crm.stub.ImportContacts(metadata=tenant.token)
    for message in rows[:550]:
        await first.write(message)
    await until_committed(crm, tenant, "race-1", 500)
    assert await committed_row(crm, tenant, "race-1") == 500  # rows 501-550 wait in hand

    second = await send(crm, tenant, rows)
    assert totals(second.totals) == (600, 100, 0, 0, 0, 500)
    assert second.last_committed_row == 600

    for message in rows[550:]:
        await first.write(message)
    await first.done_writing()
    error = await fails(first, grpc.StatusCode.ABORTED)
    assert reason(error) == "IMPORT_OVERTAKEN" and "row 600" in (error.details() or "")
    assert len(await all_contacts(crm, tenant)) == 600
    status = await crm.stub.GetImport(
        pb.GetImportRequest(import_id="race-1"), metadata=tenant.token
    )
    assert (status.last_committed_row, totals(status.totals)) == (600, (600, 600, 0, 0, 0, 0))


# ---- duplicate modes, numbering, bad calls ------------------------------------------------


async def test_on_duplicate_update_fills_the_matched_contact(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    await define_tier(crm, tenant)
    old = await contact(
        crm, tenant, first_name="Ada", last_name="Byron", email="ada@old.example.com", tags=["vip"]
    )
    new_email = f"{unique('n')}@example.com"
    mode = pb.ON_DUPLICATE_UPDATE
    answer = await send(
        crm,
        tenant,
        [
            request(
                "upd-1",
                1,
                mode,
                last_name="Lovelace",
                email="ADA@old.example.com",
                title="Countess",
                tags=["Math"],
                custom_fields=custom(tier="gold"),
            ),
            request("upd-1", 2, last_name="Babbage", email=new_email),
            request("upd-1", 3, first_name="Charles", last_name="Babbage", email=new_email),
        ],
    )
    created = answer.results[1].contact_id
    assert [(r.row, r.outcome, r.contact_id) for r in answer.results] == [
        (1, UPDATED, old.id),
        (2, CREATED, created),
        (3, UPDATED, created),  # an earlier row of the import counts as existing
    ]
    assert totals(answer.totals) == (3, 1, 2, 0, 0, 0)
    got = await crm.stub.GetContact(pb.GetContactRequest(id=old.id), metadata=tenant.token)
    assert (got.first_name, got.last_name, got.email, got.title) == (
        "Ada",  # empty in the row: kept
        "Lovelace",
        "ADA@old.example.com",
        "Countess",
    )
    assert (list(got.tags), dict(got.custom_fields), got.source) == (
        ["vip", "math"],
        {"tier": "gold"},
        "manual",
    )
    made = await crm.stub.GetContact(pb.GetContactRequest(id=created), metadata=tenant.token)
    assert (made.first_name, made.last_name, made.source) == ("Charles", "Babbage", "import")
    assert len(await all_contacts(crm, tenant)) == 2


async def test_on_duplicate_update_is_the_same_across_batches(
    auth: Auth, small_batch_crm: Crm
) -> None:
    crm = small_batch_crm
    tenant = await new_tenant(auth)
    mode = pb.ON_DUPLICATE_UPDATE
    rows = [
        request("upd-2", i, mode, last_name=f"Row {i}", email=f"r{i}@upd.example.com")
        for i in range(1, 601)
    ]
    # row 300 repeats row 1 in its batch, row 550 repeats row 2 of the batch before
    rows[299] = request("upd-2", 300, last_name="Again 1", email="R1@upd.example.com")
    rows[549] = request("upd-2", 550, last_name="Again 2", email="r2@UPD.example.com")
    answer = await send(crm, tenant, rows)
    assert totals(answer.totals) == (600, 598, 2, 0, 0, 0)
    assert (answer.results[299].outcome, answer.results[299].contact_id) == (
        UPDATED,
        answer.results[0].contact_id,
    )
    assert (answer.results[549].outcome, answer.results[549].contact_id) == (
        UPDATED,
        answer.results[1].contact_id,
    )
    names = {c.id: c.last_name for c in await all_contacts(crm, tenant)}
    assert len(names) == 598
    assert names[answer.results[0].contact_id] == "Again 1"
    assert names[answer.results[1].contact_id] == "Again 2"


async def test_on_duplicate_create_and_skip(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    old = await contact(crm, tenant, email="grace@example.com", phone="+1 212 555 0100")
    crm.clock.advance(seconds=1)  # the imported ones are younger
    create = pb.ON_DUPLICATE_CREATE
    answer = await send(
        crm,
        tenant,
        [
            request("mode-c", 1, create, last_name="Hopper", email="Grace@Example.com"),
            request("mode-c", 2, last_name="Hopper 2", phone="+1-212-555-0100"),
        ],
    )
    assert [r.outcome for r in answer.results] == [CREATED, CREATED]
    ids = {r.contact_id for r in answer.results}
    assert old.id not in ids and len(ids) == 2
    same = await crm.stub.GetContact(pb.GetContactRequest(id=old.id), metadata=tenant.token)
    assert same == old
    assert len(await all_contacts(crm, tenant)) == 3

    employer = await company(crm, tenant, "Remington Rand")
    foreign = await company(crm, await new_tenant(auth), "Not yours")
    skip = await send(
        crm,
        tenant,
        [
            request("mode-s", 0, pb.ON_DUPLICATE_SKIP, last_name="X", phone="+1 212 555 0100"),
            request("mode-s", 0, last_name="Y", company_id=employer.id),
            request("mode-s", 0, last_name="Z", company_id=foreign.id),
            request("mode-s", 0, last_name="W", company_id="no-such-company"),
        ],
    )
    assert [(r.row, r.outcome, r.field) for r in skip.results] == [
        (1, DUPLICATE, "phone"),
        (2, CREATED, ""),
        (3, ERROR, "company_id"),
        (4, ERROR, "company_id"),
    ]
    assert skip.results[0].contact_id == old.id  # the oldest live contact with that phone
    hired = await crm.stub.GetContact(
        pb.GetContactRequest(id=skip.results[1].contact_id), metadata=tenant.token
    )
    assert (hired.last_name, hired.company_id) == ("Y", employer.id)
    assert len(await all_contacts(crm, tenant)) == 4


async def test_rows_must_be_numbered_upwards(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    rows = [(1, "a"), (2, "b"), (2, "c"), (1, "d"), (5, "e"), (0, "f"), (0, "g"), (-3, "h")]
    answer = await send(
        crm,
        tenant,
        [request("num-1", n, last_name=x, email=f"{x}-{tenant.tenant_id}@ex.com") for n, x in rows],
    )
    assert outcomes(answer) == [
        (-3, ERROR, "row"),
        (1, CREATED, ""),
        (1, ERROR, "row"),
        (2, CREATED, ""),
        (2, ERROR, "row"),
        (5, CREATED, ""),
        (6, CREATED, ""),  # 0 means the previous row's number plus one
        (7, CREATED, ""),
    ]
    assert totals(answer.totals) == (8, 5, 0, 0, 3, 0)
    assert answer.last_committed_row == 7
    assert len(await all_contacts(crm, tenant)) == 5
    status = await crm.stub.GetImport(pb.GetImportRequest(import_id="num-1"), metadata=tenant.token)
    assert (status.last_committed_row, totals(status.totals)) == (7, (8, 5, 0, 0, 3, 0))


async def test_an_import_needs_its_id(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    error = await fails(
        crm.stub.ImportContacts(
            iter([request("", 1, last_name="Nobody", email="nobody@example.com")]),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"import_id"}
    error = await fails(
        crm.stub.ImportContacts(
            iter([request("has space", 1, last_name="Nobody")]), metadata=tenant.token
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"import_id"}
    error = await fails(
        crm.stub.ImportContacts(iter([]), metadata=tenant.token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"import_id"}
    assert await all_contacts(crm, tenant) == []
    await fails(
        crm.stub.GetImport(pb.GetImportRequest(import_id="never"), metadata=tenant.token),
        grpc.StatusCode.NOT_FOUND,
    )
    other = await new_tenant(auth)  # an import is its tenant's own
    await send(crm, tenant, [request("mine", 1, last_name="Mine", email="mine@example.com")])
    await fails(
        crm.stub.GetImport(pb.GetImportRequest(import_id="mine"), metadata=other.token),
        grpc.StatusCode.NOT_FOUND,
    )
