"""Leads: new → qualified → converted, and disqualified (with a reason) from new or
qualified; a disqualified lead can be qualified again. Converted is final."""

from __future__ import annotations

from enum import StrEnum

from mesh.errors import FailedPrecondition

REASON_MAX = 500
MESSAGE_MAX = 5000
SOURCE_MAX = 40


class LeadState(StrEnum):
    NEW = "new"
    QUALIFIED = "qualified"
    DISQUALIFIED = "disqualified"
    CONVERTED = "converted"


_ALLOWED: dict[str, frozenset[LeadState]] = {
    "qualified": frozenset({LeadState.NEW, LeadState.DISQUALIFIED}),
    "disqualified": frozenset({LeadState.NEW, LeadState.QUALIFIED}),
    "converted": frozenset({LeadState.NEW, LeadState.QUALIFIED}),
    "updated": frozenset({LeadState.NEW, LeadState.QUALIFIED, LeadState.DISQUALIFIED}),
}


def require_can(state: LeadState, action: str) -> None:
    """FAILED_PRECONDITION naming the state when the lead cannot be `action` now."""
    if state not in _ALLOWED[action]:
        raise FailedPrecondition(
            f"a {state.value} lead cannot be {action}",
            reason="LEAD_STATE",
            metadata={"status": state.value},
        )
