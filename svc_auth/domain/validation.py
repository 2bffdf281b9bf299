"""Input rules shared by signup, invitations and resets. Each check returns the
violations it found so a request can report every bad field at once."""

from __future__ import annotations

import re

from mesh.errors import FieldViolation

EMAIL_MAX = 254
PASSWORD_MIN = 12
PASSWORD_MAX = 1024  # Argon2 hashes anything, but unbounded input is a DoS lever
TENANT_NAME_MAX = 200
DISPLAY_NAME_MAX = 200
# Deliberately loose: one "@", no spaces, a dot in the domain. Deliverability is
# proven by the invitation / reset e-mails, not by a regex.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def check_email(email: str, field: str = "email") -> list[FieldViolation]:
    """`email` must already be normalized."""
    if not email:
        return [FieldViolation(field, "is required")]
    if len(email) > EMAIL_MAX:
        return [FieldViolation(field, f"at most {EMAIL_MAX} characters")]
    if not _EMAIL.match(email):
        return [FieldViolation(field, "not a valid e-mail address")]
    return []


def check_password(password: str, email: str, field: str = "password") -> list[FieldViolation]:
    if len(password) < PASSWORD_MIN:
        return [FieldViolation(field, f"at least {PASSWORD_MIN} characters")]
    if len(password) > PASSWORD_MAX:
        return [FieldViolation(field, f"at most {PASSWORD_MAX} characters")]
    if email and password.strip().lower() == email:
        return [FieldViolation(field, "must not be the e-mail address")]
    return []


def check_tenant_name(name: str, field: str = "tenant_name") -> list[FieldViolation]:
    """`name` must already be trimmed."""
    if not name:
        return [FieldViolation(field, "is required")]
    if len(name) > TENANT_NAME_MAX:
        return [FieldViolation(field, f"at most {TENANT_NAME_MAX} characters")]
    return []


def check_display_name(name: str, field: str = "display_name") -> list[FieldViolation]:
    if len(name) > DISPLAY_NAME_MAX:
        return [FieldViolation(field, f"at most {DISPLAY_NAME_MAX} characters")]
    return []


def default_display_name(display_name: str, email: str) -> str:
    """The given name, or the e-mail's local part when none was given."""
    return display_name.strip() or email.partition("@")[0]
