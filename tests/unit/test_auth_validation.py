"""svc_auth input rules: every check names the proto field it is about."""

from __future__ import annotations

from mesh.errors import FieldViolation
from svc_auth.domain import validation as v


def fields(found: list[FieldViolation]) -> list[str]:
    return [f.field for f in found]


def test_email() -> None:
    assert v.normalize_email("  Ann@Example.COM ") == "ann@example.com"
    assert v.check_email("ann@example.com") == []
    assert v.check_email("") == [FieldViolation("email", "is required")]
    for bad in ("ann", "ann@", "@example.com", "ann@example", "a b@example.com", "a@b@c.com"):
        assert fields(v.check_email(bad)) == ["email"], bad
    too_long = "a" * 250 + "@x.io"
    assert v.check_email(too_long) == [FieldViolation("email", "at most 254 characters")]


def test_password() -> None:
    assert v.check_password("x" * 12, "ann@example.com") == []
    assert v.check_password("x" * 11, "") == [FieldViolation("password", "at least 12 characters")]
    assert fields(v.check_password("x" * 1025, "")) == ["password"]
    assert v.check_password("ann@example.com", "ann@example.com") == [
        FieldViolation("password", "must not be the e-mail address")
    ]
    assert fields(v.check_password("short", "", "new_password")) == ["new_password"]


def test_tenant_and_display_names() -> None:
    assert v.check_tenant_name("Acme") == []
    assert fields(v.check_tenant_name("")) == ["tenant_name"]
    assert fields(v.check_tenant_name("x" * 201)) == ["tenant_name"]
    assert fields(v.check_display_name("x" * 201)) == ["display_name"]
    assert v.default_display_name("  ", "ann@example.com") == "ann"
    assert v.default_display_name(" Ann B ", "ann@example.com") == "Ann B"
