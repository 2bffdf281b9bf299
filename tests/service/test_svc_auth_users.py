"""Users: invitations (event, acceptance, idempotency), roles, deactivation, paging."""

from __future__ import annotations

import grpc
from auth_client import (  # type: ignore[import-not-found]
    PASSWORD,
    bad_fields,
    bearer,
    fails,
    reason,
    signup,
    unique_email,
)
from auth_harness import Auth  # type: ignore[import-not-found]
from jetstream_probe import read_event  # type: ignore[import-not-found]

from erp.auth.v1 import auth_pb2
from erp.auth.v1 import auth_service_pb2 as pb
from erp.common.v1 import paging_pb2


async def invite_and_accept(
    auth: Auth, owner_token: str, tenant_id: str, roles: list[str] | None = None
) -> pb.AcceptInvitationResponse:
    email = unique_email("invitee")
    invited = await auth.stub.InviteUser(
        pb.InviteUserRequest(email=email, roles=roles or []), metadata=bearer(owner_token)
    )
    assert invited.user.status == auth_pb2.USER_STATUS_INVITED
    event = auth_pb2.UserInvited()
    await read_event(
        auth.nats_url,
        f"erp.auth.{tenant_id}.user.invited",
        event,
        match=lambda e: e.user.email == email,
    )
    accepted: pb.AcceptInvitationResponse = await auth.stub.AcceptInvitation(
        pb.AcceptInvitationRequest(
            invitation_token=event.invitation_token, password=PASSWORD, display_name="New Person"
        )
    )
    assert accepted.user.user_id == invited.user.user_id
    return accepted


async def test_invitation_is_accepted_with_the_token_from_the_event(auth: Auth) -> None:
    owner = await signup(auth.stub)
    accepted = await invite_and_accept(auth, owner.tokens.access_token, owner.tenant.tenant_id)
    assert accepted.user.status == auth_pb2.USER_STATUS_ACTIVE
    assert accepted.user.display_name == "New Person"
    assert list(accepted.user.roles) == ["member"]
    me = await auth.stub.GetMe(pb.GetMeRequest(), metadata=bearer(accepted.tokens.access_token))
    assert "auth.users.read" in me.permissions and "*" not in me.permissions


