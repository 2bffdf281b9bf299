"""Minting access tokens in the claim layout mesh.tokens verifies (ES256)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from mesh.tokens import ALGORITHM, AUDIENCE, ISSUER
from svc_auth.keys import KeyStore


@dataclass(frozen=True)
class AccessGrant:
    """Who the token speaks for; becomes the token's claims."""

    subject: str
    tenant_id: str
    kind: str  # "user" | "api_key"
    permissions: Sequence[str]
    roles: Sequence[str] = ()
    session_id: str = ""


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime


class TokenIssuer:
    def __init__(self, keys: KeyStore, ttl: timedelta) -> None:
        self._keys = keys
        self._ttl = ttl

    async def issue(self, grant: AccessGrant) -> AccessToken:
        key = await self._keys.current()
        now = datetime.now(UTC).replace(microsecond=0)
        expires = now + self._ttl
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": grant.subject,
            "tid": grant.tenant_id,
            "kind": grant.kind,
            "perms": list(grant.permissions),
            "roles": list(grant.roles),
            "sid": grant.session_id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_urlsafe(16),
        }
        token = jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})
        return AccessToken(token, expires)
