"""Usage metering: each transaction id counts once, every aggregation over the
current period only, and bad records named field by field."""

from __future__ import annotations

from datetime import datetime, timedelta

import grpc
from auth_client import bad_fields, fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import (  # type: ignore[import-not-found]
    Tenant,
    new_tenant,
    stamp,
    subscription,
    usage_of,
    when,
)
from billing_harness import Billing  # type: ignore[import-not-found]

from erp.billing.v1 import billing_pb2
from erp.billing.v1 import billing_service_pb2 as bpb


def record(
    tx: str, metric: str, at: datetime | None, value: int = 1, subject: str = ""
) -> billing_pb2.UsageRecord:
    found = billing_pb2.UsageRecord(transaction_id=tx, metric=metric, value=value, subject=subject)
    if at is not None:
        found.occur_time.CopyFrom(stamp(at))
    return found


async def send(
    billing: Billing, tenant: Tenant, *records: billing_pb2.UsageRecord
) -> tuple[int, int]:
    answer = await billing.stub.RecordUsage(
        bpb.RecordUsageRequest(records=list(records)), metadata=tenant.token
    )
    return answer.accepted, answer.duplicates


async def period_of(billing: Billing, tenant: Tenant) -> tuple[datetime, datetime]:
    sub = await subscription(billing, tenant)
    return when(sub.current_period_start), when(sub.current_period_end)


async def test_transaction_ids_count_once(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    start, _ = await period_of(billing, tenant)
    at = start + timedelta(hours=1)

    first = (record("t-1", "api_calls", at), record("t-2", "api_calls", at))
    assert await send(billing, tenant, *first, record("t-1", "api_calls", at)) == (2, 1)
    assert await send(
        billing, tenant, record("t-2", "api_calls", at), record("t-3", "api_calls", at)
    ) == (1, 1)
    assert await send(billing, tenant, *first) == (0, 2)  # a whole batch retried

    assert (await usage_of(billing, tenant))["api_calls"].value == 3
    other = await new_tenant(auth, billing)  # ids are per tenant
    assert await send(billing, other, record("t-1", "api_calls", at)) == (1, 0)


async def test_every_aggregation_over_the_current_period(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    start, end = await period_of(billing, tenant)
    t = start + timedelta(hours=1)
    before, after = start - timedelta(seconds=1), end  # the period is [start, end)
    assert await send(
        billing,
        tenant,
        record("c1", "api_calls", t),
        record("c2", "api_calls", t + timedelta(days=1)),
        record("c3", "api_calls", start),  # the first instant is in
        record("c4", "api_calls", before),
        record("c5", "api_calls", after),
        record("a1", "ai_tokens", t, 100),
        record("a2", "ai_tokens", t, 250),
        record("a3", "ai_tokens", before, 1000),
        record("s1", "storage_gb", t, 3),
        record("s2", "storage_gb", t, 7),
        record("s3", "storage_gb", t, 5),
        record("s4", "storage_gb", after, 99),
        record("u1", "active_users", t, subject="user-a"),
        record("u2", "active_users", t, subject="user-b"),
        record("u3", "active_users", t, subject="user-a"),
        record("u4", "active_users", t, subject=""),  # no subject: not a user
        record("u5", "active_users", before, subject="user-c"),
        record("k-1", "contacts", t + timedelta(seconds=5), 100),
        record("k-3", "contacts", t + timedelta(seconds=20), 35),
        record("k-2", "contacts", t + timedelta(seconds=20), 30),
        record("k-9", "contacts", t + timedelta(seconds=10), 40),
        record("k-0", "contacts", after, 999),
        record("w1", "widgets", t, 4),  # a custom metric sums
        record("w2", "widgets", t, 6),
    ) == (24, 0)

    answer = await billing.stub.GetUsage(bpb.GetUsageRequest(), metadata=tenant.token)
    assert (when(answer.period_start), when(answer.period_end)) == (start, end)
    found = {
        m.metric: (m.aggregation, m.value, m.limit if m.HasField("limit") else None)
        for m in answer.metrics
    }
    a = billing_pb2
    assert found == {
        "active_users": (a.AGGREGATION_UNIQUE_COUNT, 2, None),
        "ai_tokens": (a.AGGREGATION_SUM, 350, 1000000),
        "api_calls": (a.AGGREGATION_COUNT, 3, None),
        "contacts": (a.AGGREGATION_LATEST, 35, 50000),  # same instant: greater id wins
        "storage_gb": (a.AGGREGATION_MAX, 7, 100),
        "users": (a.AGGREGATION_LATEST, 1, 50),
        "widgets": (a.AGGREGATION_SUM, 10, None),
    }
    assert [m.metric for m in answer.metrics] == sorted(found)


async def test_bad_records_name_their_fields(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    start, _ = await period_of(billing, tenant)
    at = start + timedelta(hours=1)
    error = await fails(
        billing.stub.RecordUsage(
            bpb.RecordUsageRequest(
                records=[
                    record("ok-1", "api_calls", at),
                    record("", "api_calls", at),
                    record("bad-2", "Bad Metric!", at),
                    record("bad-3", "ai_tokens", at, value=-5),
                    record("x" * 129, "api_calls", at),
                    record("bad-5", "active_users", at, subject="s" * 257),
                ]
            ),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {
        "records[1].transaction_id",
        "records[2].metric",
        "records[3].value",
        "records[4].transaction_id",
        "records[5].subject",
    }
    error = await fails(
        billing.stub.RecordUsage(bpb.RecordUsageRequest(), metadata=tenant.token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"records"}
    # Nothing of a refused batch was counted: the good record is still new.
    assert await send(billing, tenant, record("ok-1", "api_calls", at)) == (1, 0)


async def test_a_time_beyond_the_year_9999_is_a_bad_field(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    start, _ = await period_of(billing, tenant)
    late = record("late-1", "api_calls", start + timedelta(hours=1))
    late.occur_time.seconds = 253402300800
    error = await fails(
        billing.stub.RecordUsage(
            bpb.RecordUsageRequest(records=[record("ok-1", "api_calls", start), late]),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"records[1].occur_time"}


async def test_missing_time_names_the_contract_field(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    error = await fails(
        billing.stub.RecordUsage(
            bpb.RecordUsageRequest(records=[record("no-time", "api_calls", None)]),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"records[0].occur_time"}


async def test_longest_valid_subject_and_transaction_id_are_stored(
    auth: Auth, billing: Billing
) -> None:
    tenant = await new_tenant(auth, billing)
    start, _ = await period_of(billing, tenant)
    long_subject = "s" * 256
    assert await send(
        billing,
        tenant,
        record("x" * 128, "active_users", start, subject=long_subject),
    ) == (1, 0)
    assert (await usage_of(billing, tenant))["active_users"].value == 1