async def test_a_member_cannot_invite(auth: Auth) -> None:
    owner = await signup(auth.stub)
    member = await invite_and_accept(auth, owner.tokens.access_token, owner.tenant.tenant_id)
    error = await fails(
        auth.stub.InviteUser(
            pb.InviteUserRequest(email=unique_email()),
            metadata=bearer(member.tokens.access_token),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert reason(error) == "PERMISSION_DENIED"


async def test_invitation_rules(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    error = await fails(
        auth.stub.InviteUser(pb.InviteUserRequest(email="bad", roles=["nope"]), metadata=token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"email"}
    error = await fails(
        auth.stub.InviteUser(
            pb.InviteUserRequest(email=unique_email(), roles=["member", "nope"]), metadata=token
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"roles"}
    await fails(
        auth.stub.InviteUser(pb.InviteUserRequest(email=owner.user.email), metadata=token),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    # An admin may invite, but not an owner.
    admin = await invite_and_accept(
        auth, owner.tokens.access_token, owner.tenant.tenant_id, ["admin"]
    )
    error = await fails(
        auth.stub.InviteUser(
            pb.InviteUserRequest(email=unique_email(), roles=["owner"]),
            metadata=bearer(admin.tokens.access_token),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert reason(error) == "OWNER_ONLY"


async def test_invite_user_idempotency_key_replays_the_first_answer(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    request = pb.InviteUserRequest(email=unique_email(), idempotency_key="invite-1")
    first = await auth.stub.InviteUser(request, metadata=token)
    again = await auth.stub.InviteUser(request, metadata=token)
    assert again == first
    request.idempotency_key = ""
    await fails(auth.stub.InviteUser(request, metadata=token), grpc.StatusCode.ALREADY_EXISTS)


async def test_set_roles_and_owner_rules(auth: Auth) -> None:
    owner = await signup(auth.stub)
    otoken = bearer(owner.tokens.access_token)
    admin = await invite_and_accept(
        auth, owner.tokens.access_token, owner.tenant.tenant_id, ["admin"]
    )
    atoken = bearer(admin.tokens.access_token)
    member = await invite_and_accept(auth, owner.tokens.access_token, owner.tenant.tenant_id)

    changed = await auth.stub.SetUserRoles(
        pb.SetUserRolesRequest(user_id=member.user.user_id, roles=["viewer", "member"]),
        metadata=atoken,
    )
    assert list(changed.user.roles) == ["member", "viewer"]
    error = await fails(
        auth.stub.SetUserRoles(
            pb.SetUserRolesRequest(user_id=member.user.user_id, roles=["owner"]), metadata=atoken
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert reason(error) == "OWNER_ONLY"
    error = await fails(
        auth.stub.SetUserRoles(
            pb.SetUserRolesRequest(user_id=member.user.user_id, roles=[]), metadata=otoken
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"roles"}
    error = await fails(
        auth.stub.SetUserRoles(
            pb.SetUserRolesRequest(user_id=owner.user.user_id, roles=["admin"]), metadata=otoken
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "LAST_OWNER"
    # A second owner: now the first may step down.
    await auth.stub.SetUserRoles(
        pb.SetUserRolesRequest(user_id=admin.user.user_id, roles=["owner"]), metadata=otoken
    )
    done = await auth.stub.SetUserRoles(
        pb.SetUserRolesRequest(user_id=owner.user.user_id, roles=["admin"]), metadata=otoken
    )
    assert list(done.user.roles) == ["admin"]


async def test_deactivate_user(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    member = await invite_and_accept(auth, owner.tokens.access_token, owner.tenant.tenant_id)
    error = await fails(
        auth.stub.DeactivateUser(
            pb.DeactivateUserRequest(user_id=owner.user.user_id), metadata=token
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "SELF_DEACTIVATION"
    done = await auth.stub.DeactivateUser(
        pb.DeactivateUserRequest(user_id=member.user.user_id), metadata=token
    )
    assert done.user.status == auth_pb2.USER_STATUS_DEACTIVATED
    again = await auth.stub.DeactivateUser(
        pb.DeactivateUserRequest(user_id=member.user.user_id), metadata=token
    )
    assert again.user.status == auth_pb2.USER_STATUS_DEACTIVATED
    # Sessions are revoked and sign-in refused.
    await fails(
        auth.stub.RefreshToken(pb.RefreshTokenRequest(refresh_token=member.tokens.refresh_token)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await fails(
        auth.stub.Login(pb.LoginRequest(email=member.user.email, password=PASSWORD)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    event = auth_pb2.UserDeactivated()
    await read_event(
        auth.nats_url,
        f"erp.auth.{owner.tenant.tenant_id}.user.deactivated",
        event,
        match=lambda e: e.user_id == member.user.user_id,
    )


async def test_list_users_pages_oldest_first(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    emails = [unique_email(f"p{i}") for i in range(3)]
    for email in emails:
        await auth.stub.InviteUser(pb.InviteUserRequest(email=email), metadata=token)
    seen: list[str] = []
    page = paging_pb2.PageRequest(page_size=2)
    while True:
        answer = await auth.stub.ListUsers(pb.ListUsersRequest(page=page), metadata=token)
        assert len(answer.users) <= 2
        seen.extend(u.email for u in answer.users)
        if not answer.page.next_page_token:
            break
        page = paging_pb2.PageRequest(page_size=2, page_token=answer.page.next_page_token)
    assert seen == [owner.user.email, *emails]
    error = await fails(
        auth.stub.ListUsers(
            pb.ListUsersRequest(page=paging_pb2.PageRequest(page_token="garbage")), metadata=token
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"page.page_token"}
