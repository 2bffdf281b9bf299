"""svc_auth enforces the plan billing sold: features and limits reach auth's
entitlement cache through billing's events, without restarting anything."""

from __future__ import annotations

import grpc
from auth_client import fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import (  # type: ignore[import-not-found]
    Tenant,
    change_plan,
    error_info,
    failure,
    invite,
    new_tenant,
    users_become,
)
from billing_harness import Billing, eventually  # type: ignore[import-not-found]

from erp.auth.v1 import auth_service_pb2 as apb


def api_key_request() -> apb.CreateApiKeyRequest:
    return apb.CreateApiKeyRequest(name="ci", permissions=["auth.users.read"])


async def auth_sees_plan(auth: Auth, tenant: Tenant, plan_id: str) -> None:
    """Wait until auth's entitlement cache holds the tenant's new plan (from the event)."""
    cache = auth.running.runtime.entitlements

    async def probe() -> bool | None:
        found = cache.get(tenant.tenant_id) or await cache.lookup(tenant.tenant_id)
        return True if found is not None and found.plan_id == plan_id else None

    await eventually(probe)


async def test_feature_follows_the_plan(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    await auth.stub.CreateApiKey(api_key_request(), metadata=tenant.token)  # trial: Business

    await change_plan(billing, tenant, "free")

    async def refused() -> grpc.aio.AioRpcError | None:
        error = await failure(auth.stub.CreateApiKey(api_key_request(), metadata=tenant.token))
        return error if error and error.code() == grpc.StatusCode.PERMISSION_DENIED else None

    error = await eventually(refused)
    info = error_info(error)
    assert info.reason == "FEATURE_NOT_IN_PLAN"
    assert dict(info.metadata) == {"feature": "api", "plan": "free"}
    error = await fails(
        auth.stub.CreateRole(
            apb.CreateRoleRequest(name="auditor", permissions=["auth.audit.read"]),
            metadata=tenant.token,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert dict(error_info(error).metadata) == {"feature": "custom_roles", "plan": "free"}
    me = await auth.stub.GetMe(apb.GetMeRequest(), metadata=tenant.token)  # reads work
    assert me.tenant_id == tenant.tenant_id

    await change_plan(billing, tenant, "starter")

    async def allowed() -> apb.CreateApiKeyResponse | None:
        try:
            answer: apb.CreateApiKeyResponse = await auth.stub.CreateApiKey(
                api_key_request(), metadata=tenant.token
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.PERMISSION_DENIED:
                raise
            return None
        return answer

    created = await eventually(allowed)
    assert created.secret and created.api_key.name == "ci"
    await fails(  # starter has the API but not custom roles
        auth.stub.CreateRole(
            apb.CreateRoleRequest(name="auditor", permissions=["auth.audit.read"]),
            metadata=tenant.token,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_seat_limit_of_the_free_plan(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    for _ in range(2):
        await invite(auth, tenant)
    await users_become(billing, tenant, 3)
    await change_plan(billing, tenant, "free")
    await auth_sees_plan(auth, tenant, "free")

    error = await fails(
        auth.stub.InviteUser(
            apb.InviteUserRequest(email="fourth@example.com"), metadata=tenant.token
        ),
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    )
    info = error_info(error)
    assert info.reason == "LIMIT_REACHED"
    assert info.metadata["limit"] == "users" and info.metadata["allowed"] == "3"
    users = await auth.stub.ListUsers(apb.ListUsersRequest(), metadata=tenant.token)
    assert len(users.users) == 3  # nobody was added
    await users_become(billing, tenant, 3)
