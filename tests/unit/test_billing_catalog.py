"""The plan catalog: defaults, validation and entitlements with add-ons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mesh.errors import InvalidArgument
from svc_billing.domain.catalog import (
    DEFAULT_ADDONS,
    DEFAULT_PLANS,
    FEATURES,
    TRIAL_PLAN,
    AddOn,
    PlanVersion,
    effective_entitlements,
    validate_addon,
    validate_plan_version,
)
from svc_billing.domain.periods import Interval

M, Y = Interval.MONTHLY, Interval.YEARLY
SEATS, STORAGE = DEFAULT_ADDONS["extra_seats"], DEFAULT_ADDONS["extra_storage"]


def violated(pv: PlanVersion, prefix: str = "") -> list[str]:
    with pytest.raises(InvalidArgument) as caught:
        validate_plan_version(pv, prefix)
    return [v.field for v in caught.value.violations]


@pytest.mark.parametrize("plan", list(DEFAULT_PLANS.values()), ids=list(DEFAULT_PLANS))
def test_default_plans_are_valid(plan: PlanVersion) -> None:
    validate_plan_version(plan)
    assert plan.currency == "USD"
    assert plan.version == 1


@pytest.mark.parametrize("addon", list(DEFAULT_ADDONS.values()), ids=list(DEFAULT_ADDONS))
def test_default_addons_are_valid(addon: AddOn) -> None:
    validate_addon(addon)


@pytest.mark.parametrize(
    ("plan_id", "prices", "trial_days", "public", "limits"),
    [
        (
            "free",
            {M: 0, Y: 0},
            0,
            True,
            {"users": 3, "contacts": 500, "storage_gb": 1, "ai_tokens": 0},
        ),
        (
            "starter",
            {M: 2900, Y: 29000},
            14,
            True,
            {"users": 10, "contacts": 5000, "storage_gb": 10, "ai_tokens": 100000},
        ),
        (
            "business",
            {M: 9900, Y: 99000},
            14,
            True,
            {"users": 50, "contacts": 50000, "storage_gb": 100, "ai_tokens": 1000000},
        ),
        ("enterprise", {M: 49900, Y: 499000}, 14, False, {}),
    ],
)
def test_default_plan_terms(
    plan_id: str, prices: dict[Interval, int], trial_days: int, public: bool, limits: dict[str, int]
) -> None:
    plan = DEFAULT_PLANS[plan_id]
    assert (dict(plan.prices), plan.trial_days, plan.public, dict(plan.limits)) == (
        prices,
        trial_days,
        public,
        limits,
    )


def test_default_plan_features_and_metering() -> None:
    assert DEFAULT_PLANS["free"].features == {"core", "crm", "projects", "notify", "files"}
    assert DEFAULT_PLANS["starter"].features == {
        "core",
        "api",
        "crm",
        "projects",
        "notify",
        "files",
    }
    assert DEFAULT_PLANS["business"].features == set(FEATURES)
    assert DEFAULT_PLANS["enterprise"].features == set(FEATURES)
    assert dict(DEFAULT_PLANS["starter"].metered) == {"ai_tokens": 0}
    assert dict(DEFAULT_PLANS["business"].metered) == {"storage_gb": 50}
    assert TRIAL_PLAN in DEFAULT_PLANS
    assert (SEATS.limits, SEATS.prices) == ({"users": 10}, {M: 1900, Y: 19000})
    assert (STORAGE.limits, STORAGE.prices) == ({"storage_gb": 100}, {M: 900, Y: 9000})


GOOD = DEFAULT_PLANS["business"]


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"plan_id": "B"}, ["plan_id"]),
        ({"plan_id": "b"}, ["plan_id"]),  # one character is too short
        ({"plan_id": "9lives"}, ["plan_id"]),
        ({"plan_id": "x" * 41}, ["plan_id"]),
        ({"version": 0}, ["version"]),
        ({"name": "  "}, ["name"]),
        ({"currency": "usd"}, ["currency"]),
        ({"currency": "US"}, ["currency"]),
        ({"prices": {}}, ["prices"]),
        ({"prices": {M: -1, Y: 0}}, ["prices.monthly"]),
        ({"features": frozenset({"core", "teleport"})}, ["features"]),
        ({"limits": {"users": -1}}, ["limits.users"]),
        ({"limits": {"planets": 1}}, ["limits.planets"]),
        ({"trial_days": -1}, ["trial_days"]),
        ({"metered": {"storage_gb": -5}}, ["metered.storage_gb"]),
        ({"metered": {"api_calls": 1}}, ["metered.api_calls"]),  # overage needs a limit name
        (
            {"plan_id": "", "currency": "EURO", "prices": {}},
            ["plan_id", "currency", "prices"],  # every problem at once
        ),
    ],
)
def test_validate_plan_version_names_fields(change: dict[str, object], fields: list[str]) -> None:
    assert violated(replace(GOOD, **change)) == fields  # type: ignore[arg-type]


def test_validate_plan_version_prefix() -> None:
    assert violated(replace(GOOD, trial_days=-1), "version.") == ["version.trial_days"]


def test_validate_addon() -> None:
    bad = replace(SEATS, currency="", limits={"users": -10})
    with pytest.raises(InvalidArgument) as caught:
        validate_addon(bad)
    assert [v.field for v in caught.value.violations] == ["currency", "limits.users"]


def test_entitlements_without_addons() -> None:
    features, limits = effective_entitlements(DEFAULT_PLANS["free"], {})
    assert features == {"core", "crm", "projects", "notify", "files"}
    assert limits == {"users": 3, "contacts": 500, "storage_gb": 1, "ai_tokens": 0}


def test_addons_add_quantity_times_amount() -> None:
    _, limits = effective_entitlements(
        DEFAULT_PLANS["starter"], {"extra_seats": (SEATS, 2), "extra_storage": (STORAGE, 1)}
    )
    # users 10 + 2*10 = 30; storage 10 + 1*100 = 110; others untouched
    assert limits == {"users": 30, "contacts": 5000, "storage_gb": 110, "ai_tokens": 100000}


def test_unlimited_stays_unlimited() -> None:
    _, limits = effective_entitlements(DEFAULT_PLANS["enterprise"], {"extra_seats": (SEATS, 3)})
    assert limits == {}


def test_addon_features_and_zero_quantity() -> None:
    ai = AddOn("ai_pack", "AI pack", "USD", {M: 500}, frozenset({"ai"}), {"ai_tokens": 50000})
    features, limits = effective_entitlements(DEFAULT_PLANS["free"], {"ai_pack": (ai, 2)})
    assert "ai" in features
    assert limits["ai_tokens"] == 100000  # 0 + 2*50000
    features, limits = effective_entitlements(DEFAULT_PLANS["free"], {"ai_pack": (ai, 0)})
    assert "ai" not in features
    assert limits["ai_tokens"] == 0


def test_negative_addon_quantity_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        effective_entitlements(GOOD, {"extra_seats": (SEATS, -1)})
    assert [v.field for v in caught.value.violations] == ["addons.extra_seats"]
