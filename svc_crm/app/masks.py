"""Field masks of Update RPCs: which paths a request changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message

from mesh.errors import InvalidArgument

CUSTOM = "custom_fields"
M = TypeVar("M", bound=Message)


def changed_paths(
    message: Message, mask: Sequence[str], allowed: Sequence[str], prefix: str
) -> list[str]:
    """The mask's paths, checked against `allowed`; without a mask, every allowed field
    the message sets (non-empty). `custom_fields.<key>` names one custom field."""
    if not mask:
        paths = [name for name in allowed if _is_set(message, name)]
        if not paths:
            raise InvalidArgument.one(prefix.rstrip("."), "nothing to change")
        return paths
    paths = []
    for path in mask:
        top = path.split(".", 1)[0]
        if top not in allowed or (top != CUSTOM and "." in path):
            raise InvalidArgument.one(
                "update_mask", f'"{path}" cannot be changed; updatable: {", ".join(allowed)}'
            )
        if path not in paths:
            paths.append(path)
    return paths


def _is_set(message: Message, name: str) -> bool:
    value = getattr(message, name)
    if isinstance(value, Message):
        return message.HasField(name) and value.ByteSize() > 0
    if isinstance(value, str | bytes | int | bool | float):
        return bool(value)
    return len(value) > 0  # repeated


def touched(violation_field: str, paths: Sequence[str], prefix: str) -> bool:
    """Does a violation concern a field the mask changes? The first/last name rule
    concerns both names."""
    name = violation_field.removeprefix(prefix).split("[")[0].split(".")[0]
    return name in paths or (name == "last_name" and "first_name" in paths)


def as_updated(row: Any, message: M, paths: Sequence[str], fields: Sequence[str]) -> M:
    """A copy of the message whose `fields` outside the mask come from the row: rules
    that span fields (a first or last name is required) are checked against the record
    as it will be, not against the request alone."""
    checked = type(message)()
    checked.CopyFrom(message)
    for name in fields:
        if name not in paths:
            setattr(checked, name, getattr(row, name))
    return checked
