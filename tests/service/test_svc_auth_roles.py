"""Custom roles and the permission catalogue."""

from __future__ import annotations

import grpc
from auth_client import bad_fields, bearer, fails, reason, signup, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]

from erp.auth.v1 import auth_service_pb2 as pb


async def test_custom_role_lifecycle(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    request = pb.CreateRoleRequest(
        name="auditor",
        description="reads the log",
        permissions=["auth.audit.read", "auth.users.read"],
        idempotency_key="role-1",
    )
    role = (await auth.stub.CreateRole(request, metadata=token)).role
    assert not role.builtin and list(role.permissions) == ["auth.audit.read", "auth.users.read"]
    assert (await auth.stub.CreateRole(request, metadata=token)).role == role  # replayed
    request.idempotency_key = ""
    error = await fails(
        auth.stub.CreateRole(request, metadata=token), grpc.StatusCode.ALREADY_EXISTS
    )
    assert reason(error) == "ROLE_EXISTS"

    got = await auth.stub.GetRole(pb.GetRoleRequest(role_id=role.role_id), metadata=token)
    assert got.role == role
    names = [
        r.name for r in (await auth.stub.ListRoles(pb.ListRolesRequest(), metadata=token)).roles
    ]
    assert names == ["owner", "admin", "member", "accountant", "viewer", "auditor"]

    invited = await auth.stub.InviteUser(
        pb.InviteUserRequest(email=unique_email(), roles=["auditor"]), metadata=token
    )
    error = await fails(
        auth.stub.DeleteRole(pb.DeleteRoleRequest(role_id=role.role_id), metadata=token),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "ROLE_IN_USE"
    await auth.stub.SetUserRoles(
        pb.SetUserRolesRequest(user_id=invited.user.user_id, roles=["viewer"]), metadata=token
    )
    await auth.stub.DeleteRole(pb.DeleteRoleRequest(role_id=role.role_id), metadata=token)
    await fails(
        auth.stub.GetRole(pb.GetRoleRequest(role_id=role.role_id), metadata=token),
        grpc.StatusCode.NOT_FOUND,
    )
    owner_role = next(
        r
        for r in (await auth.stub.ListRoles(pb.ListRolesRequest(), metadata=token)).roles
        if r.name == "owner"
    )
    error = await fails(
        auth.stub.DeleteRole(pb.DeleteRoleRequest(role_id=owner_role.role_id), metadata=token),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason(error) == "BUILTIN_ROLE"


async def test_role_validation(auth: Auth) -> None:
    owner = await signup(auth.stub)
    token = bearer(owner.tokens.access_token)
    error = await fails(
        auth.stub.CreateRole(
            pb.CreateRoleRequest(name="Bad Name", permissions=["ok.pattern.read", "nope"]),
            metadata=token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"name", "permissions[1]"}
    error = await fails(
        auth.stub.CreateRole(pb.CreateRoleRequest(name="admin"), metadata=token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"name"}


async def test_list_permissions_comes_from_the_contracts(auth: Auth) -> None:
    owner = await signup(auth.stub)
    answer = await auth.stub.ListPermissions(
        pb.ListPermissionsRequest(), metadata=bearer(owner.tokens.access_token)
    )
    names = [p.name for p in answer.permissions]
    assert names == sorted(names)
    by_name = {p.name: list(p.methods) for p in answer.permissions}
    assert by_name["auth.users.invite"] == ["erp.auth.v1.AuthService.InviteUser"]
    assert "erp.auth.v1.AuthService.GetUser" in by_name["auth.users.read"]
    assert all("Signup" not in m for methods in by_name.values() for m in methods)
