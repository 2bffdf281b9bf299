"""Usage metering: validating reported records and adding them up per metric.

De-duplication is not done here: each transaction_id counts once, and the store
enforces that across batches and retries (a unique key). `aggregate` counts
exactly the records it is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import assert_never

from mesh.errors import Violations


class Aggregation(StrEnum):
    COUNT = "count"  # number of records
    SUM = "sum"  # total of the values
    MAX = "max"  # largest value (a peak, such as storage)
    UNIQUE_COUNT = "unique_count"  # distinct non-empty subjects
    LATEST = "latest"  # value of the most recent record (a gauge)


@dataclass(frozen=True)
class UsageRecord:
    transaction_id: str
    metric: str
    value: int
    subject: str
    occurred_at: datetime | None  # None only before validation (an unset proto field)


# Seats ("users") are not metered: the store counts them from the members.
METRICS: Mapping[str, Aggregation] = {
    "api_calls": Aggregation.COUNT,
    "ai_tokens": Aggregation.SUM,
    "storage_gb": Aggregation.MAX,
    "active_users": Aggregation.UNIQUE_COUNT,
    "contacts": Aggregation.LATEST,
}

_METRIC = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
TRANSACTION_ID_MAX = 128
SUBJECT_MAX = 256
BATCH_MAX = 1000


def aggregation_for(metric: str) -> Aggregation:
    """Unknown metrics add up: most custom counters are totals."""
    return METRICS.get(metric, Aggregation.SUM)


def validate_records(records: Sequence[UsageRecord], field: str = "records") -> None:
    problems = Violations()
    if not records:
        problems.add(field, "at least one record")
    if len(records) > BATCH_MAX:
        problems.add(field, f"at most {BATCH_MAX} records per batch")
    for i, record in enumerate(records):
        at = f"{field}[{i}]"
        if not record.transaction_id:
            problems.add(f"{at}.transaction_id", "is required")
        elif len(record.transaction_id) > TRANSACTION_ID_MAX:
            problems.add(f"{at}.transaction_id", f"at most {TRANSACTION_ID_MAX} characters")
        if not _METRIC.match(record.metric):
            problems.add(f"{at}.metric", "2-64 of a-z, 0-9 or _, starting with a letter")
        if record.value < 0:
            problems.add(f"{at}.value", "must not be negative")
        if len(record.subject) > SUBJECT_MAX:
            problems.add(f"{at}.subject", f"at most {SUBJECT_MAX} characters")
        if record.occurred_at is None:
            problems.add(f"{at}.occur_time", "is required")
        elif record.occurred_at.tzinfo is None:
            problems.add(f"{at}.occur_time", "must carry a time zone")
    problems.raise_if_any()


def _latest_key(record: UsageRecord) -> tuple[datetime, str]:
    assert record.occurred_at is not None, "aggregate only validated records"
    return record.occurred_at, record.transaction_id


def aggregate(kind: Aggregation, records: Iterable[UsageRecord]) -> int:
    """The metric's value over `records` (all of one metric and period); 0 when none."""
    items = list(records)
    if kind is Aggregation.COUNT:
        return len(items)
    if kind is Aggregation.SUM:
        return sum(r.value for r in items)
    if kind is Aggregation.MAX:
        return max((r.value for r in items), default=0)
    if kind is Aggregation.UNIQUE_COUNT:
        return len({r.subject for r in items if r.subject})
    if kind is Aggregation.LATEST:
        if not items:
            return 0
        # Same instant: the greater transaction_id wins, so order of arrival never matters.
        return max(items, key=_latest_key).value
    assert_never(kind)
