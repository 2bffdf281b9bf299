"""svc_crm wired to the mesh: setup builds the servicer; the service consumes no
events yet (finance and others consume its events)."""

from __future__ import annotations

from pathlib import Path

from erp.crm.v1 import crm_service_pb2_grpc
from mesh.jwks_client import remote_jwks
from mesh.server import Runtime, ServiceDefinition
from mesh.tokens import KeyProvider
from svc_crm.api import CrmApi
from svc_crm.app.common import Deps
from svc_crm.config import CrmConfig
from svc_crm.store import TABLES, Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class CrmService:
    """One instance per process; tests pass a config with their own clock."""

    def __init__(self, config: CrmConfig | None = None, keys: KeyProvider | None = None) -> None:
        self.config = config or CrmConfig.from_env()
        self._keys = keys  # tests hand in svc_auth's keys; the mesh fetches the JWKS
        self._deps: Deps | None = None

    @property
    def deps(self) -> Deps:
        assert self._deps is not None, "the service has not been set up yet"
        return self._deps

    def definition(self) -> ServiceDefinition:
        return ServiceDefinition(
            name="crm",
            metadata=Base.metadata,
            tables=TABLES,
            migrations=MIGRATIONS,
            setup=self.setup,
        )

    async def setup(self, runtime: Runtime) -> KeyProvider:
        self._deps = Deps(db=runtime.db, config=self.config, entitlements=runtime.entitlements)
        crm_service_pb2_grpc.add_CrmServiceServicer_to_server(CrmApi(self._deps), runtime.server)
        if self._keys is not None:
            return self._keys
        if runtime.settings.outbound is None:
            raise RuntimeError("svc_crm needs ERP_OUTBOUND to reach svc_auth's keys")
        return remote_jwks(runtime.settings.outbound)


def definition() -> ServiceDefinition:
    return CrmService().definition()
