"""Signup, login and GetMe; validation errors name their fields; duplicates."""

from __future__ import annotations

import grpc
from auth_client import PASSWORD, bad_fields, bearer, fails, reason, signup, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]

from erp.auth.v1 import auth_pb2
from erp.auth.v1 import auth_service_pb2 as pb


async def test_signup_login_get_me(auth: Auth) -> None:
    email = unique_email("Owner").upper()
    up = await signup(auth.stub, email=f"  {email} ")
    assert up.user.email == email.lower()
    assert up.user.status == auth_pb2.USER_STATUS_ACTIVE
    assert list(up.user.roles) == ["owner"]
    assert up.user.display_name == email.lower().split("@")[0]
    assert up.tenant.name == "Acme Ltd" and up.user.tenant_id == up.tenant.tenant_id
    assert up.tokens.token_type == "Bearer" and up.tokens.refresh_token
    assert up.tenant.audit.HasField("create_time")

    login = await auth.stub.Login(pb.LoginRequest(email=email, password=PASSWORD))
    assert login.user.user_id == up.user.user_id
    me = await auth.stub.GetMe(pb.GetMeRequest(), metadata=bearer(login.tokens.access_token))
    assert me.user.user_id == up.user.user_id
    assert me.tenant_id == up.tenant.tenant_id
    assert list(me.permissions) == ["*"]
    assert list(me.user.roles) == ["owner"]

    tenant = await auth.stub.GetTenant(
        pb.GetTenantRequest(), metadata=bearer(login.tokens.access_token)
    )
    assert tenant.tenant.tenant_id == up.tenant.tenant_id

    roles = await auth.stub.ListRoles(
        pb.ListRolesRequest(), metadata=bearer(up.tokens.access_token)
    )
    assert [r.name for r in roles.roles] == ["owner", "admin", "member", "accountant", "viewer"]
    assert all(r.builtin for r in roles.roles)


async def test_signup_reports_every_bad_field(auth: Auth) -> None:
    error = await fails(
        auth.stub.Signup(pb.SignupRequest(tenant_name="   ", email="nope", password="short")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"tenant_name", "email", "password"}

    email = unique_email()
    error = await fails(
        auth.stub.Signup(pb.SignupRequest(tenant_name="x" * 201, email=email, password=email)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"tenant_name", "password"}
    error = await fails(
        auth.stub.Signup(pb.SignupRequest(tenant_name="A", email=email, password="p" * 1025)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"password"}


async def test_duplicate_email_is_already_exists(auth: Auth) -> None:
    email = unique_email()
    await signup(auth.stub, email=email)
    error = await fails(signup(auth.stub, email=email.upper()), grpc.StatusCode.ALREADY_EXISTS)
    assert reason(error) == "EMAIL_TAKEN"


async def test_wrong_credentials_are_generic(auth: Auth) -> None:
    email = unique_email()
    await signup(auth.stub, email=email)
    wrong_password = await fails(
        auth.stub.Login(pb.LoginRequest(email=email, password="wrong password!!")),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    unknown = await fails(
        auth.stub.Login(pb.LoginRequest(email=unique_email(), password=PASSWORD)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert wrong_password.details() == unknown.details()


async def test_calls_without_a_token_are_unauthenticated(auth: Auth) -> None:
    await fails(auth.stub.GetMe(pb.GetMeRequest()), grpc.StatusCode.UNAUTHENTICATED)
