"""Refresh tokens: one use each, grouped in a family (the session).

A refresh token that comes back after it was used means it was copied: the
legitimate client or the thief holds a newer one and we cannot tell which is
which, so the whole family is revoked and both must sign in again (OAuth 2.0
Security BCP, "refresh token rotation").
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

REFRESH_TTL = timedelta(days=30)


class RefreshVerdict(enum.Enum):
    OK = "ok"  # rotate: mark used, issue the next one in the family
    REUSED = "reused"  # revoke the family, audit, refuse
    EXPIRED = "expired"  # refuse
    REVOKED = "revoked"  # family already ended (logout, reuse, reset): refuse


def judge(
    *, used_at: datetime | None, expires_at: datetime, family_revoked: bool, now: datetime
) -> RefreshVerdict:
    if family_revoked:
        return RefreshVerdict.REVOKED
    if used_at is not None:
        return RefreshVerdict.REUSED
    if expires_at <= now:
        return RefreshVerdict.EXPIRED
    return RefreshVerdict.OK
