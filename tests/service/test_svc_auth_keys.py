"""Signing keys: rotation keeps old tokens valid, the JWKS, the KEK file, restarts."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import jwt
from auth_client import PASSWORD, bearer, fails, signup, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth, new_home, settings_for, start_auth  # type: ignore[import-not-found]
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import event, select

from erp.auth.v1 import auth_service_pb2 as pb
from mesh.config import MeshPaths
from svc_auth.config import AuthConfig
from svc_auth.keys import KEK_FILE
from svc_auth.store import SigningKeyRow


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def test_rotation_keeps_old_tokens_valid(auth: Auth) -> None:
    before = await signup(auth.stub)
    old_kid = kid_of(before.tokens.access_token)
    new_key = await auth.service.keys.rotate_now()
    assert new_key.kid != old_kid

    # The old token still works (fresh verifier cache: the key itself is still known).
    await auth.service.keys.load()
    assert await auth.service.keys.public_key(old_kid) is not None
    me = await auth.stub.GetMe(pb.GetMeRequest(), metadata=bearer(before.tokens.access_token))
    assert me.user.user_id == before.user.user_id

    after = await auth.stub.Login(pb.LoginRequest(email=before.user.email, password=PASSWORD))
    assert kid_of(after.tokens.access_token) == new_key.kid

    jwks = await auth.stub.GetJwks(pb.GetJwksRequest())
    kids = [k.kid for k in jwks.keys]
    assert kids[0] == new_key.kid and old_kid in kids
    assert all(k.kty == "EC" and k.crv == "P-256" and k.alg == "ES256" for k in jwks.keys)
    # Anyone can verify both tokens from the published JWKS alone.
    for token in (before.tokens.access_token, after.tokens.access_token):
        jwk = next(k for k in jwks.keys if k.kid == kid_of(token))
        key = ECAlgorithm.from_jwk(
            json.dumps({"kty": jwk.kty, "crv": jwk.crv, "x": jwk.x, "y": jwk.y})
        )
        assert isinstance(key, ec.EllipticCurvePublicKey)
        claims = jwt.decode(token, key, algorithms=["ES256"], audience="erp", issuer="erp-auth")
        assert claims["tid"] == before.tenant.tenant_id


async def test_private_keys_are_encrypted_at_rest(auth: Auth) -> None:
    kek = MeshPaths(auth.settings.home).certs / KEK_FILE
    assert kek.stat().st_mode & 0o777 == 0o600
    assert len(kek.read_bytes()) == 32
    async with auth.running.runtime.db.sessions() as session:
        rows = (await session.scalars(select(SigningKeyRow))).all()
    assert rows
    for row in rows:
        assert b"PRIVATE" not in row.private_key and "d" not in row.public_jwk


async def test_get_me_is_one_query_then_none_while_cached(auth: Auth) -> None:
    up = await signup(auth.stub)
    engine = auth.running.runtime.db.engine.sync_engine
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    def selects() -> list[str]:
        # Ignore the outbox relay, which shares the engine and may poll meanwhile.
        relay = ("mesh_outbox", "synchronous_commit")
        return [s for s in statements if not any(r in s for r in relay)]

    event.listen(engine, "before_cursor_execute", count)
    try:
        await auth.stub.GetMe(pb.GetMeRequest(), metadata=bearer(up.tokens.access_token))
        assert len(selects()) == 1, statements
        await auth.stub.GetMe(pb.GetMeRequest(), metadata=bearer(up.tokens.access_token))
        assert len(selects()) == 1, statements  # the second answer came from the cache
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_restart_keeps_data_and_keys(fresh_database: tuple[str, str], nats_url: str) -> None:
    backend, url = fresh_database
    home = new_home()
    settings = settings_for(home, url, nats_url)
    first = await start_auth(backend, settings)
    try:
        email = unique_email()
        up = await signup(first.stub, email=email)
    finally:
        await first.close()

    second = await start_auth(backend, settings)
    try:
        # The old token verifies with the key reloaded from the database (same KEK).
        me = await second.stub.GetMe(pb.GetMeRequest(), metadata=bearer(up.tokens.access_token))
        assert me.user.email == email
        login = await second.stub.Login(pb.LoginRequest(email=email, password=PASSWORD))
        assert kid_of(login.tokens.access_token) == kid_of(up.tokens.access_token)
        await fails(signup(second.stub, email=email), grpc.StatusCode.ALREADY_EXISTS)
    finally:
        await second.close()
        shutil.rmtree(home.home, ignore_errors=True)


async def test_background_rotation(fresh_database: tuple[str, str], nats_url: str) -> None:
    backend, url = fresh_database
    home = new_home()
    config = AuthConfig(key_rotation=timedelta(seconds=1))
    running = await start_auth(backend, settings_for(home, url, nats_url), config)
    try:
        first = (await running.stub.GetJwks(pb.GetJwksRequest())).keys[0].kid
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            jwks = await running.stub.GetJwks(pb.GetJwksRequest())
            if jwks.keys[0].kid != first:
                break
            assert asyncio.get_running_loop().time() < deadline, "no rotation"
            await asyncio.sleep(0.2)
        assert first in [k.kid for k in jwks.keys[1:]]  # newest first; the old one still listed
    finally:
        await running.close()
        shutil.rmtree(home.home, ignore_errors=True)


async def test_scheduled_rotation_publishes_the_next_key_before_it_signs(
    fresh_database: tuple[str, str], nats_url: str
) -> None:
    """Verifiers cache the JWKS (the edge for 5 minutes), so a new key must be in
    the JWKS before any token carries its kid."""
    backend, url = fresh_database
    home = new_home()
    running = await start_auth(backend, settings_for(home, url, nats_url))
    try:
        email = unique_email()
        up = await signup(running.stub, email=email)
        old_kid = kid_of(up.tokens.access_token)
        keys = running.service.keys
        ahead = timedelta(seconds=4)  # room for a loaded CI machine
        upcoming = await keys.rotate_now(publish_ahead=ahead)
        # a second check while the next key waits publishes nothing more
        assert not await keys.rotate_if_due(timedelta(0), ahead)

        listed = [k.kid for k in (await running.stub.GetJwks(pb.GetJwksRequest())).keys]
        assert listed == [upcoming.kid, old_kid]
        login = pb.LoginRequest(email=email, password=PASSWORD)
        assert kid_of((await running.stub.Login(login)).tokens.access_token) == old_kid

        await asyncio.sleep(max(0.0, (upcoming.activates_at - datetime.now(UTC)).total_seconds()))
        fresh = (await running.stub.Login(login)).tokens.access_token
        assert kid_of(fresh) == upcoming.kid
        for token in (up.tokens.access_token, fresh):  # both verify
            await running.stub.GetMe(pb.GetMeRequest(), metadata=bearer(token))
    finally:
        await running.close()
        shutil.rmtree(home.home, ignore_errors=True)


async def test_jwks_shows_a_key_another_replica_made(auth: Auth) -> None:
    from mesh.db import Database
    from svc_auth.keys import KeyStore, load_or_create_kek

    db = Database(auth.settings.database_url)
    try:
        other_replica = KeyStore(
            db, load_or_create_kek(MeshPaths(auth.settings.home).certs), timedelta(minutes=15)
        )
        made = await other_replica.rotate_now(publish_ahead=timedelta(minutes=10))
    finally:
        await db.close()
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        listed = [k.kid for k in (await auth.stub.GetJwks(pb.GetJwksRequest())).keys]
        if made.kid in listed:
            break
        assert asyncio.get_running_loop().time() < deadline, listed
        await asyncio.sleep(0.3)
