"""Custom fields: what a tenant may define, and checking a record's values against
the definitions of its kind.

Values travel as a JSON object (google.protobuf.Struct) keyed by the definition's
key and are stored the same way: text, choice and date as strings (dates
"YYYY-MM-DD"), numbers as numbers, so filters and sorting can read them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from mesh.errors import FieldViolation

KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
LABEL_MAX = 100
TEXT_MAX = 1000
CHOICES_MAX = 100
CHOICE_MAX = 100
FIELDS_PER_KIND_MAX = 100


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"


@dataclass(frozen=True)
class Definition:
    key: str
    label: str
    type: FieldType
    choices: tuple[str, ...] = ()
    required: bool = False


def check_definition(
    d: Definition, taken: Sequence[str], prefix: str = "field"
) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    if not KEY.fullmatch(d.key):
        found.append(
            FieldViolation(f"{prefix}.key", "lower-case letters, digits and _, from a letter, ≤ 40")
        )
    elif d.key in taken:
        found.append(FieldViolation(f"{prefix}.key", f'"{d.key}" is already defined'))
    if not d.label.strip() or len(d.label) > LABEL_MAX:
        found.append(FieldViolation(f"{prefix}.label", f"1 to {LABEL_MAX} characters"))
    elif _has_control(d.label):
        found.append(FieldViolation(f"{prefix}.label", "no control characters"))
    if d.type is FieldType.CHOICE:
        if not d.choices or len(d.choices) > CHOICES_MAX:
            found.append(
                FieldViolation(f"{prefix}.choices", f"a choice field needs 1 to {CHOICES_MAX}")
            )
        elif len(set(d.choices)) != len(d.choices):
            found.append(FieldViolation(f"{prefix}.choices", "each choice once"))
        elif any(not c.strip() or len(c) > CHOICE_MAX or _has_control(c) for c in d.choices):
            found.append(
                FieldViolation(
                    f"{prefix}.choices", f"1 to {CHOICE_MAX} characters each, no control ones"
                )
            )
    elif d.choices:
        found.append(FieldViolation(f"{prefix}.choices", "only choice fields have choices"))
    if len(taken) >= FIELDS_PER_KIND_MAX:
        found.append(
            FieldViolation(f"{prefix}.key", f"at most {FIELDS_PER_KIND_MAX} fields per record kind")
        )
    return found


def _check_value(d: Definition, value: Any, field: str) -> tuple[Any, list[FieldViolation]]:
    """The value as stored, or the violation. JSON null clears the field."""
    if d.type is FieldType.NUMBER:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return None, [FieldViolation(field, f"{d.key} is a number")]
        return (int(value) if float(value).is_integer() else value), []
    if not isinstance(value, str):
        return None, [FieldViolation(field, f"{d.key} is {d.type.value}: give a string")]
    if d.type is FieldType.DATE:
        try:
            if not _DATE.fullmatch(value):  # fromisoformat also takes "20260131", "2026-W05"
                raise ValueError(value)
            return date.fromisoformat(value).isoformat(), []
        except ValueError:
            return None, [FieldViolation(field, f"{d.key} is a date: YYYY-MM-DD, not {value!r}")]
    if d.type is FieldType.CHOICE:
        if value not in d.choices:
            return None, [FieldViolation(field, f"{d.key} must be one of {list(d.choices)}")]
        return value, []
    if len(value) > TEXT_MAX:
        return None, [FieldViolation(field, f"{d.key}: at most {TEXT_MAX} characters")]
    if _has_control(value, allowed="\n\r\t"):  # U+0000 breaks PostgreSQL's JSON reads
        return None, [FieldViolation(field, f"{d.key}: no control characters")]
    return value, []


def _has_control(text: str, allowed: str = "") -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in allowed for c in text)


def merge_values(
    definitions: Mapping[str, Definition],
    current: Mapping[str, Any],
    given: Mapping[str, Any],
    *,
    creating: bool,
    field: str = "custom_fields",
) -> tuple[dict[str, Any], list[FieldViolation]]:
    """The record's values after applying `given` to `current`.

    Unknown keys are refused (a typo must not vanish silently); null removes a
    value; on create every required field needs a value. Values of archived
    definitions (absent from `definitions`) are kept untouched.
    """
    found: list[FieldViolation] = []
    result = dict(current)
    for key, value in given.items():
        path = f"{field}.{key}"
        definition = definitions.get(key)
        if definition is None:
            known = ", ".join(sorted(definitions)) or "none defined"
            found.append(FieldViolation(path, f"unknown custom field; defined: {known}"))
            continue
        if value is None:
            result.pop(key, None)
            continue
        stored, problems = _check_value(definition, value, path)
        found += problems
        if not problems:
            result[key] = stored
    if creating:
        named = {v.field for v in found}  # a bad value is reported once, not also as missing
        for d in definitions.values():
            path = f"{field}.{d.key}"
            if d.required and result.get(d.key) in (None, "") and path not in named:
                found.append(FieldViolation(path, "is required"))
    return result, found
