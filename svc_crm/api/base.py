"""What every part of the CrmService servicer shares."""

from __future__ import annotations

from typing import Any, TypeAlias

from svc_crm.app.common import Deps

Ctx: TypeAlias = Any  # grpc ships no type hints


class ApiBase:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
