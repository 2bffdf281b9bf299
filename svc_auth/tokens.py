"""Minting access tokens in the claim layout mesh.tokens owns (ES256)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from mesh.context import Principal
from mesh.tokens import ALGORITHM, claims_for
from svc_auth.keys import KeyStore


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime


class TokenIssuer:
    def __init__(self, keys: KeyStore, ttl: timedelta) -> None:
        self._keys = keys
        self._ttl = ttl

    async def issue(self, grant: Principal) -> AccessToken:
        """A token that speaks for `grant` until the access TTL runs out."""
        key = await self._keys.current()
        now = datetime.now(UTC).replace(microsecond=0)
        expires = now + self._ttl
        claims = claims_for(
            grant, int(now.timestamp()), int(expires.timestamp()), secrets.token_urlsafe(16)
        )
        token = jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})
        return AccessToken(token, expires)
