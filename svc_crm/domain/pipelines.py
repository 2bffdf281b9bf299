"""Pipelines and stages: the default pipeline every tenant starts with, what a valid
pipeline is, and how replacing its stages is planned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mesh.errors import FieldViolation
from svc_crm.domain.people import check_text

NAME_MAX = 100
STAGES_MAX = 30
DEFAULT_NAME = "Sales"
DEFAULT_STAGES: tuple[tuple[str, int], ...] = (
    ("Prospecting", 10),
    ("Qualification", 25),
    ("Proposal", 50),
    ("Negotiation", 75),
    ("Commit", 90),
)


@dataclass(frozen=True)
class StageSpec:
    """A stage as asked for: `id` empty for a new one."""

    id: str
    name: str
    win_probability: int


def check_pipeline(
    name: str, stages: Sequence[StageSpec], prefix: str = ""
) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    found += check_text(name.strip(), f"{prefix}name", NAME_MAX, required=True)
    if not 1 <= len(stages) <= STAGES_MAX:
        found.append(FieldViolation(f"{prefix}stages", f"1 to {STAGES_MAX} stages"))
    seen: set[str] = set()
    for i, stage in enumerate(stages):
        at = f"{prefix}stages[{i}]"
        folded = stage.name.strip().casefold()
        bad_name = check_text(stage.name.strip(), f"{at}.name", NAME_MAX, required=True)
        if bad_name:
            found += bad_name
        elif folded in seen:
            found.append(FieldViolation(f"{at}.name", f'"{stage.name}" appears twice'))
        seen.add(folded)
        if not 0 <= stage.win_probability <= 100:
            found.append(FieldViolation(f"{at}.win_probability", "a percentage from 0 to 100"))
    return found


@dataclass(frozen=True)
class StagePlan:
    keep: list[tuple[int, StageSpec]]  # (new position, spec with an existing id)
    add: list[tuple[int, StageSpec]]
    remove: list[str]  # ids of stages no longer listed


def plan_stages(
    existing_ids: Sequence[str], wanted: Sequence[StageSpec], prefix: str = "pipeline."
) -> tuple[StagePlan, list[FieldViolation]]:
    """Which stages stay, come and go when `wanted` replaces the current stages."""
    found: list[FieldViolation] = []
    keep: list[tuple[int, StageSpec]] = []
    add: list[tuple[int, StageSpec]] = []
    listed: set[str] = set()
    for position, stage in enumerate(wanted):
        if not stage.id:
            add.append((position, stage))
        elif stage.id not in existing_ids:
            found.append(
                FieldViolation(f"{prefix}stages[{position}].id", "not a stage of this pipeline")
            )
        elif stage.id in listed:
            found.append(FieldViolation(f"{prefix}stages[{position}].id", "listed twice"))
        else:
            listed.add(stage.id)
            keep.append((position, stage))
    remove = [i for i in existing_ids if i not in listed]
    return StagePlan(keep, add, remove), found
