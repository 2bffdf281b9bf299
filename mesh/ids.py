"""Identifiers: UUIDv7 (time-sortable) for rows and events."""

from __future__ import annotations

import os
import threading
import time
import uuid

_RANDOM_CHUNK = 10 * 1024


class _RandomBytes:
    """os.urandom read in chunks: one system call per thousand ids instead of one per
    id (an import makes two ids a row; the call cost more than the rest of the id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._at + count > len(self._buffer):
                self._buffer, self._at = os.urandom(_RANDOM_CHUNK), 0
            found = self._buffer[self._at : self._at + count]
            self._at += count
            return found

    def forget(self) -> None:
        self._buffer, self._at = b"", 0


_random = _RandomBytes()
# A forked child must not hand out the parent's remaining bytes (the same ids).
os.register_at_fork(after_in_child=_random.forget)


def uuid7() -> uuid.UUID:
    """RFC 9562 UUIDv7: 48-bit Unix milliseconds, then random bits; sorts by time."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(_random.take(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 68) << 64 & (0xFFF << 64)  # 12 bits rand_a
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # 62 bits rand_b
    return uuid.UUID(int=value)


def new_id() -> str:
    """A UUIDv7 in its usual text form (formatted directly: imports make one per row)."""
    h = f"{uuid7().int:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
