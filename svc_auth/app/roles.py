"""Custom roles of a tenant, and the catalogue of permissions they can hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mesh import contracts
from mesh.context import require_principal
from mesh.errors import AlreadyExists, FailedPrecondition, Violations
from mesh.ids import new_id
from svc_auth.app.common import A, Deps, R, Replay, audit, created, now, replayable
from svc_auth.domain import roles as rules
from svc_auth.store import RoleRow, Roles

_ORDER = {name: i for i, name in enumerate(rules.BUILTIN_ROLES)}


@dataclass(frozen=True)
class RoleInput:
    name: str
    description: str
    permissions: Sequence[str]


def _role_taken(name: str) -> AlreadyExists:
    return AlreadyExists(f"a role named {name!r} already exists", reason="ROLE_EXISTS")


async def create(deps: Deps, given: RoleInput, replay: Replay[R, RoleRow]) -> R:
    principal = require_principal()
    permissions = list(dict.fromkeys(given.permissions))
    problems = Violations()
    problems.extend(rules.check_role_definition(given.name, given.description, permissions))
    problems.raise_if_any()
    rules.require_covered(principal.permissions, permissions)

    async def run(session: AsyncSession) -> R:
        repo = Roles(session)
        if await repo.named([given.name]):
            raise _role_taken(given.name)
        role = repo.add(
            RoleRow(
                id=new_id(),
                name=given.name,
                description=given.description,
                permissions=permissions,
                builtin=False,
                **created(principal.subject, now()),
            )
        )
        audit(
            session,
            A.AUDIT_EVENT_KIND_ROLE_DEFINED,
            subject_id=role.id,
            detail=f"created {role.name}",
        )
        return replay.render(role)

    try:
        async with deps.db.transaction() as session:
            return await replayable(session, replay, lambda: run(session))
    except IntegrityError:
        raise _role_taken(given.name) from None


async def get(deps: Deps, role_id: str) -> RoleRow:
    async with deps.db.sessions() as session:
        return await Roles(session).get(role_id)


async def all_roles(deps: Deps) -> list[RoleRow]:
    """Built-in roles first (owner, admin, member, viewer), then custom by name."""
    async with deps.db.sessions() as session:
        found = await Roles(session).all()
    return sorted(found, key=lambda r: (0, _ORDER[r.name], "") if r.builtin else (1, 0, r.name))


async def delete(deps: Deps, role_id: str) -> None:
    async with deps.db.transaction() as session:
        repo = Roles(session)
        role = await repo.get(role_id)
        if role.builtin:
            raise FailedPrecondition("built-in roles cannot be deleted", reason="BUILTIN_ROLE")
        if await repo.in_use(role.id):
            raise FailedPrecondition(
                "the role is held by users; take it from them first", reason="ROLE_IN_USE"
            )
        await repo.remove(role)
        audit(
            session,
            A.AUDIT_EVENT_KIND_ROLE_DEFINED,
            subject_id=role.id,
            detail=f"deleted {role.name}",
        )


def permission_catalogue() -> list[tuple[str, list[str]]]:
    """Every permission the contracts require, with the RPCs requiring it, sorted."""
    by_permission: dict[str, list[str]] = {}
    for method in contracts.methods().values():
        if method.public or not method.permission:
            continue
        by_permission.setdefault(method.permission, []).append(f"{method.service}.{method.name}")
    return [(name, sorted(rpcs)) for name, rpcs in sorted(by_permission.items())]
