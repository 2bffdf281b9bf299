"""svc_crm's settings, from the environment (the launcher passes them on)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CrmConfig:
    # Rows an import writes per transaction: a resumed import restarts after the
    # last committed batch.
    import_batch: int = 5000
    # Submissions per minute a new web form admits, unless it says otherwise.
    web_form_rate_default: int = 30
    # Tests move time; everything in the service reads it from here.
    clock: Callable[[], datetime] = field(default=_utc_now)

    @classmethod
    def from_env(cls) -> CrmConfig:
        env = os.environ
        return cls(
            import_batch=int(env.get("ERP_CRM_IMPORT_BATCH", 5000)),
            web_form_rate_default=int(env.get("ERP_CRM_WEB_FORM_RATE", 30)),
        )
