"""Sessions and tokens: a sign-in opens a session (the refresh-token family);
RefreshToken rotates within it, Logout ends it; API keys get access tokens only.

Access tokens are not revocable: a deactivated user or a changed role takes
effect on the next refresh, so at most one access TTL (15 minutes) later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import Principal, acting_for_tenant
from mesh.errors import DomainError, Unauthenticated
from mesh.ids import new_id
from svc_auth.app.common import ACTIVE, A, Deps, audit, now
from svc_auth.convert import role_permissions
from svc_auth.domain import apikeys, refresh
from svc_auth.domain.roles import effective_permissions
from svc_auth.domain.secrets import digest, new_token, parse_api_key, same_digest
from svc_auth.store import (
    ApiKeys,
    Directory,
    RefreshRow,
    RefreshTokens,
    SessionRow,
    Sessions,
    UserRow,
    Users,
)
from svc_auth.tokens import AccessToken


@dataclass(frozen=True)
class SignedIn:
    user: UserRow
    access: AccessToken
    refresh_token: str
    refresh_expires: datetime


def _refused() -> Unauthenticated:
    return Unauthenticated(
        "refresh token invalid or expired; sign in again", reason="REFRESH_INVALID"
    )


async def _next_refresh(session: AsyncSession, session_id: str) -> tuple[str, datetime]:
    token, at = new_token(), now()
    expires = at + refresh.REFRESH_TTL
    RefreshTokens(session).add(
        RefreshRow(
            id=new_id(),
            session_id=session_id,
            token_hash=digest(token),
            created_at=at,
            expires_at=expires,
        )
    )
    return token, expires


async def _access_for(deps: Deps, user: UserRow, session_id: str) -> AccessToken:
    perms = effective_permissions(role_permissions(r) for r in user.roles)
    grant = Principal(
        subject=user.id,
        tenant_id=user.tenant_id,
        kind="user",
        permissions=tuple(perms),
        roles=tuple(sorted(r.name for r in user.roles)),
        session_id=session_id,
    )
    return await deps.issuer.issue(grant)


async def open_session(deps: Deps, session: AsyncSession, user: UserRow) -> SignedIn:
    """A new session for `user` (roles loaded), in the current tenant."""
    await session.flush()  # the user row first: the session row refers to it
    family = Sessions(session).add(SessionRow(id=new_id(), user_id=user.id, created_at=now()))
    await session.flush()
    token, expires = await _next_refresh(session, family.id)
    return SignedIn(user, await _access_for(deps, user, family.id), token, expires)


async def refresh_tokens(deps: Deps, raw: str) -> SignedIn:
    outcome: SignedIn | DomainError
    async with deps.db.transaction() as session:
        found = await Directory(session).refresh_token(digest(raw)) if raw else None
        if found is None:
            raise _refused()
        row, family = found
        with acting_for_tenant(row.tenant_id):
            outcome = await _rotate(deps, session, row, family)
    if isinstance(outcome, DomainError):
        raise outcome  # after the commit: the family's revocation must stick
    return outcome


async def _rotate(
    deps: Deps, session: AsyncSession, row: RefreshRow, family: SessionRow
) -> SignedIn | DomainError:
    at = now()
    verdict = refresh.judge(
        used_at=row.used_at,
        expires_at=row.expires_at,
        family_revoked=family.revoked_at is not None,
        now=at,
    )
    if verdict is refresh.RefreshVerdict.OK and not await RefreshTokens(session).use(row.id, at):
        verdict = refresh.RefreshVerdict.REUSED  # a concurrent call used it first
    if verdict is refresh.RefreshVerdict.REUSED:
        await Sessions(session).revoke(family.id, at)
        audit(
            session,
            A.AUDIT_EVENT_KIND_REFRESH_REUSED,
            actor=family.user_id,
            subject_id=family.user_id,
            detail=f"session {family.id} revoked",
        )
        return _refused()
    if verdict is not refresh.RefreshVerdict.OK:
        return _refused()
    user = await Users(session).get_with_roles(family.user_id)
    if user.status != ACTIVE:
        await Sessions(session).revoke(family.id, at)
        return _refused()
    token, expires = await _next_refresh(session, family.id)
    return SignedIn(user, await _access_for(deps, user, family.id), token, expires)


async def logout(deps: Deps, raw: str) -> None:
    """Ends the session; an unknown or spent token is not an error (idempotent)."""
    async with deps.db.transaction() as session:
        found = await Directory(session).refresh_token(digest(raw)) if raw else None
        if found is None or found[1].revoked_at is not None:
            return
        row, family = found
        with acting_for_tenant(row.tenant_id):
            await Sessions(session).revoke(family.id, now())
            audit(
                session,
                A.AUDIT_EVENT_KIND_LOGOUT,
                actor=family.user_id,
                subject_id=family.user_id,
            )


async def exchange_api_key(deps: Deps, raw: str) -> AccessToken:
    refused = Unauthenticated("API key invalid, revoked or expired", reason="API_KEY_INVALID")
    parsed = parse_api_key(raw)
    if parsed is None:
        raise refused
    async with deps.db.transaction() as session:
        key = await Directory(session).api_key(parsed.api_key_id)
        at = now()
        if (
            key is None
            or not same_digest(parsed.secret, key.secret_hash)
            or not apikeys.usable(revoke_time=key.revoke_time, expire_time=key.expire_time, now=at)
        ):
            raise refused
        with acting_for_tenant(key.tenant_id):
            scoped = await ApiKeys(session).get(key.id)
            scoped.last_used_time = at
        grant = Principal(
            subject=key.id,
            tenant_id=key.tenant_id,
            kind="api_key",
            permissions=tuple(key.permissions),
        )
    return await deps.issuer.issue(grant)
