"""Deal reports: the open pipeline per stage, the forecast per month, win rates per
owner. SQL groups and sums; `svc_crm.domain.forecast` does the arithmetic.
Archived opportunities count nowhere."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from google.type import date_pb2
from sqlalchemy import func, select

from erp.crm.v1 import crm_service_pb2 as spb
from mesh.context import current_tenant
from mesh.errors import InvalidArgument, Violations
from svc_crm import convert
from svc_crm.app import pipelines
from svc_crm.app.common import Deps
from svc_crm.domain.deals import DealStatus
from svc_crm.domain.forecast import (
    ClosedSum,
    ForecastSum,
    StageInfo,
    StageSum,
    WinRate,
    add_months,
    fold_months,
    stage_lines,
    win_rates,
)
from svc_crm.store import OpportunityRow, Pipelines, StageRow

FORECAST_MONTHS = 12
OP = OpportunityRow


async def pipeline_report(deps: Deps, pipeline_id: str) -> spb.GetPipelineReportResponse:
    """Open deals of the pipeline (the default one when none is named) per stage and
    currency, in stage order."""
    if not pipeline_id:
        pipeline_id = (await pipelines.default_pipeline(deps)).id
    async with deps.db.sessions() as session:
        pipeline = await Pipelines(session).get(pipeline_id)
        stages = await pipelines.stages_of(session, pipeline.id)
        stmt = (
            select(OP.stage_id, OP.currency, func.count(), func.sum(OP.amount_minor))
            .where(
                OP.tenant_id == current_tenant(),
                OP.pipeline_id == pipeline.id,
                OP.status == DealStatus.OPEN.value,
                OP.archived.is_(False),
            )
            .group_by(OP.stage_id, OP.currency)
        )
        sums = [
            StageSum(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in await session.execute(stmt)
        ]
    lines = stage_lines([StageInfo(s.id, s.name, s.win_probability) for s in stages], sums)
    out = spb.GetPipelineReportResponse(pipeline_id=pipeline.id)
    for line in lines:
        total = out.stages.add(
            stage_id=line.stage.id,
            stage_name=line.stage.name,
            win_probability=line.stage.win_probability,
            count=line.count,
        )
        if line.currency:
            total.value.CopyFrom(convert.money(line.currency, line.value))
            total.weighted_value.CopyFrom(convert.money(line.currency, line.weighted_value))
    return out


EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)


def _day(value: date_pb2.Date, field: str) -> date | None:
    """A report's date: a calendar date in 1970..9998 (later ones overflow the window
    arithmetic), or None when unset."""
    day = convert.from_day(value, field)
    if day is not None and not EARLIEST <= day <= LATEST:
        raise InvalidArgument.one(field, f"a date from {EARLIEST} to {LATEST}")
    return day


async def forecast_report(
    deps: Deps, start_date: date_pb2.Date, end_date: date_pb2.Date, owner_id: str
) -> spb.GetForecastReportResponse:
    """Open deals expected to close from start to end (both included) per month and
    currency, weighted by each deal's stage probability."""
    # By default the current month and the eleven after it, whole months.
    start = _day(start_date, "start_date") or deps.now().date().replace(day=1)
    end = _day(end_date, "end_date") or add_months(start, FORECAST_MONTHS) - timedelta(days=1)
    if end < start:
        raise InvalidArgument.one("end_date", "must not be before start_date")
    s = StageRow
    stmt = (
        select(
            OP.expected_close,
            OP.stage_id,
            func.coalesce(s.win_probability, 0),
            OP.currency,
            func.count(),
            func.sum(OP.amount_minor),
        )
        .outerjoin(s, (s.tenant_id == OP.tenant_id) & (s.id == OP.stage_id))
        .where(
            OP.tenant_id == current_tenant(),
            OP.status == DealStatus.OPEN.value,
            OP.archived.is_(False),
            OP.expected_close.is_not(None),
            OP.expected_close >= start,
            OP.expected_close <= end,
        )
        .group_by(OP.expected_close, OP.stage_id, s.win_probability, OP.currency)
    )
    if owner_id:
        stmt = stmt.where(OP.owner_id == owner_id)
    async with deps.db.sessions() as session:
        sums = [
            ForecastSum(r[0], r[1], int(r[2]), r[3], int(r[4]), int(r[5] or 0))
            for r in await session.execute(stmt)
            if r[0] is not None
        ]
    out = spb.GetForecastReportResponse()
    for line in fold_months(sums):
        out.months.add(
            month=line.month,
            count=line.count,
            value=convert.money(line.currency, line.value),
            weighted_value=convert.money(line.currency, line.weighted_value),
        )
    return out


def _owner_rate(rate: WinRate) -> spb.OwnerWinRate:
    return spb.OwnerWinRate(
        owner_id=rate.owner_id,
        won=rate.won,
        lost=rate.lost,
        win_rate_bps=rate.win_rate_bps,
        won_value=[convert.money(c, v) for c, v in sorted(rate.won_value.items())],
    )


async def win_rate_report(
    deps: Deps, start_date: date_pb2.Date, end_date: date_pb2.Date
) -> spb.GetWinRateReportResponse:
    """Deals won and lost with a close time in [start 00:00 UTC, end + 1 day 00:00 UTC)."""
    problems = Violations()
    days = []
    for value, field in ((start_date, "start_date"), (end_date, "end_date")):
        try:
            day = _day(value, field)
        except InvalidArgument as bad:
            problems.extend(bad.violations)
            continue
        if day is None:
            problems.add(field, "is required")
        days.append(day)
    problems.raise_if_any()
    start, end = days
    assert start is not None and end is not None
    if end < start:
        raise InvalidArgument.one("end_date", "must not be before start_date")
    since = datetime.combine(start, time.min, tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
    stmt = (
        select(OP.owner_id, OP.status, OP.currency, func.count(), func.sum(OP.amount_minor))
        .where(
            OP.tenant_id == current_tenant(),
            OP.status.in_((DealStatus.WON.value, DealStatus.LOST.value)),
            OP.archived.is_(False),
            OP.closed_at >= since,
            OP.closed_at < until,
        )
        .group_by(OP.owner_id, OP.status, OP.currency)
    )
    async with deps.db.sessions() as session:
        sums = [
            ClosedSum(r[0], r[1], r[2], int(r[3]), int(r[4] or 0))
            for r in await session.execute(stmt)
        ]
    owners, total = win_rates(sums)
    return spb.GetWinRateReportResponse(
        owners=[_owner_rate(r) for r in owners], total=_owner_rate(total)
    )
