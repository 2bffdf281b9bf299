"""What svc_crm publishes on NATS (contact lifecycle, merges, won deals with what
finance needs), and the billing metric `contacts`: the plan's limit is enforced
and billing receives the live count as a gauge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import grpc
from auth_client import fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import (  # type: ignore[import-not-found]
    change_plan,
    error_info,
    usage_of,
)
from billing_client import new_tenant as billing_tenant
from billing_harness import Billing, eventually  # type: ignore[import-not-found]
from crm_client import Tenant, company, contact, eur, new_tenant, opportunity  # type: ignore[import-not-found]
from crm_harness import Crm, gate_crm_by  # type: ignore[import-not-found]
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from jetstream_probe import read_event  # type: ignore[import-not-found]

from erp.common.v1 import event_pb2
from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb


async def published(
    auth: Auth, tenant: Tenant, event_type: str, payload: Message, match: Any
) -> event_pb2.EventEnvelope:
    """The tenant's event of this type whose payload satisfies `match`."""
    domain, rest = event_type.split(".", 1)
    envelope: event_pb2.EventEnvelope = await read_event(
        auth.nats_url, f"erp.{domain}.{tenant.tenant_id}.{rest}", payload, match=match
    )
    assert envelope.event_type == event_type
    assert (envelope.tenant_id, envelope.source) == (tenant.tenant_id, "crm")
    assert envelope.actor.id == tenant.owner_id
    return envelope


async def test_contact_lifecycle_events(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth, "Events Ltd")
    made = await contact(crm, tenant, first_name="Eve", last_name="Events", email="eve@ev.example")
    created = crm_pb2.ContactCreated()
    envelope = await published(
        auth, tenant, "crm.contact.created", created, lambda e: e.contact.id == made.id
    )
    assert created.contact == made
    assert envelope.aggregate_id == made.id

    changed = await crm.stub.UpdateContact(
        pb.UpdateContactRequest(
            contact=crm_pb2.Contact(id=made.id, title="CFO", phone="+1 555 0100"),
            update_mask=field_mask_pb2.FieldMask(paths=["title", "phone"]),
        ),
        metadata=tenant.token,
    )
    updated = crm_pb2.ContactUpdated()
    await published(auth, tenant, "crm.contact.updated", updated, lambda e: e.contact.id == made.id)
    assert updated.contact == changed
    assert list(updated.changed_fields) == ["title", "phone"]

    gone = await crm.stub.ArchiveContact(
        pb.ArchiveContactRequest(id=made.id), metadata=tenant.token
    )
    archived = crm_pb2.ContactArchived()
    await published(
        auth, tenant, "crm.contact.archived", archived, lambda e: e.contact.id == made.id
    )
    assert archived.contact == gone and archived.contact.archived is True

    back = await crm.stub.RestoreContact(
        pb.RestoreContactRequest(id=made.id), metadata=tenant.token
    )
    restored = crm_pb2.ContactUpdated()
    await published(
        auth,
        tenant,
        "crm.contact.updated",
        restored,
        lambda e: e.contact.id == made.id and list(e.changed_fields) == ["archived"],
    )
    assert restored.contact == back


async def test_merge_events(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth, "Merge Events Ltd")
    survivor = await contact(crm, tenant, first_name="Stay")
    merged = await contact(crm, tenant, first_name="Go", title="Engineer")
    answer = await crm.stub.MergeContacts(
        pb.MergeContactsRequest(survivor_id=survivor.id, merged_id=merged.id),
        metadata=tenant.token,
    )
    event = crm_pb2.ContactMerged()
    envelope = await published(
        auth, tenant, "crm.contact.merged", event, lambda e: e.merged_id == merged.id
    )
    assert event.survivor == answer.contact and event.survivor.title == "Engineer"
    assert envelope.aggregate_id == survivor.id
    archived = crm_pb2.ContactArchived()
    await published(
        auth, tenant, "crm.contact.archived", archived, lambda e: e.contact.id == merged.id
    )
    assert (archived.contact.archived, archived.contact.merged_into_id) == (True, survivor.id)


