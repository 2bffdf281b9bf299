"""Usage records: validation per index, and each aggregation on hand-made data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mesh.errors import InvalidArgument
from svc_billing.domain.usage import (
    METRICS,
    Aggregation,
    UsageRecord,
    aggregate,
    aggregation_for,
    validate_records,
)

T0 = datetime(2027, 4, 1, tzinfo=UTC)
T1 = datetime(2027, 4, 2, tzinfo=UTC)
T2 = datetime(2027, 4, 3, tzinfo=UTC)


def rec(tx: str, value: int, subject: str = "", at: datetime | None = T0) -> UsageRecord:
    return UsageRecord(tx, "ai_tokens", value, subject, at)


RECORDS = [
    rec("t1", 100, "u1", T0),
    rec("t2", 250, "u2", T2),
    rec("t3", 50, "u1", T1),
    rec("t4", 0, "", T1),
]


@pytest.mark.parametrize(
    ("kind", "records", "expected"),
    [
        (Aggregation.COUNT, RECORDS, 4),
        (Aggregation.SUM, RECORDS, 400),  # 100 + 250 + 50 + 0
        (Aggregation.MAX, RECORDS, 250),
        (Aggregation.UNIQUE_COUNT, RECORDS, 2),  # u1, u2; the empty subject is not one
        (Aggregation.LATEST, RECORDS, 250),  # t2 at T2 is the newest
        (Aggregation.COUNT, [], 0),
        (Aggregation.SUM, [], 0),
        (Aggregation.MAX, [], 0),
        (Aggregation.UNIQUE_COUNT, [], 0),
        (Aggregation.LATEST, [], 0),
        # a tie on time: the greater transaction_id wins, whatever the order
        (Aggregation.LATEST, [rec("b", 7, at=T1), rec("a", 9, at=T1)], 7),
        (Aggregation.LATEST, [rec("a", 9, at=T1), rec("b", 7, at=T1)], 7),
        # LATEST is by time, not by arrival
        (Aggregation.LATEST, [rec("z", 3, at=T2), rec("a", 5, at=T0)], 3),
    ],
)
def test_aggregate(kind: Aggregation, records: list[UsageRecord], expected: int) -> None:
    assert aggregate(kind, records) == expected


def test_aggregate_counts_duplicates_it_is_given() -> None:
    # De-duplication by transaction_id is the store's job: given twice, counted twice.
    twice = [rec("t1", 100), rec("t1", 100)]
    assert aggregate(Aggregation.SUM, twice) == 200
    assert aggregate(Aggregation.COUNT, twice) == 2
    assert aggregate(Aggregation.MAX, twice) == 100


def test_aggregate_accepts_any_iterable() -> None:
    assert aggregate(Aggregation.SUM, iter(RECORDS)) == 400


@pytest.mark.parametrize(
    ("metric", "kind"),
    [
        ("api_calls", Aggregation.COUNT),
        ("ai_tokens", Aggregation.SUM),
        ("storage_gb", Aggregation.MAX),
        ("active_users", Aggregation.UNIQUE_COUNT),
        ("contacts", Aggregation.LATEST),
        ("widgets_built", Aggregation.SUM),  # unknown metrics add up
    ],
)
def test_aggregation_for(metric: str, kind: Aggregation) -> None:
    assert aggregation_for(metric) is kind


def test_users_are_not_metered() -> None:
    assert "users" not in METRICS


def test_valid_records_pass() -> None:
    validate_records(RECORDS)


def test_every_bad_field_is_named_by_index() -> None:
    bad = [
        rec("ok", 1),
        UsageRecord("", "ai_tokens", 1, "", T0),
        UsageRecord("t", "AI-Tokens", 1, "", T0),
        UsageRecord("t", "x", 1, "", T0),  # one character is too short
        UsageRecord("t", "ai_tokens", -1, "", T0),
        UsageRecord("t", "ai_tokens", 1, "", None),
        UsageRecord("t", "ai_tokens", 1, "", datetime(2027, 4, 1)),
        UsageRecord("x" * 129, "9lives", 1, "", T0),
    ]
    with pytest.raises(InvalidArgument) as caught:
        validate_records(bad)
    assert [v.field for v in caught.value.violations] == [
        "records[1].transaction_id",
        "records[2].metric",
        "records[3].metric",
        "records[4].value",
        "records[5].occur_time",
        "records[6].occur_time",
        "records[7].transaction_id",
        "records[7].metric",
    ]


def test_batch_size_bounds() -> None:
    for batch in ([], [rec(f"t{i}", 1) for i in range(1001)]):
        with pytest.raises(InvalidArgument) as caught:
            validate_records(batch)
        assert [v.field for v in caught.value.violations] == ["records"]
    validate_records([rec(f"t{i}", 1) for i in range(1000)])
