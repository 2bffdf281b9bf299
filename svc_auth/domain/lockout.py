"""Login lockout: N failures within a window lock the e-mail for a while.

Counting is per e-mail address (not per IP) so that a distributed guesser is
slowed down too; the lock holds even against the right password.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 5
    window: timedelta = timedelta(minutes=15)
    duration: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Attempts:
    """What is remembered about recent failures for one e-mail."""

    failures: int = 0
    window_start: datetime | None = None
    locked_until: datetime | None = None


def locked_for(state: Attempts, now: datetime) -> int:
    """Seconds until the lock lifts (rounded up); 0 when not locked."""
    if state.locked_until is None or state.locked_until <= now:
        return 0
    return max(1, math.ceil((state.locked_until - now).total_seconds()))


def after_failure(state: Attempts, policy: LockoutPolicy, now: datetime) -> Attempts:
    """The state after one more failure; `locked_until` is set when this one locks."""
    fresh = state.window_start is None or now - state.window_start >= policy.window
    if fresh:
        state = Attempts(failures=0, window_start=now, locked_until=None)
    failures = state.failures + 1
    if failures >= policy.threshold:
        # The lock starts a new window: after it lifts, the count starts over.
        return Attempts(failures=0, window_start=None, locked_until=now + policy.duration)
    return replace(state, failures=failures)


def just_locked(before: Attempts, after: Attempts, now: datetime) -> bool:
    return locked_for(after, now) > 0 and locked_for(before, now) == 0