async def test_won_deal_carries_what_finance_needs(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth, "Won Ltd")
    buyer = await company(crm, tenant, "Buyer Corp")
    person = await contact(
        crm,
        tenant,
        first_name="Bea",
        last_name="Buyer",
        email="Bea@Buyer.example",
        company_id=buyer.id,
    )
    deal = await opportunity(
        crm,
        tenant,
        name="Big deal",
        amount=eur(1234_56),
        contact_id=person.id,
        company_id=buyer.id,
    )
    won = await crm.stub.WinOpportunity(
        pb.WinOpportunityRequest(id=deal.id, amount=eur(1200_00)), metadata=tenant.token
    )
    assert (won.status, won.amount) == (crm_pb2.OPPORTUNITY_STATUS_WON, eur(1200_00))
    event = crm_pb2.OpportunityWon()
    envelope = await published(
        auth, tenant, "crm.opportunity.won", event, lambda e: e.opportunity.id == deal.id
    )
    assert envelope.aggregate_id == deal.id
    assert event.opportunity == won
    assert event.amount == eur(1200_00)  # the final amount, not the expected one
    assert event.bill_to == crm_pb2.BillTo(
        company_id=buyer.id,
        company_name="Buyer Corp",
        contact_id=person.id,
        contact_name="Bea Buyer",
        email="Bea@Buyer.example",
    )

    # A deal without a company or contact is billed to nobody in particular.
    bare = await opportunity(crm, tenant, name="Bare deal", amount=eur(99))
    await crm.stub.WinOpportunity(pb.WinOpportunityRequest(id=bare.id), metadata=tenant.token)
    event = crm_pb2.OpportunityWon()
    await published(
        auth, tenant, "crm.opportunity.won", event, lambda e: e.opportunity.id == bare.id
    )
    assert (event.amount, event.bill_to) == (eur(99), crm_pb2.BillTo())


# ---- the `contacts` limit and usage ----------------------------------------------------

FREE_CONTACTS = 500  # svc_billing.domain.catalog DEFAULT_PLANS["free"]


@contextmanager
def crm_gated_by(crm: Crm, billing: Billing) -> Iterator[None]:
    """crm checks plans against billing for the duration; later tests get it back ungated."""
    cache = crm.running.runtime.entitlements
    gate_crm_by(crm, billing)
    try:
        yield
    finally:
        cache.fetch = None
        cache.clear()


@contextmanager
def crm_clock_kept(crm: Crm) -> Iterator[None]:
    before = crm.clock.now
    try:
        yield
    finally:
        crm.clock.now = before


async def crm_sees_plan(crm: Crm, tenant: Tenant, plan_id: str) -> None:
    cache = crm.running.runtime.entitlements

    async def probe() -> bool | None:
        found = cache.get(tenant.tenant_id) or await cache.lookup(tenant.tenant_id)
        return True if found is not None and found.plan_id == plan_id else None

    await eventually(probe)


async def contacts_used(billing: Billing, tenant: Tenant, count: int) -> None:
    """Wait until billing's `contacts` gauge reads `count` (usage arrives by event)."""

    async def probe() -> bool | None:
        metric = (await usage_of(billing, tenant)).get("contacts")
        return True if metric is not None and metric.value == count else None

    await eventually(probe, within=20.0)


