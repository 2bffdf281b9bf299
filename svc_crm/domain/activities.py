"""Activities: the kinds, and what a valid one holds."""

from __future__ import annotations

from enum import StrEnum

from mesh.errors import FieldViolation
from svc_crm.domain.people import check_text

SUBJECT_MAX = 200
BODY_MAX = 20000


class ActivityType(StrEnum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    TASK = "task"
    NOTE = "note"


def check_activity(subject: str, body: str, prefix: str = "activity.") -> list[FieldViolation]:
    return [
        *check_text(subject, f"{prefix}subject", SUBJECT_MAX, required=True),
        *check_text(body, f"{prefix}body", BODY_MAX),
    ]
