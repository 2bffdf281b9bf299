"""Subscription life cycle: trials, plan changes, cancel, pause, renewal and dunning."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mesh.errors import FailedPrecondition, InvalidArgument
from svc_billing.domain import subscription as s
from svc_billing.domain.catalog import DEFAULT_ADDONS, DEFAULT_PLANS
from svc_billing.domain.periods import Interval
from svc_billing.domain.subscription import Status, Subscription

M, Y = Interval.MONTHLY, Interval.YEARLY
FREE, STARTER, BUSINESS = (DEFAULT_PLANS[p] for p in ("free", "starter", "business"))
DAY = timedelta(days=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def active(status: Status = Status.ACTIVE, **changes: object) -> Subscription:
    """Starter, monthly, anchored on Jan 31 2028, in its Feb 29 -> Mar 31 period."""
    sub = Subscription(
        subscription_id="sub1",
        tenant_id="t1",
        plan_id="starter",
        plan_version=1,
        interval=M,
        status=status,
        currency="USD",
        anchor=utc(2028, 1, 31),
        period_start=utc(2028, 2, 29),
        period_end=utc(2028, 3, 31),
    )
    return replace(sub, **changes)  # type: ignore[arg-type]


@contextmanager
def refused(reason: str) -> Iterator[None]:
    """Expect FailedPrecondition with this reason."""
    with pytest.raises(FailedPrecondition) as caught:
        yield
    assert caught.value.reason == reason


# --- starting ---------------------------------------------------------------


def test_start_trial() -> None:
    now = utc(2028, 1, 31, 10)
    sub = s.start_trial("sub1", "t1", BUSINESS, M, now)
    assert sub.status is Status.TRIALING
    assert (sub.anchor, sub.period_start) == (now, now)
    assert sub.period_end == sub.trial_end == utc(2028, 2, 14, 10)  # 14 days
    assert (sub.plan_id, sub.plan_version, sub.currency) == ("business", 1, "USD")


def test_no_trial_on_a_plan_without_one() -> None:
    with refused("NO_TRIAL"):
        s.start_trial("sub1", "t1", FREE, M, utc(2028, 1, 1))


def test_start_without_trial() -> None:
    sub = s.start("sub1", "t1", FREE, M, utc(2028, 1, 31))
    assert sub.status is Status.ACTIVE
    assert (sub.period_start, sub.period_end, sub.trial_end) == (
        utc(2028, 1, 31),
        utc(2028, 2, 29),
        None,
    )


def test_start_needs_a_price_for_the_interval() -> None:
    monthly_only = replace(STARTER, prices={M: 2900})
    with pytest.raises(InvalidArgument) as caught:
        s.start("sub1", "t1", monthly_only, Y, utc(2028, 1, 1))
    assert [v.field for v in caught.value.violations] == ["interval"]


# --- plan changes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "up"), [(2900, 9900, True), (9900, 2900, False), (0, 0, False)]
)
def test_is_upgrade(old: int, new: int, up: bool) -> None:
    assert s.is_upgrade(old, new) is up


def test_change_plan_keeps_the_period() -> None:
    sub = active()
    changed = s.change_plan(sub, BUSINESS, M, utc(2028, 3, 15))
    assert (changed.plan_id, changed.plan_version, changed.interval) == ("business", 1, M)
    assert (changed.anchor, changed.period_start, changed.period_end) == (
        sub.anchor,
        sub.period_start,
        sub.period_end,
    )


def test_change_of_interval_starts_a_new_period_now() -> None:
    now = utc(2028, 3, 15, 12)
    changed = s.change_plan(active(), BUSINESS, Y, now)
    assert (changed.interval, changed.anchor, changed.period_start, changed.period_end) == (
        Y,
        now,
        now,
        utc(2029, 3, 15, 12),
    )


def test_change_during_trial_keeps_the_trial() -> None:
    trial = s.start_trial("sub1", "t1", BUSINESS, M, utc(2028, 1, 1))
    changed = s.change_plan(trial, STARTER, Y, utc(2028, 1, 5))
    assert (changed.status, changed.plan_id, changed.interval) == (Status.TRIALING, "starter", Y)
    assert changed.period_end == changed.trial_end == utc(2028, 1, 15)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.CANCELED, "SUBSCRIPTION_CANCELED"),
        (Status.SUSPENDED, "SUBSCRIPTION_SUSPENDED"),
        (Status.PAUSED, "SUBSCRIPTION_PAUSED"),
    ],
)
def test_change_plan_refused(status: Status, reason: str) -> None:
    with refused(reason):
        s.change_plan(active(status), BUSINESS, M, utc(2028, 3, 15))


def test_change_plan_allowed_while_past_due() -> None:
    assert (
        s.change_plan(active(Status.PAST_DUE), BUSINESS, M, utc(2028, 3, 1)).plan_id == "business"
    )


def test_change_to_the_same_plan_is_refused() -> None:
    with refused("PLAN_UNCHANGED"):
        s.change_plan(active(), STARTER, M, utc(2028, 3, 15))


def test_change_to_another_currency_is_refused() -> None:
    euro = replace(BUSINESS, currency="EUR")
    with refused("CURRENCY_MISMATCH"):
        s.change_plan(active(), euro, M, utc(2028, 3, 15))


def test_set_addon() -> None:
    seats = DEFAULT_ADDONS["extra_seats"]
    sub = s.set_addon(active(), seats, 2)
    assert sub.addons == {"extra_seats": 2}
    assert s.set_addon(sub, seats, 0).addons == {}
    with pytest.raises(InvalidArgument):
        s.set_addon(sub, seats, -1)
    with refused("SUBSCRIPTION_PAUSED"):
        s.set_addon(active(Status.PAUSED), seats, 1)


# --- downgrade check --------------------------------------------------------


def test_downgrade_within_usage_passes() -> None:
    s.check_downgrade({"users": 3, "contacts": 500}, dict(FREE.limits))
    s.check_downgrade({"users": 1000}, {})  # unlimited


def test_downgrade_below_usage_is_refused() -> None:
    usage = {"users": 7, "contacts": 900, "storage_gb": 1, "ai_tokens": 0}
    with pytest.raises(FailedPrecondition) as caught:
        s.check_downgrade(usage, dict(FREE.limits))
    err = caught.value
    assert err.reason == "DOWNGRADE_BELOW_USAGE"
    assert err.metadata == {
        "limit": "users",
        "allowed": "3",
        "in_use": "7",
        "exceeded": "users,contacts",
    }
    assert err.message == (
        "the plan allows 3 users but 7 are in use; the plan allows 500 contacts but 900 are in use"
    )


def test_downgrade_message_singular() -> None:
    with pytest.raises(FailedPrecondition, match="allows 0 ai_tokens but 1 is in use"):
        s.check_downgrade({"ai_tokens": 1}, {"ai_tokens": 0})


# --- cancel -----------------------------------------------------------------


def test_cancel_now() -> None:
    now = utc(2028, 3, 10)
    sub = s.cancel(active(cancel_at_period_end=True), now, at_period_end=False)
    assert (sub.status, sub.canceled_at, sub.cancel_at_period_end) == (Status.CANCELED, now, False)


def test_cancel_at_period_end_then_renew_ends_it() -> None:
    sub = s.cancel(active(), utc(2028, 3, 10), at_period_end=True)
    assert (sub.status, sub.cancel_at_period_end, sub.canceled_at) == (Status.ACTIVE, True, None)
    ended = s.renew(sub, utc(2028, 3, 31))
    assert (ended.status, ended.canceled_at) == (Status.CANCELED, utc(2028, 3, 31))


def test_undo_cancel() -> None:
    sub = s.cancel(active(), utc(2028, 3, 10), at_period_end=True)
    assert s.undo_cancel(sub, utc(2028, 3, 11)).cancel_at_period_end is False
    with refused("NO_PENDING_CANCEL"):
        s.undo_cancel(active(), utc(2028, 3, 11))
    with refused("SUBSCRIPTION_CANCELED"):
        s.undo_cancel(active(Status.CANCELED, cancel_at_period_end=True), utc(2028, 3, 11))


def test_cancel_refusals() -> None:
    with refused("SUBSCRIPTION_CANCELED"):
        s.cancel(active(Status.CANCELED), utc(2028, 3, 10), at_period_end=False)
    with refused("SUBSCRIPTION_PAUSED"):
        s.cancel(active(Status.PAUSED), utc(2028, 3, 10), at_period_end=True)
    # a paused or suspended subscription can still be ended now
    assert s.cancel(active(Status.SUSPENDED), utc(2028, 3, 10), False).status is Status.CANCELED


# --- pause and resume -------------------------------------------------------


def test_pause_and_resume_keeps_the_unused_rest() -> None:
    paused = s.pause(active(), utc(2028, 3, 21))  # 10 days of the period left
    assert (paused.status, paused.paused_at) == (Status.PAUSED, utc(2028, 3, 21))
    resumed = s.resume(paused, utc(2028, 5, 5))
    assert resumed.status is Status.ACTIVE
    assert resumed.paused_at is None
    # moved by the 45-day pause: Feb 29 -> Apr 14, Mar 31 -> May 15 (10 days after resume)
    assert (resumed.period_start, resumed.period_end) == (utc(2028, 4, 14), utc(2028, 5, 15))
    assert resumed.anchor == utc(2028, 5, 15)
    nxt = s.renew(resumed, utc(2028, 5, 15))
    assert (nxt.period_start, nxt.period_end) == (utc(2028, 5, 15), utc(2028, 6, 15))


def test_pausing_a_trial_keeps_the_trial() -> None:
    trial = s.start_trial("sub1", "t1", BUSINESS, M, utc(2028, 1, 1))  # ends Jan 15
    resumed = s.resume(s.pause(trial, utc(2028, 1, 5)), utc(2028, 1, 25))
    assert resumed.status is Status.TRIALING
    assert resumed.period_end == resumed.trial_end == utc(2028, 2, 4)  # 10 days left


@pytest.mark.parametrize(
    "status", [Status.PAST_DUE, Status.SUSPENDED, Status.PAUSED, Status.CANCELED]
)
def test_pause_refused(status: Status) -> None:
    with refused(f"SUBSCRIPTION_{status.upper()}"):
        s.pause(active(status), utc(2028, 3, 10))


def test_resume_needs_a_pause() -> None:
    with refused("SUBSCRIPTION_ACTIVE"):
        s.resume(active(), utc(2028, 3, 10))


# --- renewal ----------------------------------------------------------------


def test_renew_steps_one_period_keeping_the_anchor_day() -> None:
    sub = s.renew(active(), utc(2028, 3, 31))
    assert (sub.status, sub.period_start, sub.period_end) == (
        Status.ACTIVE,
        utc(2028, 3, 31),
        utc(2028, 4, 30),
    )
    late = s.renew(sub, utc(2028, 6, 2))  # late by a month: still one period per call
    assert (late.period_start, late.period_end) == (utc(2028, 4, 30), utc(2028, 5, 31))


def test_renew_before_the_end_is_refused() -> None:
    with refused("PERIOD_NOT_ENDED"):
        s.renew(active(), utc(2028, 3, 30, 23, 59, 59))


def test_trial_converts_anchored_on_its_end() -> None:
    trial = s.start_trial("sub1", "t1", BUSINESS, M, utc(2028, 1, 17, 8))  # ends Jan 31 08:00
    paid = s.renew(trial, utc(2028, 1, 31, 8))
    assert (paid.status, paid.anchor, paid.period_start, paid.period_end) == (
        Status.ACTIVE,
        utc(2028, 1, 31, 8),
        utc(2028, 1, 31, 8),
        utc(2028, 2, 29, 8),
    )
    assert paid.trial_end == utc(2028, 1, 31, 8)


def test_renew_past_due_stays_past_due() -> None:
    sub = s.renew(active(Status.PAST_DUE, past_due_since=utc(2028, 3, 1)), utc(2028, 3, 31))
    assert (sub.status, sub.past_due_since, sub.period_end) == (
        Status.PAST_DUE,
        utc(2028, 3, 1),
        utc(2028, 4, 30),
    )


@pytest.mark.parametrize("status", [Status.SUSPENDED, Status.PAUSED, Status.CANCELED])
def test_renew_refused(status: Status) -> None:
    with refused(f"SUBSCRIPTION_{status.upper()}"):
        s.renew(active(status), utc(2028, 4, 1))


# --- payments and dunning ---------------------------------------------------


def test_payment_failed_marks_past_due_once() -> None:
    first = s.payment_failed(active(), utc(2028, 3, 1))
    assert (first.status, first.past_due_since) == (Status.PAST_DUE, utc(2028, 3, 1))
    again = s.payment_failed(first, utc(2028, 3, 4))
    assert again.past_due_since == utc(2028, 3, 1)


@pytest.mark.parametrize(
    "status", [Status.TRIALING, Status.SUSPENDED, Status.PAUSED, Status.CANCELED]
)
def test_payment_failed_elsewhere_changes_nothing(status: Status) -> None:
    sub = active(status)
    assert s.payment_failed(sub, utc(2028, 3, 4)) == sub


@pytest.mark.parametrize(
    ("elapsed", "due"),
    [(timedelta(0), False), (7 * DAY - timedelta(seconds=1), False), (7 * DAY, True)],
)
def test_dunning_due(elapsed: timedelta, due: bool) -> None:
    sub = s.payment_failed(active(), utc(2028, 3, 1))
    assert s.dunning_due(sub, utc(2028, 3, 1) + elapsed, 7 * DAY) is due


def test_dunning_only_for_past_due() -> None:
    assert s.dunning_due(active(), utc(2029, 1, 1), DAY) is False


def test_suspend_and_pay() -> None:
    past_due = s.payment_failed(active(), utc(2028, 3, 1))
    suspended = s.suspend(past_due, utc(2028, 3, 8))
    assert (suspended.status, suspended.past_due_since) == (Status.SUSPENDED, utc(2028, 3, 1))
    paid = s.payment_succeeded(suspended, utc(2028, 3, 20))  # within the period
    assert (paid.status, paid.past_due_since) == (Status.ACTIVE, None)
    assert (paid.period_start, paid.period_end) == (utc(2028, 2, 29), utc(2028, 3, 31))


def test_paying_after_the_period_ran_out_starts_a_fresh_period() -> None:
    suspended = active(Status.SUSPENDED, past_due_since=utc(2028, 3, 1))
    paid = s.payment_succeeded(suspended, utc(2028, 5, 10, 9))
    assert (paid.status, paid.anchor, paid.period_start, paid.period_end) == (
        Status.ACTIVE,
        utc(2028, 5, 10, 9),
        utc(2028, 5, 10, 9),
        utc(2028, 6, 10, 9),
    )


def test_payment_succeeded_from_past_due() -> None:
    paid = s.payment_succeeded(
        active(Status.PAST_DUE, past_due_since=utc(2028, 3, 1)), utc(2028, 3, 2)
    )
    assert (paid.status, paid.past_due_since) == (Status.ACTIVE, None)


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.TRIALING, Status.PAUSED, Status.CANCELED])
def test_payment_succeeded_elsewhere_changes_nothing(status: Status) -> None:
    sub = active(status)
    assert s.payment_succeeded(sub, utc(2028, 3, 4)) == sub


def test_suspend_only_past_due() -> None:
    with refused("SUBSCRIPTION_ACTIVE"):
        s.suspend(active(), utc(2028, 3, 8))


# --- what applies -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "writes", "plan_applies", "plan"),
    [
        (Status.TRIALING, True, True, "starter"),
        (Status.ACTIVE, True, True, "starter"),
        (Status.PAST_DUE, True, True, "starter"),
        (Status.SUSPENDED, False, True, "starter"),  # reads only
        (Status.PAUSED, True, False, "free"),
        (Status.CANCELED, True, False, "free"),
    ],
)
def test_access_by_status(status: Status, writes: bool, plan_applies: bool, plan: str) -> None:
    assert s.writes_allowed(status) is writes
    assert s.entitlement_active(status) is plan_applies
    assert s.plan_in_effect(active(status)) == plan