async def test_contacts_limit_and_usage(auth: Auth, crm: Crm, billing: Billing) -> None:
    tenant = await billing_tenant(auth, billing, "Limited Ltd")
    with crm_gated_by(crm, billing), crm_clock_kept(crm):
        step = iter(range(1, 100))

        def tick() -> None:  # usage inside billing's period, each report later than the last
            crm.clock.now = billing.clock.now + timedelta(minutes=next(step))

        await change_plan(billing, tenant, "free")
        await crm_sees_plan(crm, tenant, "free")

        tick()

        async def rows() -> AsyncIterator[pb.ImportContactsRequest]:
            for i in range(FREE_CONTACTS + 1):
                yield pb.ImportContactsRequest(
                    import_id="fill",
                    contact=crm_pb2.Contact(first_name="Row", last_name=f"N{i:03d}"),
                )

        imported = await crm.stub.ImportContacts(rows(), metadata=tenant.token)
        assert (imported.totals.created, imported.totals.errors) == (FREE_CONTACTS, 1)
        last = imported.results[-1]
        assert (last.row, last.outcome, last.message) == (
            FREE_CONTACTS + 1,
            pb.IMPORT_OUTCOME_ERROR,
            f"the plan allows {FREE_CONTACTS} contacts",
        )
        await contacts_used(billing, tenant, FREE_CONTACTS)

        tick()
        request = pb.CreateContactRequest(
            contact=crm_pb2.Contact(first_name="One", last_name="More")
        )
        error = await fails(
            crm.stub.CreateContact(request, metadata=tenant.token),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        info = error_info(error)
        assert info.reason == "LIMIT_REACHED"
        assert dict(info.metadata) == {
            "limit": "contacts",
            "allowed": str(FREE_CONTACTS),
            "plan": "free",
        }
        listed = await crm.stub.ListContacts(
            pb.ListContactsRequest(filter="first_name = One"), metadata=tenant.token
        )
        assert len(listed.contacts) == 0  # nothing was made

        # Archiving one frees a place; the gauge follows the live count.
        first = imported.results[0].contact_id
        await crm.stub.ArchiveContact(pb.ArchiveContactRequest(id=first), metadata=tenant.token)
        await contacts_used(billing, tenant, FREE_CONTACTS - 1)
        tick()
        made = await crm.stub.CreateContact(request, metadata=tenant.token)
        assert made.first_name == "One"
        await contacts_used(billing, tenant, FREE_CONTACTS)

        # Restoring the archived one would pass the limit again.
        tick()
        error = await fails(
            crm.stub.RestoreContact(pb.RestoreContactRequest(id=first), metadata=tenant.token),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        assert error_info(error).reason == "LIMIT_REACHED"
        still = await crm.stub.GetContact(pb.GetContactRequest(id=first), metadata=tenant.token)
        assert still.archived is True

        # A plan with room lets it through.
        await change_plan(billing, tenant, "starter")
        await crm_sees_plan(crm, tenant, "starter")
        tick()
        back = await crm.stub.RestoreContact(
            pb.RestoreContactRequest(id=first), metadata=tenant.token
        )
        assert back.archived is False
    assert crm.running.runtime.entitlements.fetch is None


async def test_an_import_publishes_its_contacts_in_chunks(auth: Auth, crm: Crm) -> None:
    """One crm.contacts.imported per 500 created contacts, in row order, each contact as
    GetContact shows it; duplicates and bad rows are not in them."""
    from svc_crm.app.imports import EVENT_CHUNK

    tenant = await new_tenant(auth, "Imports Ltd")
    count = EVENT_CHUNK + 20
    rows = [
        pb.ImportContactsRequest(
            import_id="evt-1",
            contact=crm_pb2.Contact(first_name=f"R{i}", email=f"r{i}@imp.example"),
        )
        for i in range(count)
    ]
    rows.append(pb.ImportContactsRequest(import_id="evt-1", contact=crm_pb2.Contact(email="bad")))
    rows.append(
        pb.ImportContactsRequest(
            import_id="evt-1", contact=crm_pb2.Contact(first_name="Dup", email="R0@imp.example")
        )
    )
    answer = await crm.stub.ImportContacts(iter(rows), metadata=tenant.token)
    created_ids = [r.contact_id for r in answer.results if r.outcome == pb.IMPORT_OUTCOME_CREATED]
    assert len(created_ids) == count
    chunks: list[list[str]] = []
    for first_row in (0, EVENT_CHUNK):
        event = crm_pb2.ContactsImported()
        envelope = await published(
            auth,
            tenant,
            "crm.contacts.imported",
            event,
            lambda e, at=first_row: e.contacts[0].first_name == f"R{at}",
        )
        assert (event.import_id, envelope.aggregate_id) == ("evt-1", "evt-1")
        chunks.append([c.id for c in event.contacts])
        if first_row == 0:
            shown = await crm.stub.GetContact(
                pb.GetContactRequest(id=event.contacts[1].id), metadata=tenant.token
            )
            assert event.contacts[1] == shown
    assert chunks[0] + chunks[1] == created_ids
    assert [len(c) for c in chunks] == [EVENT_CHUNK, 20]
