"""What every part of the FinanceService servicer shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from mesh.errors import InvalidArgument
from svc_finance.app.common import Deps

Ctx: TypeAlias = Any  # grpc ships no type hints


class ApiBase:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps


def paths_of(
    mask: FieldMask, message: Message, allowed: Sequence[str], expand: Sequence[str] = ()
) -> list[str]:
    """The mask's paths; without a mask, every allowed field `message` sets, and for
    the message fields named in `expand`, each of their fields that is set (so a
    body naming one rule changes that rule, not the others)."""
    if mask.paths:
        return list(dict.fromkeys(mask.paths))
    paths = []
    for name in allowed:
        if not _is_set(message, name):
            continue
        if name in expand:
            inner = getattr(message, name)
            paths += [f"{name}.{f.name}" for f, _ in inner.ListFields()]
        else:
            paths.append(name)
    if not paths:
        raise InvalidArgument.one("update_mask", "nothing to change")
    return paths


def _is_set(message: Message, name: str) -> bool:
    value = getattr(message, name)
    if isinstance(value, Message):
        return message.HasField(name)
    if hasattr(value, "__len__") and not isinstance(value, str):
        return len(value) > 0
    return bool(value)
