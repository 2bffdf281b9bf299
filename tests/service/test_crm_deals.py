"""Pipelines and opportunities: the default pipeline seeded once, creating and
reshaping pipelines, bad deal inputs named field by field, moving, winning (with
what finance needs on the bus) and losing, and the three reports to the minor unit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
from auth_client import bad_fields, fails, reason  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from crm_client import (  # type: ignore[import-not-found]
    Tenant,
    company,
    contact,
    eur,
    new_tenant,
    opportunity,
)
from crm_harness import Crm  # type: ignore[import-not-found]
from google.type import date_pb2
from jetstream_probe import read_event  # type: ignore[import-not-found]

from erp.common.v1 import money_pb2
from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb
from svc_crm.domain.forecast import add_months

DEFAULT_STAGES = [
    ("Prospecting", 10),
    ("Qualification", 25),
    ("Proposal", 50),
    ("Negotiation", 75),
    ("Commit", 90),
]
OPEN = crm_pb2.OPPORTUNITY_STATUS_OPEN
WON = crm_pb2.OPPORTUNITY_STATUS_WON
LOST = crm_pb2.OPPORTUNITY_STATUS_LOST


def money(currency: str, amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount_minor)


def day(value: date) -> date_pb2.Date:
    return date_pb2.Date(year=value.year, month=value.month, day=value.day)


def stage(name: str, win_probability: int, stage_id: str = "") -> crm_pb2.Stage:
    return crm_pb2.Stage(id=stage_id, name=name, win_probability=win_probability)


def shape(p: crm_pb2.Pipeline) -> list[tuple[str, int, int]]:
    return [(s.name, s.win_probability, s.position) for s in p.stages]


async def pipelines_of(crm: Crm, tenant: Tenant) -> list[crm_pb2.Pipeline]:
    answer = await crm.stub.ListPipelines(pb.ListPipelinesRequest(), metadata=tenant.token)
    return list(answer.pipelines)


async def default_pipeline(crm: Crm, tenant: Tenant) -> crm_pb2.Pipeline:
    found = (await pipelines_of(crm, tenant))[0]
    assert found.is_default
    return found


@contextmanager
def clock_at(crm: Crm, when: datetime) -> Iterator[None]:
    """The service's clock at `when` for a while (it is shared: put back after)."""
    saved = crm.clock.now
    crm.clock.now = when
    try:
        yield
    finally:
        crm.clock.now = saved


# ---- pipelines ---------------------------------------------------------------------------


