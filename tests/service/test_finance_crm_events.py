"""svc_finance consuming other services' events through JetStream alone (no call
between the services): a deal won in svc_crm becomes one draft invoice, however
often its event arrives, and a tenant signed up in svc_auth gets its books."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import nats
from auth_harness import Auth  # type: ignore[import-not-found]
from crm_client import company, contact, opportunity  # type: ignore[import-not-found]
from crm_harness import Crm  # type: ignore[import-not-found]
from finance_client import (  # type: ignore[import-not-found]
    INVOICE,
    Tenant,
    day,
    eur,
    money,
    new_tenant,
)
from finance_harness import Finance  # type: ignore[import-not-found]
from jetstream_probe import read_event  # type: ignore[import-not-found]
from sqlalchemy import func, select

from erp.auth.v1 import auth_pb2
from erp.common.v1 import event_pb2
from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as cpb
from erp.finance.v1 import finance_pb2 as fpb
from erp.finance.v1 import finance_service_pb2 as pb
from mesh.events import subject_for
from svc_finance.domain.chart import DEFAULT_CHART
from svc_finance.store import TABLES, AccountRow, BooksRow

WITHIN = 20.0  # seconds for an event to travel relay → JetStream → consumer
T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll `probe` until it answers something, at most WITHIN seconds."""
    deadline = asyncio.get_running_loop().time() + WITHIN
    while True:
        found = await probe()
        if found is not None:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def drafts_of(finance: Finance, tenant: Tenant, deal_id: str) -> list[fpb.Invoice]:
    listed = await finance.stub.ListInvoices(
        pb.ListInvoicesRequest(page_size=500), metadata=tenant.token
    )
    return [i for i in listed.invoices if i.opportunity_id == deal_id]


async def draft_of(finance: Finance, tenant: Tenant, deal_id: str) -> fpb.Invoice:
    async def probe() -> fpb.Invoice | None:
        found = await drafts_of(finance, tenant, deal_id)
        return found[0] if found else None

    return await eventually(probe, f"a draft invoice for opportunity {deal_id}")


async def win(crm: Crm, tenant: Tenant, deal_id: str, **fields: object) -> crm_pb2.Opportunity:
    won: crm_pb2.Opportunity = await crm.stub.WinOpportunity(
        cpb.WinOpportunityRequest(id=deal_id, **fields),  # type: ignore[arg-type]
        metadata=tenant.token,
    )
    return won


async def won_event(auth: Auth, tenant: Tenant, deal_id: str) -> event_pb2.EventEnvelope:
    envelope: event_pb2.EventEnvelope = await read_event(
        auth.nats_url,
        subject_for("crm.opportunity.won", tenant.tenant_id),
        crm_pb2.OpportunityWon(),
        match=lambda e: e.opportunity.id == deal_id,
    )
    return envelope


