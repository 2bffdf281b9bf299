"""svc_billing's settings, from the environment (the launcher passes them on)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class BillingConfig:
    # Invoice numbers run without gaps per issuer: "ERP-000001", ...
    issuer: str = "ERP"
    # Past due for this long without paying -> suspended (writes refused).
    dunning_grace: timedelta = timedelta(days=7)
    # Days an open invoice gives the tenant to pay.
    payment_terms: timedelta = timedelta(days=14)
    # Tenants whose admins run the platform: they edit the catalog and record
    # bank transfers for any tenant (ERP_PLATFORM_TENANTS, comma separated ids).
    platform_tenants: frozenset[str] = frozenset()
    # How often the billing clock looks for renewals, trial ends and dunning.
    cycle_seconds: float = 30.0
    # Tests move time; everything in the service reads it from here.
    clock: Callable[[], datetime] = field(default=_utc_now)

    @classmethod
    def from_env(cls) -> BillingConfig:
        env = os.environ
        tenants = frozenset(t.strip() for t in env.get("ERP_PLATFORM_TENANTS", "").split(",") if t)
        return cls(
            issuer=env.get("ERP_BILLING_ISSUER", "ERP"),
            dunning_grace=timedelta(seconds=float(env.get("ERP_BILLING_GRACE_SECONDS", 7 * 86400))),
            platform_tenants=tenants,
            cycle_seconds=float(env.get("ERP_BILLING_CYCLE_SECONDS", 30)),
        )
