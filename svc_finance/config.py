"""svc_finance's settings, from the environment (the launcher passes them on)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FinanceConfig:
    # The company currency a new tenant's books start in (changeable until the
    # first posting).
    default_currency: str = "USD"
    # Days from the invoice date to its due date when a draft gives none.
    payment_terms_days: int = 30
    # Tests move time; everything in the service reads it from here.
    clock: Callable[[], datetime] = field(default=_utc_now)

    @classmethod
    def from_env(cls) -> FinanceConfig:
        env = os.environ
        return cls(
            default_currency=env.get("ERP_FINANCE_CURRENCY", "USD"),
            payment_terms_days=int(env.get("ERP_FINANCE_PAYMENT_TERMS_DAYS", 30)),
        )