async def publish_raw(nats_url: str, subject: str, *envelopes: event_pb2.EventEnvelope) -> None:
    """Put envelopes on JetStream as a relay would, but without Nats-Msg-Id: the
    broker keeps them all, so the consumer sees each again."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for envelope in envelopes:
            await js.publish(subject, envelope.SerializeToString())
    finally:
        await nc.close()


async def test_a_won_deal_becomes_a_draft_invoice(auth: Auth, crm: Crm, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    buyer = await company(crm, tenant, "Analytical Engines plc")
    person = await contact(
        crm, tenant, first_name="Ada", last_name="Lovelace", email="ada@engines.example.com"
    )
    deal = await opportunity(
        crm, tenant, amount=eur(10_000_00), contact_id=person.id, company_id=buyer.id
    )
    await win(crm, tenant, deal.id, amount=eur(12_345_67))

    made = await draft_of(finance, tenant, deal.id)
    won_on = (await won_event(auth, tenant, deal.id)).occurred_at.ToDatetime().date()
    assert (made.kind, made.state, made.number, made.entry_id) == (
        INVOICE,
        fpb.INVOICE_STATE_DRAFT,
        "",
        "",
    )
    assert made.party == fpb.Party(
        name="Analytical Engines plc",
        email="ada@engines.example.com",
        crm_company_id=buyer.id,
        crm_contact_id=person.id,
    )
    assert (made.currency_code, made.subtotal, made.tax_total, made.total) == (
        "EUR",
        eur(12_345_67),
        eur(0),
        eur(12_345_67),
    )
    assert [(li.description, li.quantity, li.unit_price, li.tax_rate_bps) for li in made.lines] == [
        (deal.name, "1", eur(12_345_67), 0)
    ]
    assert (made.issue_date, made.due_date) == (day(won_on), day(won_on + timedelta(days=30)))
    assert made.memo == f"Won opportunity {deal.name}"

    drafted = fpb.InvoiceDrafted()
    await read_event(
        auth.nats_url,
        subject_for("finance.invoice.drafted", tenant.tenant_id),
        drafted,
        match=lambda e: e.invoice.id == made.id,
    )
    assert drafted.invoice == made

    # an ordinary draft from then on: it posts and gets the year's first number
    done = await finance.stub.PostInvoice(pb.PostInvoiceRequest(id=made.id), metadata=tenant.token)
    assert (done.invoice.number, done.invoice.opportunity_id) == (
        f"INV-{won_on.year}-000001",
        deal.id,
    )


async def test_a_deal_with_a_contact_only_in_dollars(
    auth: Auth, crm: Crm, finance: Finance
) -> None:
    tenant = await new_tenant(auth)
    person = await contact(
        crm, tenant, first_name="Grace", last_name="Hopper", email="grace@navy.example.com"
    )
    deal = await opportunity(crm, tenant, amount=money("USD", 999_99), contact_id=person.id)
    await win(crm, tenant, deal.id)

    made = await draft_of(finance, tenant, deal.id)
    assert made.party == fpb.Party(
        name="Grace Hopper", email="grace@navy.example.com", crm_contact_id=person.id
    )
    assert (made.currency_code, made.total) == ("USD", money("USD", 999_99))


async def test_the_same_won_event_twice_makes_one_draft(
    auth: Auth, crm: Crm, finance: Finance
) -> None:
    tenant = await new_tenant(auth)
    deal = await opportunity(crm, tenant, amount=eur(500_00))
    await win(crm, tenant, deal.id)
    first = await draft_of(finance, tenant, deal.id)

    # The very same event again (the consumer's inbox knows its id), and the same
    # win under a new event id (only the deal tells it is the same).
    envelope = await won_event(auth, tenant, deal.id)
    copy = event_pb2.EventEnvelope()
    copy.CopyFrom(envelope)
    copy.event_id = str(uuid.uuid4())
    subject = subject_for("crm.opportunity.won", tenant.tenant_id)
    await publish_raw(auth.nats_url, subject, envelope, copy, envelope)

    # A later win is consumed after those (one consumer, in stream order): once its
    # draft is there, the repeats have been handled.
    marker = await opportunity(crm, tenant, amount=eur(1_00))
    await win(crm, tenant, marker.id)
    await draft_of(finance, tenant, marker.id)
    assert await drafts_of(finance, tenant, deal.id) == [first]
    listed = await finance.stub.ListInvoices(pb.ListInvoicesRequest(), metadata=tenant.token)
    assert sorted(i.opportunity_id for i in listed.invoices) == sorted([deal.id, marker.id])


async def books_row(finance: Finance, tenant_id: str) -> BooksRow | None:
    async with finance.service.deps.db.sessions() as session:
        found: BooksRow | None = await session.scalar(
            select(BooksRow).where(BooksRow.tenant_id == tenant_id)
        )
        return found


async def accounts_stored(finance: Finance, tenant_id: str) -> int:
    async with finance.service.deps.db.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(AccountRow).where(AccountRow.tenant_id == tenant_id)
        )
        return int(count or 0)


async def handled_by(finance: Finance, consumer: str) -> set[str]:
    inbox = TABLES.inbox
    async with finance.service.deps.db.sessions() as session:
        rows = await session.execute(select(inbox.c.event_id).where(inbox.c.consumer == consumer))
        return {r[0] for r in rows}


async def test_a_new_tenant_gets_its_books_from_the_signup_event(
    auth: Auth, finance: Finance
) -> None:
    # No call to svc_finance until its books are there: only the event can seed them
    # (any finance RPC would seed them on first use).
    tenant = await new_tenant(auth)
    seeded = await eventually(lambda: books_row(finance, tenant.tenant_id), "the books")
    assert (seeded.company_currency, seeded.chain_seq, seeded.fiscal_year_start_month) == (
        "EUR",
        0,
        1,
    )
    signup = await read_event(
        auth.nats_url,
        subject_for("auth.tenant.created", tenant.tenant_id),
        auth_pb2.TenantCreated(),
        match=lambda e: e.tenant.tenant_id == tenant.tenant_id,
    )
    assert signup.event_id in await handled_by(finance, "finance-from-auth")
    assert await accounts_stored(finance, tenant.tenant_id) == len(DEFAULT_CHART)

    # the signup again, under a new id: the chart is not seeded twice
    copy = event_pb2.EventEnvelope()
    copy.CopyFrom(signup)
    copy.event_id = str(uuid.uuid4())
    await publish_raw(
        auth.nats_url, subject_for("auth.tenant.created", tenant.tenant_id), copy, signup
    )
    marker = await new_tenant(auth)
    await eventually(lambda: books_row(finance, marker.tenant_id), "the marker's books")
    assert copy.event_id in await handled_by(finance, "finance-from-auth")

    listed = await finance.stub.ListAccounts(
        pb.ListAccountsRequest(page_size=500), metadata=tenant.token
    )
    assert [(a.code, a.name, a.role) for a in listed.accounts] == [
        (a.code, a.name, a.role.value if a.role else "") for a in DEFAULT_CHART
    ]
    by_code = {a.code: a for a in listed.accounts}
    assert by_code["1200"].parent_id == by_code["1000"].id
    assert not any(a.used or a.archived for a in listed.accounts)
