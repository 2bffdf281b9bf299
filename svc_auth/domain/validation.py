"""Input rules shared by signup, invitations and resets. Each check returns the
violations it found so a request can report every bad field at once."""

from __future__ import annotations

from mesh.errors import FieldViolation

# The e-mail rules are the mesh's, shared by every service; svc_auth imports them from here.
from mesh.values import EMAIL_MAX as EMAIL_MAX
from mesh.values import check_email as check_email
from mesh.values import normalize_email as normalize_email

PASSWORD_MIN = 12
PASSWORD_MAX = 1024  # Argon2 hashes anything, but unbounded input is a DoS lever
TENANT_NAME_MAX = 200
DISPLAY_NAME_MAX = 200


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
