"""What every part of the CrmService servicer shares."""

from __future__ import annotations

from typing import Any, TypeAlias

from mesh.errors import InvalidArgument
from svc_crm.app.common import Deps

Ctx: TypeAlias = Any  # grpc ships no type hints


def required(value: str, field: str) -> str:
    if not value.strip():
        raise InvalidArgument.one(field, "is required")
    return value


class ApiBase:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
