"""The AuthService servicer: contract messages in, use cases called, messages out.

No SQL and no rules here. Permissions for entry are enforced by the mesh
interceptor from the contract; domain errors raised below become gRPC statuses
there too.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from erp.auth.v1 import auth_pb2, auth_service_pb2_grpc
from erp.auth.v1 import auth_service_pb2 as pb
from mesh import paging
from mesh.timestamps import from_timestamp
from svc_auth import convert
from svc_auth.app import accounts, apikeys, recovery, roles, sessions, tenant, users
from svc_auth.app.common import Deps, Replay
from svc_auth.app.sessions import SignedIn

Ctx: TypeAlias = Any  # grpc ships no type hints (mypy: ignore_missing_imports)


def _pair(signed_in: SignedIn) -> pb.TokenPair:
    return convert.token_pair(signed_in.access, signed_in.refresh_token, signed_in.refresh_expires)


class AuthApi(auth_service_pb2_grpc.AuthServiceServicer):
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    # --- public: signing in ------------------------------------------------------

    async def Signup(self, request: pb.SignupRequest, context: Ctx) -> pb.SignupResponse:  # noqa: N802
        done = await accounts.signup(
            self.deps,
            accounts.SignupInput(
                request.tenant_name, request.email, request.password, request.display_name
            ),
        )
        return pb.SignupResponse(
            tenant=convert.tenant(done.tenant),
            user=convert.user(done.signed_in.user),
            tokens=_pair(done.signed_in),
        )

    async def Login(self, request: pb.LoginRequest, context: Ctx) -> pb.LoginResponse:  # noqa: N802
        signed_in = await accounts.login(self.deps, request.email, request.password)
        return pb.LoginResponse(user=convert.user(signed_in.user), tokens=_pair(signed_in))

    async def RefreshToken(  # noqa: N802
        self, request: pb.RefreshTokenRequest, context: Ctx
    ) -> pb.RefreshTokenResponse:
        signed_in = await sessions.refresh_tokens(self.deps, request.refresh_token)
        return pb.RefreshTokenResponse(tokens=_pair(signed_in))

    async def Logout(self, request: pb.LogoutRequest, context: Ctx) -> pb.LogoutResponse:  # noqa: N802
        await sessions.logout(self.deps, request.refresh_token)
        return pb.LogoutResponse()

    async def ExchangeApiKey(  # noqa: N802
        self, request: pb.ExchangeApiKeyRequest, context: Ctx
    ) -> pb.ExchangeApiKeyResponse:
        access = await sessions.exchange_api_key(self.deps, request.api_key)
        return pb.ExchangeApiKeyResponse(tokens=convert.token_pair(access))

    async def GetJwks(self, request: pb.GetJwksRequest, context: Ctx) -> pb.GetJwksResponse:  # noqa: N802
        return pb.GetJwksResponse(keys=[pb.Jwk(**jwk) for jwk in await self.deps.keys.published()])

    async def RequestPasswordReset(  # noqa: N802
        self, request: pb.RequestPasswordResetRequest, context: Ctx
    ) -> pb.RequestPasswordResetResponse:
        await recovery.request_reset(self.deps, request.email)
        return pb.RequestPasswordResetResponse()

    async def ResetPassword(  # noqa: N802
        self, request: pb.ResetPasswordRequest, context: Ctx
    ) -> pb.ResetPasswordResponse:
        await recovery.reset_password(self.deps, request.reset_token, request.new_password)
        return pb.ResetPasswordResponse()

    async def AcceptInvitation(  # noqa: N802
        self, request: pb.AcceptInvitationRequest, context: Ctx
    ) -> pb.AcceptInvitationResponse:
        signed_in = await recovery.accept_invitation(
            self.deps,
            recovery.AcceptInput(request.invitation_token, request.password, request.display_name),
        )
        return pb.AcceptInvitationResponse(
            user=convert.user(signed_in.user), tokens=_pair(signed_in)
        )

    # --- the caller and the tenant -----------------------------------------------

    async def GetMe(self, request: pb.GetMeRequest, context: Ctx) -> pb.GetMeResponse:  # noqa: N802
        me = await users.me(self.deps)
        if me.user is not None:
            user = convert.user(me.user)
        else:
            # An API key is its own principal: user_id = key id, display_name = key name.
            assert me.api_key is not None
            user = auth_pb2.User(
                user_id=me.api_key.id,
                tenant_id=me.tenant_id,
                display_name=me.api_key.name,
                status=auth_pb2.USER_STATUS_ACTIVE,
                audit=convert.stamps(me.api_key),
            )
        return pb.GetMeResponse(user=user, tenant_id=me.tenant_id, permissions=me.permissions)

    async def GetTenant(self, request: pb.GetTenantRequest, context: Ctx) -> pb.GetTenantResponse:  # noqa: N802
        return pb.GetTenantResponse(tenant=convert.tenant(await tenant.get(self.deps)))

    async def ListAuditEvents(  # noqa: N802
        self, request: pb.ListAuditEventsRequest, context: Ctx
    ) -> pb.ListAuditEventsResponse:
        page = paging.parse(request.page)
        rows = await tenant.audit_page(self.deps, page.after, page.size + 1)
        return pb.ListAuditEventsResponse(
            events=[convert.audit_event(r) for r in rows[: page.size]],
            page=paging.next_token([r.id for r in rows], page),
        )

    # --- users -------------------------------------------------------------------

    async def InviteUser(
        self, request: pb.InviteUserRequest, context: Ctx
    ) -> pb.InviteUserResponse:  # noqa: N802
        return await users.invite(
            self.deps,
            users.InviteInput(request.email, request.display_name, list(request.roles)),
            Replay(
                request,
                pb.InviteUserResponse,
                lambda row: pb.InviteUserResponse(user=convert.user(row)),
            ),
        )

    async def GetUser(self, request: pb.GetUserRequest, context: Ctx) -> pb.GetUserResponse:  # noqa: N802
        return pb.GetUserResponse(user=convert.user(await users.get(self.deps, request.user_id)))

    async def ListUsers(self, request: pb.ListUsersRequest, context: Ctx) -> pb.ListUsersResponse:  # noqa: N802
        page = paging.parse(request.page)
        rows = await users.page(self.deps, page.after, page.size + 1)
        return pb.ListUsersResponse(
            users=[convert.user(r) for r in rows[: page.size]],
            page=paging.next_token([r.id for r in rows], page),
        )

    async def DeactivateUser(  # noqa: N802
        self, request: pb.DeactivateUserRequest, context: Ctx
    ) -> pb.DeactivateUserResponse:
        row = await users.deactivate(self.deps, request.user_id)
        return pb.DeactivateUserResponse(user=convert.user(row))

    async def SetUserRoles(  # noqa: N802
        self, request: pb.SetUserRolesRequest, context: Ctx
    ) -> pb.SetUserRolesResponse:
        row = await users.set_roles(self.deps, request.user_id, list(request.roles))
        return pb.SetUserRolesResponse(user=convert.user(row))

    # --- roles -------------------------------------------------------------------

    async def CreateRole(
        self, request: pb.CreateRoleRequest, context: Ctx
    ) -> pb.CreateRoleResponse:  # noqa: N802
        return await roles.create(
            self.deps,
            roles.RoleInput(
                request.name,
                request.description,
                list(request.permissions),
            ),
            Replay(
                request,
                pb.CreateRoleResponse,
                lambda row: pb.CreateRoleResponse(role=convert.role(row)),
            ),
        )

    async def GetRole(self, request: pb.GetRoleRequest, context: Ctx) -> pb.GetRoleResponse:  # noqa: N802
        return pb.GetRoleResponse(role=convert.role(await roles.get(self.deps, request.role_id)))

    async def ListRoles(self, request: pb.ListRolesRequest, context: Ctx) -> pb.ListRolesResponse:  # noqa: N802
        return pb.ListRolesResponse(
            roles=[convert.role(r) for r in await roles.all_roles(self.deps)]
        )

    async def DeleteRole(
        self, request: pb.DeleteRoleRequest, context: Ctx
    ) -> pb.DeleteRoleResponse:  # noqa: N802
        await roles.delete(self.deps, request.role_id)
        return pb.DeleteRoleResponse()

    async def ListPermissions(  # noqa: N802
        self, request: pb.ListPermissionsRequest, context: Ctx
    ) -> pb.ListPermissionsResponse:
        return pb.ListPermissionsResponse(
            permissions=[
                auth_pb2.Permission(name=name, methods=methods)
                for name, methods in roles.permission_catalogue()
            ]
        )

    # --- API keys ----------------------------------------------------------------

    async def CreateApiKey(  # noqa: N802
        self, request: pb.CreateApiKeyRequest, context: Ctx
    ) -> pb.CreateApiKeyResponse:
        expire = (
            from_timestamp(request.expire_time, "expire_time")
            if request.HasField("expire_time")
            else None
        )
        return await apikeys.create(
            self.deps,
            apikeys.ApiKeyInput(request.name, list(request.permissions), expire),
            Replay(
                request,
                pb.CreateApiKeyResponse,
                lambda issued: pb.CreateApiKeyResponse(
                    api_key=convert.api_key(issued.key), secret=issued.secret
                ),
                # A retry gets the same key but not its secret: secrets are never at rest.
                keep=lambda answer: pb.CreateApiKeyResponse(api_key=answer.api_key),
            ),
        )

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Ctx
    ) -> pb.ListApiKeysResponse:  # noqa: N802
        page = paging.parse(request.page)
        rows = await apikeys.page(self.deps, page.after, page.size + 1)
        return pb.ListApiKeysResponse(
            api_keys=[convert.api_key(r) for r in rows[: page.size]],
            page=paging.next_token([r.id for r in rows], page),
        )

    async def RevokeApiKey(  # noqa: N802
        self, request: pb.RevokeApiKeyRequest, context: Ctx
    ) -> pb.RevokeApiKeyResponse:
        row = await apikeys.revoke(self.deps, request.api_key_id)
        return pb.RevokeApiKeyResponse(api_key=convert.api_key(row))
