"""Usage metering: records counted once per transaction id, seats from auth's
user events, and usage per metric for the current period."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth.v1 import auth_pb2
from erp.billing.v1 import billing_pb2 as pb
from erp.common.v1 import event_pb2
from mesh.errors import Aborted
from mesh.timestamps import from_timestamp
from svc_billing import convert
from svc_billing.app.common import Deps
from svc_billing.app.entitlements import limits_of
from svc_billing.domain import subscription as rules
from svc_billing.domain.catalog import LIMITS
from svc_billing.domain.usage import (
    METRICS,
    Aggregation,
    UsageRecord,
    aggregation_for,
    validate_records,
)
from svc_billing.store import Seats, Subscriptions, Usage, UsageRow

SEATS = "users"  # the limit counted from members, not from usage records


def records_of(messages: Sequence[pb.UsageRecord]) -> list[UsageRecord]:
    return [
        UsageRecord(
            transaction_id=m.transaction_id,
            metric=m.metric,
            value=m.value,
            subject=m.subject,
            occurred_at=(
                from_timestamp(m.occur_time, f"records[{i}].occur_time")
                if m.HasField("occur_time")
                else None
            ),
        )
        for i, m in enumerate(messages)
    ]


@dataclass(frozen=True)
class Ingested:
    accepted: int
    duplicates: int


async def ingest(session: AsyncSession, records: Sequence[UsageRecord], now: datetime) -> Ingested:
    """Add the records whose transaction ids are new (also within the batch)."""
    validate_records(records)
    repo = Usage(session)
    seen = await repo.known([r.transaction_id for r in records])
    accepted = 0
    for record in records:
        if record.transaction_id in seen:
            continue
        seen.add(record.transaction_id)
        assert record.occurred_at is not None  # validated
        repo.add(
            UsageRow(
                transaction_id=record.transaction_id,
                metric=record.metric,
                value=record.value,
                subject=record.subject,
                occurred_at=record.occurred_at,
                recorded_at=now,
            )
        )
        accepted += 1
    return Ingested(accepted, len(records) - accepted)


async def record(deps: Deps, messages: Sequence[pb.UsageRecord]) -> Ingested:
    try:
        async with deps.db.transaction() as session:
            return await ingest(session, records_of(messages), deps.now())
    except IntegrityError:
        # A concurrent batch carried one of the same ids and committed first.
        raise Aborted(
            "another batch with some of these transaction ids was recorded at the same "
            "time; retry: the ids already counted will be reported as duplicates",
            reason="USAGE_CONFLICT",
        ) from None


async def on_usage_reported(
    session: AsyncSession, envelope: event_pb2.EventEnvelope, payload: pb.UsageReported
) -> None:
    await ingest(session, records_of(payload.records), datetime.now(UTC))


async def on_user_created(
    session: AsyncSession, envelope: event_pb2.EventEnvelope, payload: auth_pb2.UserCreated
) -> None:
    at = envelope.occurred_at.ToDatetime(tzinfo=UTC)
    await Seats(session).set(payload.user.user_id, True, at)


async def on_user_deactivated(
    session: AsyncSession, envelope: event_pb2.EventEnvelope, payload: auth_pb2.UserDeactivated
) -> None:
    at = envelope.occurred_at.ToDatetime(tzinfo=UTC)
    await Seats(session).set(payload.user_id, False, at)


async def value(
    session: AsyncSession, metric: str, period: tuple[datetime, datetime]
) -> tuple[Aggregation, int]:
    if metric == SEATS:
        return Aggregation.LATEST, await Seats(session).active_count()
    kind = aggregation_for(metric)
    return kind, await Usage(session).aggregate(metric, str(kind), *period)


async def in_use(session: AsyncSession, sub: rules.Subscription) -> dict[str, int]:
    """What each limit is measured against now (for refusing a downgrade)."""
    period = (sub.period_start, sub.period_end)
    return {name: (await value(session, name, period))[1] for name in LIMITS}


@dataclass(frozen=True)
class PeriodUsage:
    start: datetime
    end: datetime
    metrics: list[tuple[str, Aggregation, int, int | None]]  # name, kind, value, limit


async def current(deps: Deps) -> PeriodUsage:
    async with deps.db.sessions() as session:
        row = await Subscriptions(session).get_current()
        sub = convert.subscription(row)
        period = (sub.period_start, sub.period_end)
        _, _, limits = await limits_of(session, sub)
        names = set(LIMITS) | set(METRICS) | set(await Usage(session).metrics_in_period(*period))
        found = []
        for name in sorted(names):
            kind, amount = await value(session, name, period)
            found.append((name, kind, amount, limits.get(name)))
    return PeriodUsage(period[0], period[1], found)
