"""Token verification as every service does it: ES256, JWKS cache, rotation."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from mesh.errors import Unauthenticated
from mesh.tokens import AUDIENCE, ISSUER, JwksKeys, TokenVerifier


def _key(kid: str) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid=kid, alg="ES256", use="sig")
    return private, jwk


def _token(private: ec.EllipticCurvePrivateKey, kid: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "tid": "tenant-1",
        "kind": "user",
        "perms": ["auth.self.read"],
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return jwt.encode(claims, private, algorithm="ES256", headers={"kid": kid})


class FakeJwksEndpoint:
    """A JWKS document we control, counting fetches (the unit tier's fake)."""

    def __init__(self, *jwks: dict[str, Any]) -> None:
        self.keys = list(jwks)
        self.fetches = 0

    async def __call__(self) -> dict[str, Any]:
        self.fetches += 1
        return {"keys": list(self.keys)}


async def test_valid_token_gives_principal_and_is_cached() -> None:
    private, jwk = _key("k1")
    endpoint = FakeJwksEndpoint(jwk)
    verifier = TokenVerifier(JwksKeys(endpoint))
    token = _token(private, "k1")
    principal = await verifier.verify(token)
    assert (principal.subject, principal.tenant_id) == ("user-1", "tenant-1")
    assert principal.permissions == ("auth.self.read",)
    assert await verifier.verify(token) is principal
    assert endpoint.fetches == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"iss": "someone-else"}, "invalid"),
        ({"aud": "other"}, "invalid"),
    ],
)
async def test_bad_claims_are_unauthenticated(overrides: dict[str, Any], reason: str) -> None:
    private, jwk = _key("k1")
    verifier = TokenVerifier(JwksKeys(FakeJwksEndpoint(jwk)))
    with pytest.raises(Unauthenticated, match=reason):
        await verifier.verify(_token(private, "k1", **overrides))


async def test_tampered_token_is_refused() -> None:
    private, jwk = _key("k1")
    verifier = TokenVerifier(JwksKeys(FakeJwksEndpoint(jwk)))
    header, _payload, signature = _token(private, "k1").split(".")
    forged = _token(private, "k1", perms=["*"]).split(".")[1]
    with pytest.raises(Unauthenticated):
        await verifier.verify(f"{header}.{forged}.{signature}")
    with pytest.raises(Unauthenticated):
        await verifier.verify("not-a-jwt")


async def test_token_from_foreign_key_with_known_kid_is_refused() -> None:
    _, jwk = _key("k1")
    intruder, _ = _key("k1")
    verifier = TokenVerifier(JwksKeys(FakeJwksEndpoint(jwk)))
    with pytest.raises(Unauthenticated):
        await verifier.verify(_token(intruder, "k1"))


async def test_rotation_unknown_kid_refetches_jwks() -> None:
    old_private, old_jwk = _key("old")
    endpoint = FakeJwksEndpoint(old_jwk)
    verifier = TokenVerifier(JwksKeys(endpoint, min_refetch_seconds=0))
    await verifier.verify(_token(old_private, "old"))
    new_private, new_jwk = _key("new")
    endpoint.keys.append(new_jwk)  # svc_auth rotated: the new key signs from now on
    await verifier.verify(_token(new_private, "new"))
    await verifier.verify(_token(old_private, "old", sub="user-2"))
    assert endpoint.fetches == 2


async def test_unknown_kid_refetch_is_rate_limited() -> None:
    private, jwk = _key("k1")
    endpoint = FakeJwksEndpoint(jwk)
    verifier = TokenVerifier(JwksKeys(endpoint, min_refetch_seconds=60))
    await verifier.verify(_token(private, "k1"))
    stranger, _ = _key("nobody")
    for _ in range(5):
        with pytest.raises(Unauthenticated, match="unknown key"):
            await verifier.verify(_token(stranger, "nobody"))
    assert endpoint.fetches == 1


def test_claims_round_trip_to_the_same_principal() -> None:
    from mesh.context import Principal
    from mesh.tokens import claims_for, principal_from_claims

    signed = Principal(
        subject="u1",
        tenant_id="t1",
        kind="user",
        permissions=("auth.self.read",),
        roles=("member",),
        session_id="s1",
    )
    claims = claims_for(signed, issued_at=100, expires_at=200, jti="j")
    assert (claims["iss"], claims["aud"], claims["exp"]) == (ISSUER, AUDIENCE, 200)
    assert principal_from_claims(claims, token="tok") == Principal(
        **{**signed.__dict__, "token": "tok"}
    )
