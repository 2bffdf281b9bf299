"""Timestamps from clients: in range they become aware UTC datetimes, out of range a
field violation (never an exception that would end the call as INTERNAL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf import timestamp_pb2

from mesh.errors import InvalidArgument
from mesh.timestamps import from_timestamp, to_timestamp


def test_round_trip_is_aware_utc() -> None:
    moment = datetime(2026, 11, 27, 9, 30, 1, 250000, tzinfo=UTC)
    stamp = to_timestamp(moment)
    assert stamp is not None
    assert from_timestamp(stamp, "t") == moment
    assert to_timestamp(None) is None


@pytest.mark.parametrize(
    "stamp",
    [
        timestamp_pb2.Timestamp(seconds=253402300800),  # 10000-01-01
        timestamp_pb2.Timestamp(seconds=-62135596801),  # before the year 1
        timestamp_pb2.Timestamp(seconds=0, nanos=1_000_000_000),
    ],
)
def test_out_of_range_names_the_field(stamp: timestamp_pb2.Timestamp) -> None:
    with pytest.raises(InvalidArgument) as caught:
        from_timestamp(stamp, "records[2].occur_time")
    assert [v.field for v in caught.value.violations] == ["records[2].occur_time"]
