"""Roles: the four built-in roles every tenant has, and who may hand out what.

Built-in roles exist as rows in each tenant (so users reference them like any
role), but their permissions are read from BUILTIN_ROLES, never from the row:
when a later release grants "member" a new domain's patterns, every tenant gets
them without a data migration.

Rules enforced here, on top of the permission the contract requires:
- only an owner may grant or remove the owner role, or deactivate an owner;
- the last active owner of a tenant can be neither demoted nor deactivated;
- nobody may deactivate themselves;
- nobody may hand out (through a role or an API key) a permission they lack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mesh.errors import FailedPrecondition, FieldViolation, PermissionDenied
from mesh.permissions import covers, is_valid_pattern

OWNER = "owner"
ADMIN = "admin"
MEMBER = "member"
ACCOUNTANT = "accountant"
VIEWER = "viewer"
DEFAULT_INVITE_ROLES = (MEMBER,)


@dataclass(frozen=True)
class BuiltinRole:
    name: str
    description: str
    permissions: tuple[str, ...]


# In display order: ListRoles shows built-ins first, in this order.
BUILTIN_ROLES: dict[str, BuiltinRole] = {
    r.name: r
    for r in (
        # Everything, including the owner-only rules above.
        BuiltinRole(OWNER, "Owns the tenant; full access", ("*",)),
        # Everything, but cannot touch owners (see the module rules).
        BuiltinRole(ADMIN, "Administers users, roles and keys", ("*",)),
        # Their own account, and read access to the tenant's directory.
        BuiltinRole(
            MEMBER,
            "Works in the tenant",
            (
                "auth.self.*",
                "auth.tenant.read",
                "auth.users.read",
                "auth.roles.read",
                # What the plan allows, so the console can show which modules are on.
                "billing.entitlements.read",
                "billing.subscription.read",
                # Sales work: read everything in the CRM, write records, not its settings
                # (custom fields, pipelines, web forms).
                "crm.*.read",
                "crm.contacts.write",
                "crm.companies.write",
                "crm.leads.write",
                "crm.opportunities.write",
                "crm.activities.write",
            ),
        ),
        # The books: everything in finance, and the customers it invoices.
        BuiltinRole(
            ACCOUNTANT,
            "Keeps the books",
            (
                "auth.self.*",
                "auth.tenant.read",
                "auth.users.read",
                "billing.entitlements.read",
                "crm.*.read",
                "finance.*.*",
            ),
        ),
        # Read-only.
        BuiltinRole(
            VIEWER,
            "Reads only",
            (
                "auth.self.read",
                "auth.tenant.read",
                "auth.users.read",
                "billing.entitlements.read",
                "crm.*.read",
            ),
        ),
    )
}

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")
DESCRIPTION_MAX = 500


def is_builtin(name: str) -> bool:
    return name in BUILTIN_ROLES


def effective_permissions(role_permissions: Iterable[Iterable[str]]) -> list[str]:
    """Union of the roles' patterns, sorted; "*" alone when any role has it."""
    union = {p for perms in role_permissions for p in perms}
    return ["*"] if "*" in union else sorted(union)


def check_role_definition(
    name: str, description: str, permissions: Sequence[str]
) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    if not ROLE_NAME.fullmatch(name):
        found.append(
            FieldViolation(
                "name",
                "2 to 40 of a-z, 0-9, '-', '_', starting with a letter (^[a-z][a-z0-9_-]{1,39}$)",
            )
        )
    elif is_builtin(name):
        found.append(FieldViolation("name", "is the name of a built-in role"))
    if len(description) > DESCRIPTION_MAX:
        found.append(FieldViolation("description", f"at most {DESCRIPTION_MAX} characters"))
    found.extend(check_patterns(permissions, required=False))
    return found


def check_patterns(patterns: Sequence[str], *, required: bool) -> list[FieldViolation]:
    if required and not patterns:
        return [FieldViolation("permissions", "at least one permission")]
    return [
        FieldViolation(f"permissions[{i}]", f"{p!r} is not '<domain>.<resource>.<action>' or '*'")
        for i, p in enumerate(patterns)
        if not is_valid_pattern(p)
    ]


def require_covered(held: Sequence[str], requested: Iterable[str]) -> None:
    """Nobody hands out more than they hold (to a role, an API key or a user)."""
    missing = sorted({p for p in requested if not covers(held, p)})
    if missing:
        raise PermissionDenied(
            f"you cannot grant permissions you do not hold: {', '.join(missing)}",
            reason="PERMISSION_NOT_HELD",
            metadata={"permissions": ",".join(missing)},
        )


def check_assignment(
    *,
    actor_roles: Sequence[str],
    current: Sequence[str],
    wanted: Sequence[str],
    other_active_owners: int,
) -> None:
    """May the actor change a user's roles from `current` to `wanted`?"""
    touches_owner = (OWNER in current) != (OWNER in wanted)
    if touches_owner and OWNER not in actor_roles:
        raise PermissionDenied(
            "only an owner may grant or remove the owner role", reason="OWNER_ONLY"
        )
    if OWNER in current and OWNER not in wanted and other_active_owners == 0:
        raise FailedPrecondition(
            "the tenant's last owner cannot lose the owner role", reason="LAST_OWNER"
        )


def check_deactivation(
    *,
    actor_id: str,
    actor_roles: Sequence[str],
    target_id: str,
    target_roles: Sequence[str],
    other_active_owners: int,
) -> None:
    if actor_id == target_id:
        raise FailedPrecondition("you cannot deactivate yourself", reason="SELF_DEACTIVATION")
    if OWNER in target_roles:
        if OWNER not in actor_roles:
            raise PermissionDenied("only an owner may deactivate an owner", reason="OWNER_ONLY")
        if other_active_owners == 0:
            raise FailedPrecondition(
                "the tenant's last owner cannot be deactivated", reason="LAST_OWNER"
            )


def check_role_names(names: Sequence[str], known: Iterable[str]) -> list[FieldViolation]:
    known_set = set(known)
    if not names:
        return [FieldViolation("roles", "at least one role")]
    unknown = [n for n in names if n not in known_set]
    if unknown:
        return [FieldViolation("roles", f"no such role: {', '.join(sorted(set(unknown)))}")]
    return []