async def test_the_default_pipeline_is_seeded_once(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    found = await asyncio.gather(
        *(pipelines_of(crm, tenant) for _ in range(4)),
        opportunity(crm, tenant),
        opportunity(crm, tenant),
    )
    lists: list[list[crm_pb2.Pipeline]] = list(found[:4])
    deals: list[crm_pb2.Opportunity] = list(found[4:])
    assert all(len(ps) == 1 for ps in lists)
    sales = lists[0][0]
    assert all(ps[0] == sales for ps in lists)
    assert (sales.name, sales.is_default) == ("Sales", True)
    assert shape(sales) == [(n, p, i) for i, (n, p) in enumerate(DEFAULT_STAGES)]
    assert len({s.id for s in sales.stages}) == 5
    assert [(d.pipeline_id, d.stage_id) for d in deals] == [(sales.id, sales.stages[0].id)] * 2
    assert await pipelines_of(crm, tenant) == [sales]
    got = await crm.stub.GetPipeline(pb.GetPipelineRequest(id=sales.id), metadata=tenant.token)
    assert got == sales


async def test_create_and_reshape_a_pipeline(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    made = await crm.stub.CreatePipeline(
        pb.CreatePipelineRequest(
            name=" Enterprise ",
            stages=[stage("Discovery", 10), stage("Pilot", 40), stage("Contract", 80)],
        ),
        metadata=tenant.token,
    )
    assert (made.name, made.is_default) == ("Enterprise", False)
    assert shape(made) == [("Discovery", 10, 0), ("Pilot", 40, 1), ("Contract", 80, 2)]
    listed = await pipelines_of(crm, tenant)
    assert [(p.name, p.is_default) for p in listed] == [("Sales", True), ("Enterprise", False)]
    discovery, pilot, contract = (s.id for s in made.stages)

    error = await fails(
        crm.stub.CreatePipeline(
            pb.CreatePipelineRequest(name="Enterprise", stages=[stage("A", 1)]),
            metadata=tenant.token,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert reason(error) == "PIPELINE_EXISTS"
    for stages, fields in (
        ([], {"stages"}),
        ([stage("Won", 10), stage(" won ", 20)], {"stages[1].name"}),
        ([stage("A", 101), stage("", 5)], {"stages[0].win_probability", "stages[1].name"}),
    ):
        error = await fails(
            crm.stub.CreatePipeline(
                pb.CreatePipelineRequest(name="Other", stages=stages), metadata=tenant.token
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == fields

    # keep (renamed, re-weighted, re-ordered), add, remove
    changed = await crm.stub.UpdatePipeline(
        pb.UpdatePipelineRequest(
            pipeline=crm_pb2.Pipeline(
                id=made.id,
                name="Enterprise 2",
                stages=[
                    stage("Signature", 90, contract),
                    stage("Discovery", 15, discovery),
                    stage("Legal", 70),
                ],
            )
        ),
        metadata=tenant.token,
    )
    assert changed.name == "Enterprise 2"
    assert shape(changed) == [("Signature", 90, 0), ("Discovery", 15, 1), ("Legal", 70, 2)]
    assert [s.id for s in changed.stages][:2] == [contract, discovery]
    legal = changed.stages[2].id
    assert legal not in (discovery, pilot, contract)
    got = await crm.stub.GetPipeline(pb.GetPipelineRequest(id=made.id), metadata=tenant.token)
    assert got == changed

    error = await fails(
        crm.stub.UpdatePipeline(
            pb.UpdatePipelineRequest(
                pipeline=crm_pb2.Pipeline(
                    id=made.id, name="Enterprise 2", stages=[stage("Gone", 10, pilot)]
                )
            ),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"pipeline.stages[0].id"}

    # a stage with an open deal stays until the deal leaves it
    deal = await opportunity(crm, tenant, pipeline_id=made.id, stage_id=discovery)
    without_discovery = crm_pb2.Pipeline(
        id=made.id,
        name="Enterprise 2",
        stages=[stage("Signature", 90, contract), stage("Legal", 70, legal)],
    )
    error = await fails(
        crm.stub.UpdatePipeline(
            pb.UpdatePipelineRequest(pipeline=without_discovery), metadata=tenant.token
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "STAGE_IN_USE"
    assert "Discovery" in (error.details() or "")
    got = await crm.stub.GetPipeline(pb.GetPipelineRequest(id=made.id), metadata=tenant.token)
    assert got == changed
    await crm.stub.LoseOpportunity(
        pb.LoseOpportunityRequest(id=deal.id, reason="went quiet"), metadata=tenant.token
    )
    final = await crm.stub.UpdatePipeline(
        pb.UpdatePipelineRequest(pipeline=without_discovery), metadata=tenant.token
    )
    assert shape(final) == [("Signature", 90, 0), ("Legal", 70, 1)]

    # made the default: new deals without a pipeline go there
    promoted = await crm.stub.UpdatePipeline(
        pb.UpdatePipelineRequest(
            pipeline=crm_pb2.Pipeline(
                id=made.id, name="Enterprise 2", stages=final.stages, is_default=True
            )
        ),
        metadata=tenant.token,
    )
    assert promoted.is_default
    listed = await pipelines_of(crm, tenant)
    assert [(p.name, p.is_default) for p in listed] == [("Enterprise 2", True), ("Sales", False)]
    fresh = await opportunity(crm, tenant)
    assert (fresh.pipeline_id, fresh.stage_id) == (made.id, contract)


# ---- opportunities -------------------------------------------------------------------------


async def test_a_new_pipeline_can_be_the_default(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    big = await crm.stub.CreatePipeline(
        pb.CreatePipelineRequest(name="Big deals", stages=[stage("Pitch", 20)], is_default=True),
        metadata=tenant.token,
    )
    assert big.is_default
    listed = await pipelines_of(crm, tenant)
    assert [(p.name, p.is_default) for p in listed] == [("Big deals", True), ("Sales", False)]
    assert shape(listed[1]) == [(n, p, i) for i, (n, p) in enumerate(DEFAULT_STAGES)]
    deal = await opportunity(crm, tenant)
    assert (deal.pipeline_id, deal.stage_id) == (big.id, big.stages[0].id)

    # a tenant whose first pipeline is named like the default one: that is its default
    own = await new_tenant(auth)
    sales = await crm.stub.CreatePipeline(
        pb.CreatePipelineRequest(name="Sales", stages=[stage("Call", 30), stage("Close", 80)]),
        metadata=own.token,
    )
    assert await pipelines_of(crm, own) == [sales]
    assert sales.is_default and shape(sales) == [("Call", 30, 0), ("Close", 80, 1)]


async def test_bad_opportunities_name_their_fields(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    other = await new_tenant(auth)
    sales = await default_pipeline(crm, tenant)
    enterprise = await crm.stub.CreatePipeline(
        pb.CreatePipelineRequest(name="Enterprise", stages=[stage("Only", 50)]),
        metadata=tenant.token,
    )
    stranger = await contact(crm, other)
    good: dict[str, Any] = {"name": "Deal", "amount": eur(100)}
    for fields, expected in (
        ({"name": "  "}, {"opportunity.name"}),
        ({"stage_id": "no-such-stage"}, {"opportunity.stage_id"}),
        ({"stage_id": enterprise.stages[0].id}, {"opportunity.stage_id"}),
        ({"pipeline_id": enterprise.id, "stage_id": sales.stages[1].id}, {"opportunity.stage_id"}),
        ({"pipeline_id": "no-such-pipeline"}, {"opportunity.pipeline_id"}),
        ({"amount": money("EURO", 100)}, {"opportunity.amount.currency_code"}),
        ({"amount": money("eur", 100)}, {"opportunity.amount.currency_code"}),
        ({"amount": money("XXX", 100)}, {"opportunity.amount.currency_code"}),
        ({"amount": eur(-1)}, {"opportunity.amount.amount_minor"}),
        ({"contact_id": stranger.id}, {"opportunity.contact_id"}),
        (
            {"name": "", "amount": money("", -5), "stage_id": "nope"},
            {
                "opportunity.name",
                "opportunity.amount.currency_code",
                "opportunity.amount.amount_minor",
                "opportunity.stage_id",
            },
        ),
    ):
        error = await fails(
            crm.stub.CreateOpportunity(
                pb.CreateOpportunityRequest(opportunity=crm_pb2.Opportunity(**{**good, **fields})),
                metadata=tenant.token,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == expected, fields
    listed = await crm.stub.ListOpportunities(pb.ListOpportunitiesRequest(), metadata=tenant.token)
    assert list(listed.opportunities) == []
    ok = await opportunity(crm, tenant, pipeline_id=enterprise.id, amount=money("JPY", 5000))
    assert (ok.stage_id, ok.amount, ok.status) == (
        enterprise.stages[0].id,
        money("JPY", 5000),
        OPEN,
    )


async def test_move_win_and_lose(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    sales = await default_pipeline(crm, tenant)
    prospecting, _, proposal, negotiation, _ = (s.id for s in sales.stages)
    buyer = await company(crm, tenant, "Analytical Engines plc")
    person = await contact(
        crm, tenant, first_name="Ada", last_name="Lovelace", email="ada@engines.example.com"
    )
    deal = await opportunity(
        crm, tenant, amount=eur(10_000_00), contact_id=person.id, company_id=buyer.id
    )
    assert deal.stage_id == prospecting

    crm.clock.advance(seconds=1)
    moved = await crm.stub.MoveOpportunity(
        pb.MoveOpportunityRequest(id=deal.id, stage_id=proposal), metadata=tenant.token
    )
    assert (moved.stage_id, moved.status) == (proposal, OPEN)
    elsewhere = await crm.stub.CreatePipeline(
        pb.CreatePipelineRequest(name="Other", stages=[stage("X", 5)]), metadata=tenant.token
    )
    for target in (elsewhere.stages[0].id, "no-such-stage", ""):
        error = await fails(
            crm.stub.MoveOpportunity(
                pb.MoveOpportunityRequest(id=deal.id, stage_id=target), metadata=tenant.token
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {"stage_id"}
    timeline = await crm.stub.GetTimeline(
        pb.GetTimelineRequest(
            record=crm_pb2.RecordRef(kind=crm_pb2.RECORD_KIND_OPPORTUNITY, id=deal.id)
        ),
        metadata=tenant.token,
    )
    assert [(e.change.change, e.change.summary) for e in timeline.entries] == [
        ("stage_changed", "Stage: Prospecting → Proposal"),
        ("created", ""),
    ]

    error = await fails(
        crm.stub.WinOpportunity(
            pb.WinOpportunityRequest(id=deal.id, amount=money("EURO", 5)), metadata=tenant.token
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"amount.currency_code"}
    crm.clock.advance(seconds=1)
    won = await crm.stub.WinOpportunity(
        pb.WinOpportunityRequest(id=deal.id, amount=eur(12_345_67)), metadata=tenant.token
    )
    assert (won.status, won.amount, won.stage_id) == (WON, eur(12_345_67), proposal)
    assert won.close_time.ToDatetime(tzinfo=UTC) == crm.clock()

    event = crm_pb2.OpportunityWon()
    await read_event(
        auth.nats_url,
        f"erp.crm.{tenant.tenant_id}.opportunity.won",
        event,
        match=lambda e: e.opportunity.id == deal.id,
    )
    assert event.bill_to == crm_pb2.BillTo(
        company_id=buyer.id,
        company_name="Analytical Engines plc",
        contact_id=person.id,
        contact_name="Ada Lovelace",
        email="ada@engines.example.com",
    )
    assert event.amount == eur(12_345_67)
    assert event.opportunity == won

    for call in (
        crm.stub.MoveOpportunity(
            pb.MoveOpportunityRequest(id=deal.id, stage_id=negotiation), metadata=tenant.token
        ),
        crm.stub.WinOpportunity(pb.WinOpportunityRequest(id=deal.id), metadata=tenant.token),
        crm.stub.LoseOpportunity(
            pb.LoseOpportunityRequest(id=deal.id, reason="late"), metadata=tenant.token
        ),
        crm.stub.UpdateOpportunity(
            pb.UpdateOpportunityRequest(opportunity=crm_pb2.Opportunity(id=deal.id, name="New")),
            metadata=tenant.token,
        ),
    ):
        error = await fails(call, grpc.StatusCode.FAILED_PRECONDITION)
        assert reason(error) == "OPPORTUNITY_CLOSED"
    got = await crm.stub.GetOpportunity(pb.GetOpportunityRequest(id=deal.id), metadata=tenant.token)
    assert got == won

    other = await opportunity(crm, tenant)
    for blank in ("", "  "):
        error = await fails(
            crm.stub.LoseOpportunity(
                pb.LoseOpportunityRequest(id=other.id, reason=blank), metadata=tenant.token
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_fields(error) == {"reason"}
    lost = await crm.stub.LoseOpportunity(
        pb.LoseOpportunityRequest(id=other.id, reason=" Went with a competitor "),
        metadata=tenant.token,
    )
    assert (lost.status, lost.lost_reason) == (LOST, "Went with a competitor")
    assert lost.close_time.ToDatetime(tzinfo=UTC) == crm.clock()
    error = await fails(
        crm.stub.MoveOpportunity(
            pb.MoveOpportunityRequest(id=other.id, stage_id=proposal), metadata=tenant.token
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "OPPORTUNITY_CLOSED"
    lost_event = crm_pb2.OpportunityLost()
    await read_event(
        auth.nats_url,
        f"erp.crm.{tenant.tenant_id}.opportunity.lost",
        lost_event,
        match=lambda e: e.opportunity.id == other.id,
    )
    assert lost_event.opportunity == lost


# ---- reports ------------------------------------------------------------------------------


def lines(report: pb.GetPipelineReportResponse) -> list[tuple[Any, ...]]:
    return [
        (
            s.stage_name,
            s.win_probability,
            s.count,
            s.value.currency_code if s.HasField("value") else None,
            s.value.amount_minor,
            s.weighted_value.amount_minor,
        )
        for s in report.stages
    ]


async def test_pipeline_value_by_stage_and_currency(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    sales = await default_pipeline(crm, tenant)
    ids = {s.name: s.id for s in sales.stages}

    async def deal(stage_name: str, amount: money_pb2.Money) -> crm_pb2.Opportunity:
        found: crm_pb2.Opportunity = await opportunity(
            crm, tenant, stage_id=ids[stage_name], amount=amount
        )
        return found

    await deal("Prospecting", eur(5))
    await deal("Prospecting", eur(0))
    await deal("Prospecting", money("USD", 14))
    await deal("Qualification", eur(1001))  # 25% of 1001 + 25% of 1 is 250.5: 251 once
    await deal("Qualification", eur(1))
    await deal("Proposal", money("GBP", 333))
    await deal("Proposal", eur(100))
    won = await deal("Commit", eur(7_000))
    lost = await deal("Commit", eur(8_000))
    shelved = await deal("Commit", eur(9_000))
    await crm.stub.WinOpportunity(pb.WinOpportunityRequest(id=won.id), metadata=tenant.token)
    await crm.stub.LoseOpportunity(
        pb.LoseOpportunityRequest(id=lost.id, reason="no"), metadata=tenant.token
    )
    await crm.stub.ArchiveOpportunity(
        pb.ArchiveOpportunityRequest(id=shelved.id), metadata=tenant.token
    )
    side = await crm.stub.CreatePipeline(
        pb.CreatePipelineRequest(name="Side", stages=[stage("S1", 33), stage("S2", 0)]),
        metadata=tenant.token,
    )
    await opportunity(crm, tenant, pipeline_id=side.id, amount=eur(999))
    await opportunity(crm, tenant, pipeline_id=side.id, amount=eur(1))

    report = await crm.stub.GetPipelineReport(pb.GetPipelineReportRequest(), metadata=tenant.token)
    assert report.pipeline_id == sales.id
    assert lines(report) == [
        ("Prospecting", 10, 2, "EUR", 5, 1),  # 0.5 rounds up
        ("Prospecting", 10, 1, "USD", 14, 1),  # 1.4 rounds down
        ("Qualification", 25, 2, "EUR", 1002, 251),
        ("Proposal", 50, 1, "EUR", 100, 50),
        ("Proposal", 50, 1, "GBP", 333, 167),  # 166.5 rounds up
        ("Negotiation", 75, 0, None, 0, 0),
        ("Commit", 90, 0, None, 0, 0),  # won, lost and archived deals count nowhere
    ]
    assert [s.stage_id for s in report.stages] == [
        ids["Prospecting"],
        ids["Prospecting"],
        ids["Qualification"],
        ids["Proposal"],
        ids["Proposal"],
        ids["Negotiation"],
        ids["Commit"],
    ]
    assert all(
        s.weighted_value.currency_code == s.value.currency_code for s in report.stages if s.count
    )
    side_report = await crm.stub.GetPipelineReport(
        pb.GetPipelineReportRequest(pipeline_id=side.id), metadata=tenant.token
    )
    assert lines(side_report) == [("S1", 33, 2, "EUR", 1000, 330), ("S2", 0, 0, None, 0, 0)]
    await fails(
        crm.stub.GetPipelineReport(
            pb.GetPipelineReportRequest(pipeline_id="no-such-pipeline"), metadata=tenant.token
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_forecast_by_month(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    sales = await default_pipeline(crm, tenant)
    ids = {s.name: s.id for s in sales.stages}

    async def deal(
        closes: date | None, stage_name: str, amount: money_pb2.Money, **more: Any
    ) -> crm_pb2.Opportunity:
        fields: dict[str, Any] = {"stage_id": ids[stage_name], "amount": amount, **more}
        if closes is not None:
            fields["expected_close_date"] = day(closes)
        found: crm_pb2.Opportunity = await opportunity(crm, tenant, **fields)
        return found

    await deal(date(2031, 1, 15), "Qualification", eur(1001))
    await deal(date(2031, 1, 31), "Qualification", eur(1))  # with the one above: 250.5 -> 251
    await deal(date(2031, 1, 20), "Proposal", eur(333))  # 166.5 -> 167
    await deal(date(2031, 1, 10), "Prospecting", money("USD", 15))  # 1.5 -> 2
    await deal(date(2031, 2, 1), "Commit", eur(1000))  # 900
    await deal(date(2031, 2, 14), "Proposal", eur(500), owner_id="u-bob")  # 250
    await deal(date(2031, 3, 31), "Negotiation", eur(2))  # 1.5 -> 2, the window's last day
    await deal(date(2031, 4, 1), "Commit", eur(999))  # after the window
    await deal(date(2030, 12, 31), "Commit", eur(999))  # before it
    await deal(None, "Commit", eur(999))  # no expected close: in no month
    closed = await deal(date(2031, 1, 5), "Commit", eur(999))
    await crm.stub.WinOpportunity(pb.WinOpportunityRequest(id=closed.id), metadata=tenant.token)

    window = {"start_date": day(date(2031, 1, 1)), "end_date": day(date(2031, 3, 31))}
    report = await crm.stub.GetForecastReport(
        pb.GetForecastReportRequest(**window), metadata=tenant.token
    )
    assert [
        (
            m.month,
            m.value.currency_code,
            m.count,
            m.value.amount_minor,
            m.weighted_value.amount_minor,
        )
        for m in report.months
    ] == [
        ("2031-01", "EUR", 3, 1335, 418),
        ("2031-01", "USD", 1, 15, 2),
        ("2031-02", "EUR", 2, 1500, 1150),
        ("2031-03", "EUR", 1, 2, 2),
    ]
    bobs = await crm.stub.GetForecastReport(
        pb.GetForecastReportRequest(**window, owner_id="u-bob"), metadata=tenant.token
    )
    assert [(m.month, m.count, m.value, m.weighted_value) for m in bobs.months] == [
        ("2031-02", 1, eur(500), eur(250))
    ]

    # without a window: this month and the eleven after it, whole months
    first = crm.clock().date().replace(day=1)
    last = add_months(first, 12) - timedelta(days=1)
    await deal(first, "Commit", eur(10))
    await deal(last, "Commit", eur(20))
    await deal(last + timedelta(days=1), "Commit", eur(40))  # the thirteenth month
    await deal(first - timedelta(days=1), "Commit", eur(80))  # last month
    default = await crm.stub.GetForecastReport(pb.GetForecastReportRequest(), metadata=tenant.token)
    assert [(m.month, m.count, m.value) for m in default.months] == [
        (f"{first.year:04d}-{first.month:02d}", 1, eur(10)),
        (f"{last.year:04d}-{last.month:02d}", 1, eur(20)),
    ]
    error = await fails(
        crm.stub.GetForecastReport(
            pb.GetForecastReportRequest(start_date=day(date(9999, 6, 1))), metadata=tenant.token
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"start_date"}

    error = await fails(
        crm.stub.GetForecastReport(
            pb.GetForecastReportRequest(
                start_date=day(date(2031, 2, 1)), end_date=day(date(2031, 1, 31))
            ),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"end_date"}


async def test_win_rate_by_owner_for_a_period(auth: Auth, crm: Crm) -> None:
    tenant = await new_tenant(auth)
    alice, bob = tenant.owner_id, "u-bob"  # the caller owns what it makes without an owner

    async def close(owner: str, at: datetime, amount: money_pb2.Money, won: bool) -> str:
        made = await opportunity(
            crm, tenant, amount=amount, **({"owner_id": owner} if owner != alice else {})
        )
        assert made.owner_id == owner
        with clock_at(crm, at):
            if won:
                await crm.stub.WinOpportunity(
                    pb.WinOpportunityRequest(id=made.id), metadata=tenant.token
                )
            else:
                await crm.stub.LoseOpportunity(
                    pb.LoseOpportunityRequest(id=made.id, reason="no"), metadata=tenant.token
                )
        return str(made.id)

    march = datetime(2030, 3, 10, 12, 0, tzinfo=UTC)
    await close(alice, march, eur(1000), won=True)
    await close(alice, datetime(2030, 3, 31, 23, 59, 59, tzinfo=UTC), money("USD", 500), True)
    await close(alice, datetime(2030, 3, 1, 0, 0, tzinfo=UTC), eur(50), won=False)
    await close(bob, march + timedelta(days=5), eur(250), won=True)
    await close(bob, march + timedelta(days=10), eur(60), won=False)
    await close(bob, march + timedelta(days=10), eur(70), won=False)
    await close(bob, datetime(2030, 4, 1, 0, 0, tzinfo=UTC), eur(4000), won=True)  # after
    await close(bob, datetime(2030, 2, 28, 23, 59, 59, tzinfo=UTC), eur(80), won=False)  # before
    shelved = await close(bob, march, eur(5000), won=True)
    await crm.stub.ArchiveOpportunity(
        pb.ArchiveOpportunityRequest(id=shelved), metadata=tenant.token
    )
    await opportunity(crm, tenant, owner_id="u-carol")  # open: not closed in any period

    report = await crm.stub.GetWinRateReport(
        pb.GetWinRateReportRequest(
            start_date=day(date(2030, 3, 1)), end_date=day(date(2030, 3, 31))
        ),
        metadata=tenant.token,
    )
    expected = {
        alice: (2, 1, 6667, [eur(1000), money("USD", 500)]),
        bob: (1, 2, 3333, [eur(250)]),
    }
    assert [r.owner_id for r in report.owners] == sorted(expected)
    assert {
        r.owner_id: (r.won, r.lost, r.win_rate_bps, list(r.won_value)) for r in report.owners
    } == expected
    total = report.total
    assert (total.owner_id, total.won, total.lost, total.win_rate_bps) == ("", 3, 3, 5000)
    assert list(total.won_value) == [eur(1250), money("USD", 500)]

    april = await crm.stub.GetWinRateReport(
        pb.GetWinRateReportRequest(
            start_date=day(date(2030, 4, 1)), end_date=day(date(2030, 4, 1))
        ),
        metadata=tenant.token,
    )
    assert [(r.owner_id, r.won, r.lost, r.win_rate_bps) for r in april.owners] == [
        (bob, 1, 0, 10000)
    ]
    empty = await crm.stub.GetWinRateReport(
        pb.GetWinRateReportRequest(
            start_date=day(date(2029, 1, 1)), end_date=day(date(2029, 12, 31))
        ),
        metadata=tenant.token,
    )
    assert list(empty.owners) == [] and (empty.total.won, empty.total.win_rate_bps) == (0, 0)

    error = await fails(
        crm.stub.GetWinRateReport(pb.GetWinRateReportRequest(), metadata=tenant.token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"start_date", "end_date"}
    error = await fails(
        crm.stub.GetWinRateReport(
            pb.GetWinRateReportRequest(
                start_date=day(date(2030, 3, 2)), end_date=day(date(2030, 3, 1))
            ),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"end_date"}
