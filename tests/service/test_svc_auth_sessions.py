"""Refresh rotation and reuse detection, logout, and login lockout."""

from __future__ import annotations

import grpc
import jwt
from auth_client import PASSWORD, bearer, fails, reason, retry_seconds, signup, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]

from erp.auth.v1 import auth_pb2
from erp.auth.v1 import auth_service_pb2 as pb


async def test_refresh_rotates_and_reuse_revokes_the_family(auth: Auth) -> None:
    up = await signup(auth.stub)
    first = up.tokens.refresh_token
    second = (await auth.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=first))).tokens
    assert second.refresh_token != first
    claims = jwt.decode(second.access_token, options={"verify_signature": False})
    assert claims["sub"] == up.user.user_id and claims["tid"] == up.tenant.tenant_id
    assert claims["kind"] == "user" and claims["roles"] == ["owner"] and claims["sid"]
    assert claims["exp"] - claims["iat"] == 15 * 60
    third = (
        await auth.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=second.refresh_token))
    ).tokens

    # The first token comes back: theft assumed, the whole family ends.
    error = await fails(
        auth.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=first)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert reason(error) == "REFRESH_INVALID"
    await fails(
        auth.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=third.refresh_token)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    audit = await auth.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(), metadata=bearer(third.access_token)
    )
    assert auth_pb2.AUDIT_EVENT_KIND_REFRESH_REUSED in [e.kind for e in audit.events]


async def test_logout_ends_the_session(auth: Auth) -> None:
    up = await signup(auth.stub)
    await auth.stub.Logout(pb.LogoutRequest(refresh_token=up.tokens.refresh_token))
    await auth.stub.Logout(pb.LogoutRequest(refresh_token=up.tokens.refresh_token))  # idempotent
    await fails(
        auth.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=up.tokens.refresh_token)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await fails(
        auth.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token="not-a-token")),
        grpc.StatusCode.UNAUTHENTICATED,
    )


async def test_lockout_after_repeated_failures(auth: Auth) -> None:
    threshold = auth.service.config.lockout.threshold
    assert threshold == 5
    email = unique_email()
    up = await signup(auth.stub, email=email)

    async def wrong() -> grpc.aio.AioRpcError:
        try:
            await auth.stub.Login(pb.LoginRequest(email=email, password="wrong password!!"))
        except grpc.aio.AioRpcError as error:
            return error
        raise AssertionError("a wrong password signed in")

    # A success resets the count.
    for _ in range(threshold - 1):
        assert (await wrong()).code() == grpc.StatusCode.UNAUTHENTICATED
    await auth.stub.Login(pb.LoginRequest(email=email, password=PASSWORD))
    for _ in range(threshold - 1):
        assert (await wrong()).code() == grpc.StatusCode.UNAUTHENTICATED
    locking = await wrong()
    assert locking.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    error = await fails(
        auth.stub.Login(pb.LoginRequest(email=email, password=PASSWORD)),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    assert reason(error) == "ACCOUNT_LOCKED"
    assert 0 < retry_seconds(error) <= 15 * 60
    audit = await auth.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(), metadata=bearer(up.tokens.access_token)
    )
    kinds = [e.kind for e in audit.events]
    assert kinds.count(auth_pb2.AUDIT_EVENT_KIND_LOCKED_OUT) == 1
    assert kinds.count(auth_pb2.AUDIT_EVENT_KIND_LOGIN_FAILED) == 2 * (threshold - 1) + 2

    # Unknown addresses lock the same way (nothing reveals which accounts exist).
    ghost = unique_email("ghost")
    for _ in range(threshold):
        try:
            await auth.stub.Login(pb.LoginRequest(email=ghost, password="wrong password!!"))
        except grpc.aio.AioRpcError:
            pass
    await fails(
        auth.stub.Login(pb.LoginRequest(email=ghost, password="wrong password!!")),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
