"""Tenant isolation: another tenant's id answers NOT_FOUND, exactly like a missing id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from auth_client import bearer, fails, signup, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]

from erp.auth.v1 import auth_service_pb2 as pb
from mesh.ids import new_id


async def test_other_tenants_ids_are_not_found(auth: Auth) -> None:
    a = await signup(auth.stub, tenant="Tenant A")
    b = await signup(auth.stub, tenant="Tenant B")
    a_token, b_token = bearer(a.tokens.access_token), bearer(b.tokens.access_token)

    b_user = await auth.stub.InviteUser(
        pb.InviteUserRequest(email=unique_email()), metadata=b_token
    )
    b_role = await auth.stub.CreateRole(
        pb.CreateRoleRequest(name="auditor", permissions=["auth.users.read"]), metadata=b_token
    )
    b_key = await auth.stub.CreateApiKey(
        pb.CreateApiKeyRequest(name="ci", permissions=["auth.users.read"]), metadata=b_token
    )
    uid, rid, kid = b_user.user.user_id, b_role.role.role_id, b_key.api_key.api_key_id

    calls: dict[str, Callable[[str], Awaitable[Any]]] = {
        "GetUser": lambda i: auth.stub.GetUser(pb.GetUserRequest(user_id=i), metadata=a_token),
        "DeactivateUser": lambda i: auth.stub.DeactivateUser(
            pb.DeactivateUserRequest(user_id=i), metadata=a_token
        ),
        "SetUserRoles": lambda i: auth.stub.SetUserRoles(
            pb.SetUserRolesRequest(user_id=i, roles=["viewer"]), metadata=a_token
        ),
        "GetRole": lambda i: auth.stub.GetRole(pb.GetRoleRequest(role_id=i), metadata=a_token),
        "DeleteRole": lambda i: auth.stub.DeleteRole(
            pb.DeleteRoleRequest(role_id=i), metadata=a_token
        ),
        "RevokeApiKey": lambda i: auth.stub.RevokeApiKey(
            pb.RevokeApiKeyRequest(api_key_id=i), metadata=a_token
        ),
    }
    ids = {
        "GetUser": uid,
        "DeactivateUser": uid,
        "SetUserRoles": uid,
        "GetRole": rid,
        "DeleteRole": rid,
        "RevokeApiKey": kid,
    }
    for name, call in calls.items():
        theirs = await fails(call(ids[name]), grpc.StatusCode.NOT_FOUND)
        missing = await fails(call(new_id()), grpc.StatusCode.NOT_FOUND)
        assert theirs.details() == missing.details(), name

    # Nothing of B changed, and A's lists show none of B's rows.
    still = await auth.stub.GetUser(pb.GetUserRequest(user_id=uid), metadata=b_token)
    assert list(still.user.roles) == ["member"]
    key = await auth.stub.ListApiKeys(pb.ListApiKeysRequest(), metadata=b_token)
    assert not key.api_keys[0].HasField("revoke_time")
    users = await auth.stub.ListUsers(pb.ListUsersRequest(), metadata=a_token)
    assert [u.user_id for u in users.users] == [a.user.user_id]
    roles = await auth.stub.ListRoles(pb.ListRolesRequest(), metadata=a_token)
    assert "auditor" not in [r.name for r in roles.roles]
