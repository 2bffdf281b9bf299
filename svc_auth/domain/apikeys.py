"""API keys: what a valid creation request looks like and when a key works."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mesh.errors import FieldViolation
from svc_auth.domain.roles import check_patterns

NAME_MAX = 100


def check_api_key_request(
    name: str, permissions: Sequence[str], expire_time: datetime | None, now: datetime
) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    if not name.strip():
        found.append(FieldViolation("name", "is required"))
    elif len(name) > NAME_MAX:
        found.append(FieldViolation("name", f"at most {NAME_MAX} characters"))
    found.extend(check_patterns(permissions, required=True))
    if expire_time is not None and expire_time <= now:
        found.append(FieldViolation("expire_time", "must be in the future"))
    return found


def usable(*, revoke_time: datetime | None, expire_time: datetime | None, now: datetime) -> bool:
    return revoke_time is None and (expire_time is None or expire_time > now)
