"""The plan catalog: immutable plan versions, add-ons, and what they entitle.

A limit that is absent is unlimited; 0 means "none at all". Prices are per
interval in the plan's currency (minor units).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mesh.errors import FieldViolation, InvalidArgument, Violations
from svc_billing.domain.money import check_currency
from svc_billing.domain.periods import Interval

FEATURE_MEANINGS: Mapping[str, str] = {
    "core": "the ERP itself: tenant, users, settings, billing",
    "api": "API keys for machine access",
    "custom_roles": "roles beyond the built-in ones",
    "crm": "contacts, companies, deals",
    "hrm": "employees, leave, time sheets",
    "finance": "ledger, invoices to customers, payments",
    "inventory": "products, stock, warehouses",
    "projects": "projects, tasks, time tracking",
    "notify": "e-mail and in-app notifications",
    "files": "file storage and attachments",
    "ai": "AI assistants (consumes ai_tokens)",
}
FEATURES: tuple[str, ...] = tuple(FEATURE_MEANINGS)
LIMITS: tuple[str, ...] = ("users", "contacts", "storage_gb", "ai_tokens")

FREE_PLAN = "free"  # what a paused or canceled subscription falls back to
TRIAL_PLAN = "business"  # what a new tenant tries

_PLAN_ID = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
NAME_MAX = 100
DESCRIPTION_MAX = 1000
TRIAL_DAYS_MAX = 365


@dataclass(frozen=True)
class PlanVersion:
    plan_id: str
    version: int
    name: str
    description: str
    currency: str
    prices: Mapping[Interval, int]
    features: frozenset[str]
    limits: Mapping[str, int]  # absent = unlimited
    trial_days: int
    metered: Mapping[str, int]  # metric -> price per unit above the limit of that name
    public: bool

    def price(self, interval: Interval) -> int | None:
        return self.prices.get(interval)


@dataclass(frozen=True)
class AddOn:
    addon_id: str
    name: str
    currency: str
    prices: Mapping[Interval, int]
    features: frozenset[str]
    limits: Mapping[str, int]  # added to the plan's limit per unit of quantity


def _limit_violations(limits: Mapping[str, int], field: str) -> list[FieldViolation]:
    found = []
    for name, amount in limits.items():
        if name not in LIMITS:
            found.append(FieldViolation(f"{field}.{name}", f"unknown limit; one of {LIMITS}"))
        elif amount < 0:
            found.append(FieldViolation(f"{field}.{name}", "must not be negative"))
    return found


def _price_violations(prices: Mapping[Interval, int], field: str) -> list[FieldViolation]:
    if not prices:
        return [FieldViolation(field, "at least one interval must have a price")]
    return [
        FieldViolation(f"{field}.{interval}", "must not be negative")
        for interval, amount in prices.items()
        if amount < 0
    ]


def _feature_violations(features: frozenset[str], field: str) -> list[FieldViolation]:
    return [
        FieldViolation(field, f"unknown feature {name!r}")
        for name in sorted(features - set(FEATURES))
    ]


def validate_plan_version(pv: PlanVersion, prefix: str = "") -> None:
    """Every problem at once; `prefix` lets the API name fields as its request does."""
    problems = Violations()
    if not _PLAN_ID.match(pv.plan_id):
        problems.add(f"{prefix}plan_id", "2-40 of a-z, 0-9, _ or -, starting with a letter")
    if pv.version < 1:
        problems.add(f"{prefix}version", "must be 1 or more")
    if not pv.name.strip():
        problems.add(f"{prefix}name", "is required")
    elif len(pv.name) > NAME_MAX:
        problems.add(f"{prefix}name", f"at most {NAME_MAX} characters")
    if len(pv.description) > DESCRIPTION_MAX:
        problems.add(f"{prefix}description", f"at most {DESCRIPTION_MAX} characters")
    problems.extend(check_currency(pv.currency, f"{prefix}currency"))
    problems.extend(_price_violations(pv.prices, f"{prefix}prices"))
    problems.extend(_feature_violations(pv.features, f"{prefix}features"))
    problems.extend(_limit_violations(pv.limits, f"{prefix}limits"))
    if not 0 <= pv.trial_days <= TRIAL_DAYS_MAX:
        problems.add(f"{prefix}trial_days", f"between 0 and {TRIAL_DAYS_MAX}")
    for metric, unit_price in pv.metered.items():
        # Overage is usage above the limit of the same name, so it must be a limit.
        if metric not in LIMITS:
            problems.add(f"{prefix}metered.{metric}", f"unknown limit; one of {LIMITS}")
        elif unit_price < 0:
            problems.add(f"{prefix}metered.{metric}", "must not be negative")
    problems.raise_if_any()


def validate_addon(addon: AddOn, prefix: str = "") -> None:
    problems = Violations()
    if not _PLAN_ID.match(addon.addon_id):
        problems.add(f"{prefix}addon_id", "2-40 of a-z, 0-9, _ or -, starting with a letter")
    if not addon.name.strip():
        problems.add(f"{prefix}name", "is required")
    problems.extend(check_currency(addon.currency, f"{prefix}currency"))
    problems.extend(_price_violations(addon.prices, f"{prefix}prices"))
    problems.extend(_feature_violations(addon.features, f"{prefix}features"))
    problems.extend(_limit_violations(addon.limits, f"{prefix}limits"))
    problems.raise_if_any()


def effective_entitlements(
    plan: PlanVersion, addons: Mapping[str, tuple[AddOn, int]]
) -> tuple[frozenset[str], dict[str, int]]:
    """Features and limits of a plan with its add-ons (addon_id -> (add-on, quantity)).

    Add-ons raise limits the plan has; a limit the plan leaves unlimited stays so.
    """
    features = set(plan.features)
    limits = dict(plan.limits)
    for addon_id, (addon, quantity) in addons.items():
        if quantity < 0:
            raise InvalidArgument.one(f"addons.{addon_id}", "quantity must not be negative")
        if quantity == 0:
            continue
        features |= addon.features
        for name, amount in addon.limits.items():
            if name in limits:
                limits[name] += quantity * amount
    return frozenset(features), limits


def _plan(
    plan_id: str,
    name: str,
    description: str,
    prices: tuple[int, int],
    features: frozenset[str],
    limits: Mapping[str, int],
    *,
    trial_days: int,
    metered: Mapping[str, int] | None = None,
    public: bool = True,
) -> PlanVersion:
    monthly, yearly = prices
    return PlanVersion(
        plan_id=plan_id,
        version=1,
        name=name,
        description=description,
        currency="USD",
        prices={Interval.MONTHLY: monthly, Interval.YEARLY: yearly},
        features=features,
        limits=limits,
        trial_days=trial_days,
        metered=metered or {},
        public=public,
    )


_ALL = frozenset(FEATURES)

DEFAULT_PLANS: Mapping[str, PlanVersion] = {
    p.plan_id: p
    for p in (
        _plan(
            "free",
            "Free",
            "For trying the basics with a small team.",
            (0, 0),
            frozenset({"core", "crm", "projects", "notify", "files"}),
            {"users": 3, "contacts": 500, "storage_gb": 1, "ai_tokens": 0},
            trial_days=0,
        ),
        _plan(
            "starter",
            "Starter",
            "For small teams that need the API.",
            (2900, 29000),
            frozenset({"core", "api", "crm", "projects", "notify", "files"}),
            {"users": 10, "contacts": 5000, "storage_gb": 10, "ai_tokens": 100000},
            trial_days=14,
            # Listed so the usage page shows it as metered, but tokens above the
            # allowance are not charged (no per-token price small enough to be fair).
            metered={"ai_tokens": 0},
        ),
        _plan(
            "business",
            "Business",
            "Every module for growing companies.",
            (9900, 99000),
            _ALL,
            {"users": 50, "contacts": 50000, "storage_gb": 100, "ai_tokens": 1000000},
            trial_days=14,
            metered={"storage_gb": 50},
        ),
        _plan(
            "enterprise",
            "Enterprise",
            "Every module without limits; assigned by sales.",
            (49900, 499000),
            _ALL,
            {},
            trial_days=14,
            public=False,
        ),
    )
}

DEFAULT_ADDONS: Mapping[str, AddOn] = {
    "extra_seats": AddOn(
        addon_id="extra_seats",
        name="10 extra seats",
        currency="USD",
        prices={Interval.MONTHLY: 1900, Interval.YEARLY: 19000},
        features=frozenset(),
        limits={"users": 10},
    ),
    "extra_storage": AddOn(
        addon_id="extra_storage",
        name="100 GB extra storage",
        currency="USD",
        prices={Interval.MONTHLY: 900, Interval.YEARLY: 9000},
        features=frozenset(),
        limits={"storage_gb": 100},
    ),
}
