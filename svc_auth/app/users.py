"""Users of a tenant: invite, read, deactivate, change roles; and GetMe.

Role and deactivation changes do not recall access tokens already issued: they
stay valid until they expire (the short access TTL); refresh stops at once for a
deactivated user, and the next refreshed token carries the new roles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import require_principal
from mesh.entitlements import ensure_within_limit
from mesh.errors import PermissionDenied, Violations
from mesh.ids import new_id
from svc_auth import convert, events
from svc_auth.app.accounts import email_conflict, email_taken
from svc_auth.app.common import (
    ACTIVE,
    DEACTIVATED,
    INVITED,
    A,
    Deps,
    R,
    Replay,
    audit,
    created,
    now,
    replayable,
    touched,
)
from svc_auth.config import INVITATION_TTL
from svc_auth.domain import roles as rules
from svc_auth.domain import validation
from svc_auth.store import (
    ApiKeyRow,
    ApiKeys,
    Directory,
    Invitations,
    RoleRow,
    Roles,
    Sessions,
    UserRow,
    Users,
)


@dataclass(frozen=True)
class InviteInput:
    email: str
    display_name: str
    roles: Sequence[str]


def _dedupe(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(n.strip() for n in names))


def _granted_permissions(roles: Sequence[RoleRow]) -> list[str]:
    return [p for r in roles for p in convert.role_permissions(r)]


async def _roles_named(roles: Roles, names: Sequence[str]) -> list[RoleRow]:
    found = await roles.named(names)
    problems = Violations()
    problems.extend(rules.check_role_names(names, (r.name for r in found)))
    problems.raise_if_any()
    return found


async def invite(deps: Deps, given: InviteInput, replay: Replay[R, UserRow]) -> R:
    principal = require_principal()
    email = validation.normalize_email(given.email)
    names = _dedupe(given.roles) or list(rules.DEFAULT_INVITE_ROLES)
    problems = Violations()
    problems.extend(validation.check_email(email))
    problems.extend(validation.check_display_name(given.display_name))
    problems.raise_if_any()
    if rules.OWNER in names and rules.OWNER not in principal.roles:
        raise PermissionDenied("only an owner may invite an owner", reason="OWNER_ONLY")

    async def run(session: AsyncSession) -> R:
        if await Directory(session).email_taken(email):
            raise email_taken()
        # The plan's seat limit, against our own count (exact, unlike billing's copy).
        ensure_within_limit("users", await Users(session).seats(DEACTIVATED) + 1)
        roles = await _roles_named(Roles(session), names)
        rules.require_covered(principal.permissions, _granted_permissions(roles))
        at = now()
        user = Users(session).add(
            UserRow(
                id=new_id(),
                email=email,
                display_name=validation.default_display_name(given.display_name, email),
                status=INVITED,
                password_hash=None,
                roles=roles,
                **created(principal.subject, at),
            )
        )
        await session.flush()  # the user row first: the invitation refers to it
        token = Invitations(session).issue(user.id, at, INVITATION_TTL)
        await session.flush()
        message = convert.user(user)
        await events.user_created(session, message)
        await events.user_invited(session, message, token)
        audit(session, A.AUDIT_EVENT_KIND_USER_INVITED, subject_id=user.id, detail=email)
        return replay.render(user)

    try:
        async with deps.db.transaction() as session:
            return await replayable(session, replay, lambda: run(session))
    except IntegrityError as error:
        raise email_conflict(error) from None


async def get(deps: Deps, user_id: str) -> UserRow:
    async with deps.db.sessions() as session:
        return await Users(session).get_with_roles(user_id)


async def page(deps: Deps, after: str, limit: int) -> list[UserRow]:
    async with deps.db.sessions() as session:
        return await Users(session).page_with_roles(after, limit)


async def deactivate(deps: Deps, user_id: str) -> UserRow:
    principal = require_principal()
    async with deps.db.transaction() as session:
        users = Users(session)
        user = await users.get_with_roles(user_id)
        if user.status == DEACTIVATED:
            return user  # idempotent: the call's goal already holds
        rules.check_deactivation(
            actor_id=principal.subject,
            actor_roles=principal.roles,
            target_id=user.id,
            target_roles=[r.name for r in user.roles],
            other_active_owners=await users.other_active_owners(user.id, ACTIVE),
        )
        at = now()
        user.status = DEACTIVATED
        touched(user, principal.subject, at)
        await Sessions(session).revoke_all_of(user.id, at)
        await events.user_deactivated(session, user.id, user.tenant_id)
        audit(session, A.AUDIT_EVENT_KIND_USER_DEACTIVATED, subject_id=user.id)
    deps.profiles.drop(user.tenant_id, user.id)
    return user


async def set_roles(deps: Deps, user_id: str, wanted: Sequence[str]) -> UserRow:
    principal = require_principal()
    names = _dedupe(wanted)
    if not names:
        problems = Violations()
        problems.add("roles", "at least one role")
        problems.raise_if_any()
    async with deps.db.transaction() as session:
        users = Users(session)
        user = await users.get_with_roles(user_id)
        roles = await _roles_named(Roles(session), names)
        current = [r.name for r in user.roles]
        rules.check_assignment(
            actor_roles=principal.roles,
            current=current,
            wanted=names,
            other_active_owners=await users.other_active_owners(user.id, ACTIVE),
        )
        added = [r for r in roles if r.name not in current]
        rules.require_covered(principal.permissions, _granted_permissions(added))
        user.roles = roles
        touched(user, principal.subject, now())
        audit(
            session,
            A.AUDIT_EVENT_KIND_ROLE_CHANGED,
            subject_id=user.id,
            detail=f"{','.join(sorted(current))} -> {','.join(sorted(names))}",
        )
    deps.profiles.drop(user.tenant_id, user.id)
    return user


@dataclass(frozen=True)
class Me:
    """The caller: a user, or (for an API key principal) the key itself."""

    tenant_id: str
    permissions: Sequence[str]
    user: UserRow | None = None
    api_key: ApiKeyRow | None = None


async def me(deps: Deps) -> Me:
    principal = require_principal()
    if principal.kind == "api_key":
        async with deps.db.sessions() as session:
            key = await ApiKeys(session).get(principal.subject)
        return Me(principal.tenant_id, principal.permissions, api_key=key)
    user = deps.profiles.get(principal.tenant_id, principal.subject)
    if user is None:
        async with deps.db.sessions() as session:
            user = await Users(session).get_with_roles(principal.subject)
        deps.profiles.put(user)
    return Me(principal.tenant_id, principal.permissions, user=user)
