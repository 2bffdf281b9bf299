"""What svc_auth publishes. Each function writes one event to the outbox of the
caller's transaction; the mesh relay moves it to JetStream (stream ERP_AUTH).
svc_auth consumes no events yet."""

from __future__ import annotations

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth.v1 import auth_pb2
from mesh.events import make_envelope, record
from svc_auth.store import TABLES

SOURCE = "auth"
TENANT_CREATED = "auth.tenant.created"
USER_CREATED = "auth.user.created"
USER_INVITED = "auth.user.invited"
USER_DEACTIVATED = "auth.user.deactivated"
PASSWORD_RESET_REQUESTED = "auth.password_reset.requested"


async def _publish(
    session: AsyncSession, event_type: str, payload: Message, aggregate_id: str, tenant_id: str
) -> None:
    envelope = make_envelope(
        event_type, payload, source=SOURCE, aggregate_id=aggregate_id, tenant_id=tenant_id
    )
    await record(session, TABLES, envelope)


async def tenant_created(
    session: AsyncSession, tenant: auth_pb2.Tenant, owner_user_id: str
) -> None:
    payload = auth_pb2.TenantCreated(tenant=tenant, owner_user_id=owner_user_id)
    await _publish(session, TENANT_CREATED, payload, tenant.tenant_id, tenant.tenant_id)


async def user_created(session: AsyncSession, user: auth_pb2.User) -> None:
    payload = auth_pb2.UserCreated(user=user)
    await _publish(session, USER_CREATED, payload, user.user_id, user.tenant_id)


async def user_invited(session: AsyncSession, user: auth_pb2.User, token: str) -> None:
    # Carries the raw token: the notification service needs it for the e-mail link.
    payload = auth_pb2.UserInvited(user=user, invitation_token=token)
    await _publish(session, USER_INVITED, payload, user.user_id, user.tenant_id)


async def user_deactivated(session: AsyncSession, user_id: str, tenant_id: str) -> None:
    payload = auth_pb2.UserDeactivated(user_id=user_id, tenant_id=tenant_id)
    await _publish(session, USER_DEACTIVATED, payload, user_id, tenant_id)


async def password_reset_requested(
    session: AsyncSession, user_id: str, tenant_id: str, email: str, token: str
) -> None:
    payload = auth_pb2.PasswordResetRequested(user_id=user_id, email=email, reset_token=token)
    await _publish(session, PASSWORD_RESET_REQUESTED, payload, user_id, tenant_id)
