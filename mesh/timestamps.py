"""google.protobuf.Timestamp to and from aware UTC datetimes, for every service.

A Timestamp a client sends can hold a time a datetime cannot (past the year 9999,
or nanos out of range): `from_timestamp` answers that with INVALID_ARGUMENT on the
field, where `ToDatetime` would raise and the call end as INTERNAL.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from mesh.errors import InvalidArgument


def to_timestamp(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def from_timestamp(stamp: timestamp_pb2.Timestamp, field: str) -> datetime:
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument.one(field, "not a time between the years 1 and 9999") from None
