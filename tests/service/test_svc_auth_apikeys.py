"""API keys: create -> exchange -> call -> revoke -> exchange refused; the rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import jwt
from auth_client import bad_fields, bearer, fails, reason, signup  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from google.protobuf import timestamp_pb2
from sqlalchemy import select

from erp.auth.v1 import auth_service_pb2 as pb
from svc_auth.store import TABLES


async def test_api_key_lifecycle(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    created = await auth.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="reporting", permissions=["auth.users.read"]), metadata=token
    )
    key_id = created.api_key.api_key_id
    assert created.secret.startswith(f"erpk_{key_id}_")
    assert len(created.secret) >= len(f"erpk_{key_id}_") + 43

    exchanged = await auth.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=created.secret))
    assert exchanged.tokens.access_token and not exchanged.tokens.refresh_token
    claims = jwt.decode(exchanged.tokens.access_token, options={"verify_signature": False})
    assert claims["kind"] == "api_key" and claims["sub"] == key_id
    assert claims["perms"] == ["auth.users.read"]
    machine = bearer(exchanged.tokens.access_token)

    users = await auth.stub.ListUsers(pb.ListUsersRequest(), metadata=machine)
    assert [u.user_id for u in users.users] == [owner.user.user_id]
    await fails(
        auth.stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=machine),
        grpc.StatusCode.PERMISSION_DENIED,
    )

    listed = await auth.stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=token)
    assert [k.api_key_id for k in listed.api_keys] == [key_id]
    assert listed.api_keys[0].HasField("last_used_time")
    assert created.secret not in str(listed)

    revoked = await auth.stub.RevokeApiKey(
        pb.RevokeApiKeyRequest(api_key_id=key_id), metadata=token
    )
    assert revoked.api_key.HasField("revoke_time")
    error = await fails(
        auth.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=created.secret)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert reason(error) == "API_KEY_INVALID"
    tampered = created.secret[:-2] + ("AA" if not created.secret.endswith("AA") else "BB")
    for bad in ("", "erpk_nope", tampered):
        await fails(
            auth.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=bad)),
            grpc.StatusCode.UNAUTHENTICATED,
        )


async def test_get_me_for_an_api_key(auth: Auth) -> None:
    owner = await signup(auth.stub)
    created = await auth.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="bot", permissions=["auth.self.read"]),
        metadata=bearer(owner.tokens.access_token),
    )
    exchanged = await auth.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=created.secret))
    me = await auth.stub.GetMe(pb.GetMeRequest(), metadata=bearer(exchanged.tokens.access_token))
    assert me.user.user_id == created.api_key.api_key_id
    assert me.user.display_name == "bot"
    assert me.tenant_id == owner.tenant.tenant_id
    assert list(me.permissions) == ["auth.self.read"]


async def test_api_key_rules(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    past = timestamp_pb2.Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(minutes=1))
    error = await fails(
        auth.stub.CreateApiKey(
            pb.CreateApiKeyRequest(name="", permissions=["bad pattern"], expire_time=past),
            metadata=token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"name", "permissions[0]", "expire_time"}
    beyond = timestamp_pb2.Timestamp(seconds=253402300800)  # the year 10000
    error = await fails(
        auth.stub.CreateApiKey(
            pb.CreateApiKeyRequest(name="x", permissions=["auth.self.read"], expire_time=beyond),
            metadata=token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"expire_time"}
    error = await fails(
        auth.stub.CreateApiKey(pb.CreateApiKeyRequest(name="x"), metadata=token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"permissions"}

    # A key's permissions must be covered by its creator's.
    limited = await auth.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="limited", permissions=["auth.apikeys.manage"]),
        metadata=token,
    )
    exchanged = await auth.stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=limited.secret))
    error = await fails(
        auth.stub.CreateApiKey(
            pb.CreateApiKeyRequest(name="escalate", permissions=["auth.users.*"]),
            metadata=bearer(exchanged.tokens.access_token),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert reason(error) == "PERMISSION_NOT_HELD"


async def test_create_api_key_idempotency(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    request = pb.CreateApiKeyRequest(name="ci", permissions=["*"], idempotency_key="k-1")
    first = await auth.stub.CreateApiKey(request, metadata=token)
    again = await auth.stub.CreateApiKey(request, metadata=token)
    assert first.secret
    # the same key, but the secret is shown once only: it is never kept at rest
    assert again.api_key == first.api_key and again.secret == ""
    listed = await auth.stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=token)
    assert len(listed.api_keys) == 1
    async with auth.running.runtime.db.sessions() as session:
        stored = (await session.execute(select(TABLES.idempotency.c.response))).scalars().all()
    assert stored and all(first.secret.encode() not in row for row in stored)


async def test_idempotency_key_reused_with_another_request_is_refused(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    request = pb.CreateApiKeyRequest(name="ci", permissions=["*"], idempotency_key="k-2")
    await auth.stub.CreateApiKey(request, metadata=token)
    request.name = "something else"
    error = await fails(
        auth.stub.CreateApiKey(request, metadata=token), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert bad_fields(error) == {"idempotency_key"}
    listed = await auth.stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=token)
    assert [k.name for k in listed.api_keys] == ["ci"]


async def test_concurrent_calls_with_one_idempotency_key_create_one_key(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    request = pb.CreateApiKeyRequest(name="race", permissions=["*"], idempotency_key="k-race")
    outcomes = await asyncio.gather(
        *(auth.stub.CreateApiKey(request, metadata=token) for _ in range(4)),
        return_exceptions=True,
    )
    for outcome in outcomes:
        if isinstance(outcome, grpc.aio.AioRpcError):
            # the losers are told to retry, never an internal error
            assert outcome.code() is grpc.StatusCode.ABORTED, outcome
    answered = [o for o in outcomes if not isinstance(o, BaseException)]
    assert answered and len({a.api_key.api_key_id for a in answered}) == 1
    listed = await auth.stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=token)
    assert [k.name for k in listed.api_keys] == ["race"]
    retry = await auth.stub.CreateApiKey(request, metadata=token)
    assert retry.api_key.api_key_id == answered[0].api_key.api_key_id


async def test_one_idempotency_key_on_two_rpcs_creates_both(auth: Auth) -> None:
    """Keys are scoped per RPC: reusing one for another call is not a replay."""
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    role = await auth.stub.CreateRole(
        pb.CreateRoleRequest(
            name="auditor", permissions=["auth.audit.read"], idempotency_key="same"
        ),
        metadata=token,
    )
    key = await auth.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="k", permissions=["*"], idempotency_key="same"), metadata=token
    )
    assert role.role.name == "auditor" and key.secret
