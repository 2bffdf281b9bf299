"""API keys: issue (secret shown once), list, revoke."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from mesh.context import require_principal
from mesh.errors import Violations
from mesh.ids import new_id
from svc_auth.app.common import A, Deps, R, Replay, audit, created, now, replayable, touched
from svc_auth.domain import apikeys, roles
from svc_auth.domain.secrets import ApiKeySecret, digest, new_token
from svc_auth.store import ApiKeyRow, ApiKeys


@dataclass(frozen=True)
class ApiKeyInput:
    name: str
    permissions: Sequence[str]
    expire_time: datetime | None


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKeyRow
    secret: str  # "erpk_<id>_<random>": in this answer only


async def create(deps: Deps, given: ApiKeyInput, replay: Replay[R, IssuedKey]) -> R:
    principal = require_principal()
    name = given.name.strip()
    permissions = list(dict.fromkeys(given.permissions))
    problems = Violations()
    problems.extend(apikeys.check_api_key_request(name, permissions, given.expire_time, now()))
    problems.raise_if_any()
    roles.require_covered(principal.permissions, permissions)

    async def run(session: AsyncSession) -> R:
        secret = ApiKeySecret(new_id(), new_token())
        key = ApiKeys(session).add(
            ApiKeyRow(
                id=secret.api_key_id,
                name=name,
                permissions=permissions,
                secret_hash=digest(secret.secret),
                expire_time=given.expire_time,
                **created(principal.subject, now()),
            )
        )
        audit(session, A.AUDIT_EVENT_KIND_API_KEY_ISSUED, subject_id=key.id, detail=name)
        return replay.render(IssuedKey(key, secret.render()))

    async with deps.db.transaction() as session:
        return await replayable(session, replay, lambda: run(session))


async def page(deps: Deps, after: str, limit: int) -> list[ApiKeyRow]:
    async with deps.db.sessions() as session:
        return await ApiKeys(session).page(after, limit)


async def revoke(deps: Deps, api_key_id: str) -> ApiKeyRow:
    """Idempotent: revoking a revoked key keeps its first revoke time."""
    principal = require_principal()
    async with deps.db.transaction() as session:
        key = await ApiKeys(session).get(api_key_id)
        if key.revoke_time is None:
            at = now()
            key.revoke_time = at
            touched(key, principal.subject, at)
            audit(session, A.AUDIT_EVENT_KIND_API_KEY_REVOKED, subject_id=key.id, detail=key.name)
    return key
