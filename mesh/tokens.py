"""Verifying access tokens: ES256 JWTs from svc_auth, keys from its JWKS.

The claim layout is the contract between svc_auth (which signs) and every
service (which verifies): sub, tid (tenant), kind (user|api_key), perms
(permission patterns), roles, sid (session), plus iss/aud/iat/exp/jti.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import jwt
from jwt.algorithms import ECAlgorithm

from mesh.context import Principal
from mesh.errors import Unauthenticated

log = logging.getLogger("mesh.tokens")

ISSUER = "erp-auth"
AUDIENCE = "erp"
ALGORITHM = "ES256"
CLOCK_SKEW_SECONDS = 30
# The longest any verifier (the edge's jwt_authn, JwksKeys) may keep a JWKS document
# before fetching it again. svc_auth publishes a new key at least this long (with
# margin) before signing with it, so a rotation never meets a stale cache.
JWKS_CACHE_SECONDS = 300


class KeyProvider(Protocol):
    async def public_key(self, kid: str) -> Any | None:
        """The verification key with this id, or None if there is none."""


def claims_for(principal: Principal, issued_at: int, expires_at: int, jti: str) -> dict[str, Any]:
    """The claims svc_auth signs for `principal`; `principal_from_claims` reads them back."""
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": principal.subject,
        "tid": principal.tenant_id,
        "kind": principal.kind,
        "perms": list(principal.permissions),
        "roles": list(principal.roles),
        "sid": principal.session_id,
        "iat": issued_at,
        "exp": expires_at,
        "jti": jti,
    }


def principal_from_claims(claims: dict[str, Any], token: str) -> Principal:
    return Principal(
        subject=str(claims["sub"]),
        tenant_id=str(claims["tid"]),
        kind=str(claims.get("kind", "user")),
        permissions=tuple(claims.get("perms", ())),
        roles=tuple(claims.get("roles", ())),
        session_id=str(claims.get("sid", "")),
        token=token,
    )


class TokenVerifier:
    """Verifies a bearer token; remembers recent good tokens until they expire,
    so a busy client costs one signature check per token, not per call."""

    def __init__(self, keys: KeyProvider, *, cache_size: int = 4096) -> None:
        self.keys = keys
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        hit = self._cache.get(token)
        now = time.time()
        if hit is not None and hit[0] > now:
            self._cache.move_to_end(token)
            return hit[1]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed access token", reason="TOKEN_INVALID") from None
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise Unauthenticated("access token not signed by the mesh", reason="TOKEN_INVALID")
        key = await self.keys.public_key(header["kid"])
        if key is None:
            raise Unauthenticated("access token signed by an unknown key", reason="TOKEN_INVALID")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("access token expired", reason="TOKEN_EXPIRED") from None
        except jwt.PyJWTError:
            raise Unauthenticated("access token invalid", reason="TOKEN_INVALID") from None
        if "tid" not in claims:
            raise Unauthenticated("access token has no tenant", reason="TOKEN_INVALID")
        principal = principal_from_claims(claims, token)
        self._remember(token, float(claims["exp"]), principal)
        return principal

    def _remember(self, token: str, expires: float, principal: Principal) -> None:
        self._cache[token] = (expires, principal)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def forget_all(self) -> None:
        self._cache.clear()


JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


class JwksKeys:
    """Keys from a JWKS document, cached; an unknown kid triggers a refetch (at most
    once per `min_refetch_seconds`), which is how a key rotation is picked up."""

    def __init__(
        self,
        fetch: JwksFetcher,
        *,
        ttl_seconds: float = JWKS_CACHE_SECONDS,
        min_refetch_seconds: float = 5.0,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._min_refetch = min_refetch_seconds
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def public_key(self, kid: str) -> Any | None:
        stale = time.monotonic() - self._fetched_at > self._ttl
        if kid not in self._keys or stale:
            await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self._min_refetch:
                return
            try:
                document = await self._fetch()
            except Exception as exc:
                log.warning("jwks fetch failed", extra={"error": str(exc)})
                return
            self._keys = {
                jwk["kid"]: ECAlgorithm.from_jwk(json.dumps(jwk))
                for jwk in document.get("keys", [])
                if jwk.get("kty") == "EC" and jwk.get("kid")
            }
            self._fetched_at = time.monotonic()
