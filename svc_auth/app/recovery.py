"""Password reset and invitation acceptance: public flows that prove who the
caller is by a one-time token sent by e-mail (through an event)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import acting_for_tenant
from mesh.errors import Unauthenticated, Violations
from svc_auth import events
from svc_auth.app.common import ACTIVE, INVITED, A, Deps, audit, now, touched
from svc_auth.app.sessions import SignedIn, open_session
from svc_auth.config import MAX_LIVE_RESET_TOKENS, RESET_TTL
from svc_auth.domain import validation
from svc_auth.domain.secrets import digest
from svc_auth.store import (
    Directory,
    InvitationRow,
    Invitations,
    LoginAttempts,
    ResetRow,
    Resets,
    Sessions,
    UserRow,
    Users,
)


async def _holder(
    session: AsyncSession, row: InvitationRow | ResetRow | None, at: datetime, status: int
) -> UserRow | None:
    """The user a live mailed token belongs to, if that user is in `status`."""
    if row is None or not row.live(at):
        return None
    user = await Users(session, row.tenant_id).get_with_roles(row.user_id)
    return user if user.status == status else None


async def request_reset(deps: Deps, raw_email: str) -> None:
    """Same silent answer for unknown, inactive, throttled and good addresses."""
    email = validation.normalize_email(raw_email)
    if validation.check_email(email):
        return
    async with deps.db.transaction() as session:
        user = await Directory(session).user_by_email(email)
        if user is None or user.status != ACTIVE:
            return
        with acting_for_tenant(user.tenant_id):
            resets = Resets(session)
            at = now()
            if await resets.live_count(user.id, at) >= MAX_LIVE_RESET_TOKENS:
                return  # throttled: enough links are already in the mailbox
            token = resets.issue(user.id, at, RESET_TTL)
            await events.password_reset_requested(session, user.id, user.tenant_id, email, token)
            audit(
                session, A.AUDIT_EVENT_KIND_PASSWORD_RESET_REQUESTED, actor="", subject_id=user.id
            )


def _check_new_password(password: str, field: str, email: str = "") -> None:
    problems = Violations()
    problems.extend(validation.check_password(password, email, field))
    problems.raise_if_any()


async def reset_password(deps: Deps, token: str, new_password: str) -> None:
    refused = Unauthenticated("reset token invalid or expired", reason="RESET_TOKEN_INVALID")
    problems = Violations()
    if not token:
        problems.add("reset_token", "is required")
    problems.extend(validation.check_password(new_password, "", "new_password"))
    problems.raise_if_any()
    password_hash = await deps.passwords.hash(new_password)
    async with deps.db.transaction() as session:
        row = await Directory(session).reset(digest(token))
        at = now()
        user = await _holder(session, row, at, ACTIVE)
        if row is None or user is None:
            raise refused
        with acting_for_tenant(row.tenant_id):
            _check_new_password(new_password, "new_password", user.email)
            resets = Resets(session)
            if not await resets.use(row.id, at):
                raise refused
            await resets.use_all_of(user.id, at)  # older links die with this one
            user.password_hash = password_hash
            touched(user, user.id, at)
            await Sessions(session).revoke_all_of(user.id, at)
            await LoginAttempts(session).clear(user.email)
            audit(session, A.AUDIT_EVENT_KIND_PASSWORD_RESET, actor=user.id, subject_id=user.id)


@dataclass(frozen=True)
class AcceptInput:
    token: str
    password: str
    display_name: str


async def accept_invitation(deps: Deps, given: AcceptInput) -> SignedIn:
    refused = Unauthenticated("invitation invalid or expired", reason="INVITATION_INVALID")
    problems = Violations()
    if not given.token:
        problems.add("invitation_token", "is required")
    problems.extend(validation.check_password(given.password, ""))
    problems.extend(validation.check_display_name(given.display_name))
    problems.raise_if_any()
    password_hash = await deps.passwords.hash(given.password)
    async with deps.db.transaction() as session:
        row = await Directory(session).invitation(digest(given.token))
        at = now()
        user = await _holder(session, row, at, INVITED)
        if row is None or user is None:
            raise refused
        with acting_for_tenant(row.tenant_id):
            _check_new_password(given.password, "password", user.email)
            if not await Invitations(session).use(row.id, at):
                raise refused
            user.password_hash = password_hash
            user.status = ACTIVE
            if given.display_name.strip():
                user.display_name = given.display_name.strip()
            touched(user, user.id, at)
            signed_in = await open_session(deps, session, user)
            audit(session, A.AUDIT_EVENT_KIND_INVITE_ACCEPTED, actor=user.id, subject_id=user.id)
    deps.profiles.drop(user.tenant_id, user.id)
    return signed_in
