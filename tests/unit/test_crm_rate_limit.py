"""The web form token bucket: a burst up to the per-minute rate, then rate / 60 per
second, with the seconds to wait when over (a fake clock: no sleeping)."""

from __future__ import annotations

import pytest

from mesh.errors import ResourceExhausted
from svc_crm.app.web_forms import FormRateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_rate_is_admitted_then_refused() -> None:
    clock = FakeClock()
    limiter = FormRateLimiter(clock)
    assert all(limiter.admit("f", 3) == 0 for _ in range(3))
    wait = limiter.admit("f", 3)
    assert wait == pytest.approx(20.0)  # 3 per minute: one token every 20 s


def test_tokens_refill_at_rate_per_sixty_seconds() -> None:
    clock = FakeClock()
    limiter = FormRateLimiter(clock)
    for _ in range(60):
        assert limiter.admit("f", 60) == 0
    assert limiter.admit("f", 60) > 0
    clock.now += 0.5
    assert limiter.admit("f", 60) == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.admit("f", 60) == 0
    assert limiter.admit("f", 60) > 0


def test_refill_never_exceeds_the_capacity() -> None:
    clock = FakeClock()
    limiter = FormRateLimiter(clock)
    limiter.admit("f", 2)
    clock.now += 3600
    assert limiter.admit("f", 2) == 0
    assert limiter.admit("f", 2) == 0
    assert limiter.admit("f", 2) > 0


def test_each_form_has_its_own_bucket() -> None:
    clock = FakeClock()
    limiter = FormRateLimiter(clock)
    assert limiter.admit("a", 1) == 0
    assert limiter.admit("a", 1) > 0
    assert limiter.admit("b", 1) == 0


def test_a_lowered_limit_caps_the_tokens_left() -> None:
    clock = FakeClock()
    limiter = FormRateLimiter(clock)
    assert limiter.admit("f", 100) == 0  # 99 left
    assert limiter.admit("f", 2) == 0  # capped to 2, one taken
    assert limiter.admit("f", 2) == 0
    assert limiter.admit("f", 2) > 0


def test_a_clock_going_backwards_adds_nothing() -> None:
    clock = FakeClock()
    limiter = FormRateLimiter(clock)
    assert limiter.admit("f", 1) == 0
    clock.now -= 100
    assert limiter.admit("f", 1) > 0


def test_check_raises_rate_limited_with_a_whole_retry_delay() -> None:
    clock = FakeClock()
    limiter = FormRateLimiter(clock)
    limiter.check("f", 7)  # burst of 7
    for _ in range(6):
        limiter.check("f", 7)
    with pytest.raises(ResourceExhausted) as caught:
        limiter.check("f", 7)
    assert caught.value.reason == "RATE_LIMITED"
    assert caught.value.retry_after_seconds == 9  # 60 / 7 = 8.57 s, rounded up
    clock.now += 9
    limiter.check("f", 7)


def test_full_buckets_are_forgotten_when_too_many() -> None:
    clock = FakeClock()
    limiter = FormRateLimiter(clock)
    limiter.MAX_BUCKETS = 3
    for name in "abc":
        limiter.admit(name, 60)
    clock.now += 10  # all full again
    limiter.admit("d", 60)
    assert len(limiter) == 1
