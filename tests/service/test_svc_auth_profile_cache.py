"""GetMe answers from a short-lived cache, but never shows a change made here late."""

from __future__ import annotations

from auth_client import bearer, signup  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from test_svc_auth_users import invite_and_accept  # type: ignore[import-not-found]

from erp.auth.v1 import auth_pb2
from erp.auth.v1 import auth_service_pb2 as pb


async def test_role_change_and_deactivation_show_at_once(auth: Auth) -> None:
    owner = await signup(auth.stub)
    owner_md = bearer(owner.tokens.access_token)
    member = await invite_and_accept(auth, owner.tokens.access_token, owner.tenant.tenant_id)
    member_md = bearer(member.tokens.access_token)
    before = await auth.stub.GetMe(pb.GetMeRequest(), metadata=member_md)  # now cached
    assert list(before.user.roles) == ["member"]

    await auth.stub.SetUserRoles(
        pb.SetUserRolesRequest(user_id=member.user.user_id, roles=["viewer"]), metadata=owner_md
    )
    after = await auth.stub.GetMe(pb.GetMeRequest(), metadata=member_md)
    assert list(after.user.roles) == ["viewer"]

    await auth.stub.DeactivateUser(
        pb.DeactivateUserRequest(user_id=member.user.user_id), metadata=owner_md
    )
    # the access token lives until it expires; what GetMe says about the account is current
    gone = await auth.stub.GetMe(pb.GetMeRequest(), metadata=member_md)
    assert gone.user.status == auth_pb2.USER_STATUS_DEACTIVATED
