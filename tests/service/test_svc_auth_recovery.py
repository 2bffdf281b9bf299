"""Password reset through the token the event carries on JetStream."""

from __future__ import annotations

import grpc
from auth_client import PASSWORD, bad_fields, bearer, fails, signup, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from jetstream_probe import read_event  # type: ignore[import-not-found]

from erp.auth.v1 import auth_pb2
from erp.auth.v1 import auth_service_pb2 as pb

NEW_PASSWORD = "an entirely new passphrase"


async def test_password_reset_via_the_event(auth: Auth) -> None:
    email = unique_email()
    up = await signup(auth.stub, email=email)
    await auth.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email.upper()))
    # Unknown addresses get the very same (empty) answer.
    same = await auth.stub.RequestPasswordReset(
        pb.RequestPasswordResetRequest(email=unique_email("nobody"))
    )
    assert same == pb.RequestPasswordResetResponse()

    event = auth_pb2.PasswordResetRequested()
    envelope = await read_event(
        auth.nats_url,
        "erp.auth.*.password_reset.requested",
        event,
        match=lambda e: e.email == email,
    )
    assert envelope.tenant_id == up.tenant.tenant_id and event.user_id == up.user.user_id
    assert envelope.event_type == "auth.password_reset.requested"

    error = await fails(
        auth.stub.ResetPassword(
            pb.ResetPasswordRequest(reset_token=event.reset_token, new_password="short")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"new_password"}
    await auth.stub.ResetPassword(
        pb.ResetPasswordRequest(reset_token=event.reset_token, new_password=NEW_PASSWORD)
    )
    # One use only; the old sessions are gone; the new password works.
    await fails(
        auth.stub.ResetPassword(
            pb.ResetPasswordRequest(reset_token=event.reset_token, new_password=NEW_PASSWORD)
        ),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await fails(
        auth.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=up.tokens.refresh_token)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await fails(
        auth.stub.Login(pb.LoginRequest(email=email, password=PASSWORD)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    login = await auth.stub.Login(pb.LoginRequest(email=email, password=NEW_PASSWORD))
    audit = await auth.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(), metadata=bearer(login.tokens.access_token)
    )
    kinds = [e.kind for e in audit.events]
    assert auth_pb2.AUDIT_EVENT_KIND_PASSWORD_RESET in kinds
    assert auth_pb2.AUDIT_EVENT_KIND_PASSWORD_RESET_REQUESTED in kinds


async def test_reset_requests_are_throttled(auth: Auth) -> None:
    email = unique_email()
    up = await signup(auth.stub, email=email)
    for _ in range(5):
        await auth.stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=email))
    audit = await auth.stub.ListAuditEvents(
        pb.ListAuditEventsRequest(), metadata=bearer(up.tokens.access_token)
    )
    requested = [
        e for e in audit.events if e.kind == auth_pb2.AUDIT_EVENT_KIND_PASSWORD_RESET_REQUESTED
    ]
    assert len(requested) == 3
