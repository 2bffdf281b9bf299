"""Built-in roles and who may hand out what."""

from __future__ import annotations

import pytest

from mesh.errors import FailedPrecondition, PermissionDenied
from mesh.permissions import grants
from svc_auth.domain import roles as r


def test_builtin_roles() -> None:
    assert list(r.BUILTIN_ROLES) == ["owner", "admin", "member", "accountant", "viewer"]
    assert r.BUILTIN_ROLES["owner"].permissions == ("*",)
    assert r.BUILTIN_ROLES["admin"].permissions == ("*",)
    assert "auth.users.invite" not in r.BUILTIN_ROLES["member"].permissions
    assert r.BUILTIN_ROLES["viewer"].permissions == (
        "auth.self.read",
        "auth.tenant.read",
        "auth.users.read",
        "billing.entitlements.read",
        "crm.*.read",
    )
    # Viewers read only; members work the CRM's records but not its settings.
    assert all(p.endswith(".read") for p in r.BUILTIN_ROLES["viewer"].permissions)
    member = r.BUILTIN_ROLES["member"].permissions
    assert grants(member, "crm.contacts.write")
    assert grants(member, "crm.reports.read")
    assert not grants(member, "crm.settings.write")
    # The books are the accountant's (and the owner's and admins'), not every member's.
    assert not grants(member, "finance.invoices.read")
    accountant = r.BUILTIN_ROLES["accountant"].permissions
    assert grants(accountant, "finance.journal.post")
    assert grants(accountant, "finance.reports.read")
    assert not grants(accountant, "auth.users.invite")
    # Members see what the plan allows but cannot change it.
    assert "billing.subscription.read" in r.BUILTIN_ROLES["member"].permissions
    assert not any(
        p.startswith("billing.") and not p.endswith(".read")
        for p in r.BUILTIN_ROLES["member"].permissions
    )


def test_effective_permissions() -> None:
    assert r.effective_permissions([("b.c.d", "a.b.c"), ("a.b.c",)]) == ["a.b.c", "b.c.d"]
    assert r.effective_permissions([("a.b.c",), ("*",)]) == ["*"]
    assert r.effective_permissions([]) == []


def test_role_definition() -> None:
    assert r.check_role_definition("auditor", "", ["crm.*.read"]) == []
    assert [v.field for v in r.check_role_definition("A", "", [])] == ["name"]
    assert [v.field for v in r.check_role_definition("x" * 41, "", [])] == ["name"]
    assert [v.field for v in r.check_role_definition("owner", "", [])] == ["name"]
    found = r.check_role_definition("ok", "d" * 501, ["fine.one.read", "bad"])
    assert [v.field for v in found] == ["description", "permissions[1]"]


def test_require_covered() -> None:
    r.require_covered(["*"], ["anything.at.all", "*"])
    r.require_covered(["crm.*.read"], ["crm.contacts.read", "crm.*.read"])
    with pytest.raises(PermissionDenied):
        r.require_covered(["crm.*.read"], ["crm.contacts.write"])
    with pytest.raises(PermissionDenied):
        r.require_covered(["auth.users.read"], ["*"])


def test_only_owners_touch_the_owner_role() -> None:
    r.check_assignment(
        actor_roles=["admin"], current=["member"], wanted=["viewer"], other_active_owners=1
    )
    with pytest.raises(PermissionDenied):
        r.check_assignment(
            actor_roles=["admin"], current=["member"], wanted=["owner"], other_active_owners=1
        )
    with pytest.raises(PermissionDenied):
        r.check_assignment(
            actor_roles=["admin"], current=["owner"], wanted=["admin"], other_active_owners=1
        )
    r.check_assignment(
        actor_roles=["owner"], current=["owner"], wanted=["admin"], other_active_owners=1
    )
    with pytest.raises(FailedPrecondition):
        r.check_assignment(
            actor_roles=["owner"], current=["owner"], wanted=["admin"], other_active_owners=0
        )


def test_deactivation_rules() -> None:
    with pytest.raises(FailedPrecondition):
        r.check_deactivation(
            actor_id="u1",
            actor_roles=["owner"],
            target_id="u1",
            target_roles=[],
            other_active_owners=0,
        )
    with pytest.raises(PermissionDenied):
        r.check_deactivation(
            actor_id="u1",
            actor_roles=["admin"],
            target_id="u2",
            target_roles=["owner"],
            other_active_owners=1,
        )
    with pytest.raises(FailedPrecondition):
        r.check_deactivation(
            actor_id="u1",
            actor_roles=["owner"],
            target_id="u2",
            target_roles=["owner"],
            other_active_owners=0,
        )
    r.check_deactivation(
        actor_id="u1",
        actor_roles=["admin"],
        target_id="u2",
        target_roles=["member"],
        other_active_owners=0,
    )


def test_role_names() -> None:
    assert r.check_role_names(["member"], ["owner", "member"]) == []
    assert [v.field for v in r.check_role_names([], ["member"])] == ["roles"]
    assert "nope" in r.check_role_names(["member", "nope"], ["member"])[0].description
