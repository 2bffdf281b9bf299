"""Rows and results -> contract messages. Nothing else."""

from __future__ import annotations

from datetime import datetime

from erp.auth.v1 import auth_pb2, auth_service_pb2
from erp.common.v1 import audit_pb2
from mesh.timestamps import to_timestamp
from svc_auth.domain.roles import BUILTIN_ROLES
from svc_auth.store import ApiKeyRow, AuditRow, RoleRow, Stamped, TenantRow, UserRow
from svc_auth.tokens import AccessToken


def stamps(row: Stamped) -> audit_pb2.AuditStamps:
    return audit_pb2.AuditStamps(
        create_time=to_timestamp(row.created_at),
        created_by=row.created_by,
        update_time=to_timestamp(row.updated_at),
        updated_by=row.updated_by,
    )


def tenant(row: TenantRow) -> auth_pb2.Tenant:
    return auth_pb2.Tenant(tenant_id=row.id, name=row.name, audit=stamps(row))


def user(row: UserRow) -> auth_pb2.User:
    """`row.roles` must be loaded."""
    return auth_pb2.User(
        user_id=row.id,
        tenant_id=row.tenant_id,
        email=row.email,
        display_name=row.display_name,
        status=auth_pb2.UserStatus.ValueType(row.status),
        roles=sorted(r.name for r in row.roles),
        audit=stamps(row),
    )


def role_permissions(row: RoleRow) -> list[str]:
    builtin = BUILTIN_ROLES.get(row.name) if row.builtin else None
    return list(builtin.permissions) if builtin else list(row.permissions)


def role(row: RoleRow) -> auth_pb2.Role:
    return auth_pb2.Role(
        role_id=row.id,
        name=row.name,
        description=row.description,
        permissions=role_permissions(row),
        builtin=row.builtin,
        audit=stamps(row),
    )


def api_key(row: ApiKeyRow) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        api_key_id=row.id,
        name=row.name,
        permissions=list(row.permissions),
        expire_time=to_timestamp(row.expire_time),
        revoke_time=to_timestamp(row.revoke_time),
        last_used_time=to_timestamp(row.last_used_time),
        audit=stamps(row),
    )


def audit_event(row: AuditRow) -> auth_pb2.AuditEvent:
    return auth_pb2.AuditEvent(
        audit_event_id=row.id,
        kind=auth_pb2.AuditEventKind.ValueType(row.kind),
        actor_id=row.actor_id,
        subject_id=row.subject_id,
        detail=row.detail,
        occur_time=to_timestamp(row.occur_time),
    )


def token_pair(
    access: AccessToken, refresh: str = "", refresh_expires: datetime | None = None
) -> auth_service_pb2.TokenPair:
    return auth_service_pb2.TokenPair(
        access_token=access.token,
        token_type="Bearer",
        access_expire_time=to_timestamp(access.expires_at),
        refresh_token=refresh,
        refresh_expire_time=to_timestamp(refresh_expires),
    )
