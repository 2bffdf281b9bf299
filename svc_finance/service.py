"""svc_finance wired to the mesh: setup builds the servicer; consumers seed a new
tenant's books and turn won deals into draft invoices."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from erp.finance.v1 import finance_pb2, finance_service_pb2_grpc
from mesh.batching import Batcher, Item
from mesh.db import Database
from mesh.jwks_client import remote_jwks
from mesh.server import Runtime, ServiceDefinition
from mesh.tokens import KeyProvider
from svc_finance.api import FinanceApi
from svc_finance.app import invoice_posting
from svc_finance.app.common import Deps
from svc_finance.config import FinanceConfig
from svc_finance.consumers import consumers
from svc_finance.store import TABLES, Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class FinanceService:
    """One instance per process; tests pass a config with their own clock."""

    def __init__(self, config: FinanceConfig | None = None, keys: KeyProvider | None = None):
        self.config = config or FinanceConfig.from_env()
        self._keys = keys  # tests hand in svc_auth's keys; the mesh fetches the JWKS
        self._deps: Deps | None = None

    @property
    def deps(self) -> Deps:
        assert self._deps is not None, "the service has not been set up yet"
        return self._deps

    def definition(self) -> ServiceDefinition:
        return ServiceDefinition(
            name="finance",
            metadata=Base.metadata,
            tables=TABLES,
            migrations=MIGRATIONS,
            setup=self.setup,
            consumers=consumers(lambda: self.deps),
        )

    async def setup(self, runtime: Runtime) -> KeyProvider:
        self._deps = deps_for(runtime.db, self.config)
        finance_service_pb2_grpc.add_FinanceServiceServicer_to_server(
            FinanceApi(self._deps), runtime.server
        )
        if self._keys is not None:
            return self._keys
        if runtime.settings.outbound is None:
            raise RuntimeError("svc_finance needs ERP_OUTBOUND to reach svc_auth's keys")
        return remote_jwks(runtime.settings.outbound)


def deps_for(db: Database, config: FinanceConfig) -> Deps:
    """The use cases' dependencies, with the batcher that posts invoices."""

    def post_batch(
        session: AsyncSession, items: Sequence[Item[str, finance_pb2.Invoice]]
    ) -> Coroutine[Any, Any, list[finance_pb2.Invoice | Exception]]:
        return invoice_posting.post_batch(session, deps, items)

    deps = Deps(db=db, config=config, invoice_posting=Batcher(db, post_batch))
    return deps


def definition() -> ServiceDefinition:
    return FinanceService().definition()
