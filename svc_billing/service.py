"""svc_billing wired to the mesh: setup seeds the catalog, builds the servicer and
answers the interceptor's entitlement questions from its own database; the billing
clock runs in the background; consumers take tenants, seats and usage from events."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import stripe

from erp.billing.v1 import billing_pb2, billing_service_pb2_grpc
from mesh.jwks_client import remote_jwks
from mesh.server import Runtime, ServiceDefinition
from mesh.tokens import KeyProvider
from svc_billing.api import BillingApi
from svc_billing.app import catalog, cycle
from svc_billing.app.common import Deps
from svc_billing.app.entitlements import of_tenant
from svc_billing.config import BillingConfig
from svc_billing.consumers import CONSUMERS
from svc_billing.payments import ManualProvider, PaymentProvider, StripeProvider
from svc_billing.store import TABLES, Base

log = logging.getLogger("svc_billing")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class BillingService:
    """One instance per process; tests pass a config with their own clock."""

    def __init__(
        self,
        config: BillingConfig | None = None,
        keys: KeyProvider | None = None,
        providers: dict[str, PaymentProvider] | None = None,
    ) -> None:
        self.config = config or BillingConfig.from_env()
        self._keys = keys  # tests hand in svc_auth's keys; the mesh fetches the JWKS
        self._providers = providers
        self._deps: Deps | None = None

    @property
    def deps(self) -> Deps:
        assert self._deps is not None, "the service has not been set up yet"
        return self._deps

    def definition(self) -> ServiceDefinition:
        return ServiceDefinition(
            name="billing",
            metadata=Base.metadata,
            tables=TABLES,
            migrations=MIGRATIONS,
            setup=self.setup,
            background=[self.billing_clock],
            consumers=CONSUMERS,
        )

    async def setup(self, runtime: Runtime) -> KeyProvider:
        stripe.enable_telemetry = False  # no calls home from the SDK
        providers = self._providers
        if providers is None:
            providers = {"manual": ManualProvider()}
            card = StripeProvider.from_env()
            if card is not None:
                providers["stripe"] = card
        self._deps = Deps(db=runtime.db, config=self.config, providers=providers)
        await catalog.seed(self._deps)
        billing_service_pb2_grpc.add_BillingServiceServicer_to_server(
            BillingApi(self._deps), runtime.server
        )
        runtime.entitlements.fetch = self.entitlements_of  # no network: our own database
        if self._keys is not None:
            return self._keys
        if runtime.settings.outbound is None:
            raise RuntimeError("svc_billing needs ERP_OUTBOUND to reach svc_auth's keys")
        return remote_jwks(runtime.settings.outbound)

    async def entitlements_of(self, tenant_id: str) -> billing_pb2.Entitlements:
        async with self.deps.db.sessions() as session:
            return await of_tenant(session, tenant_id, self.deps.now())

    async def billing_clock(self, runtime: Runtime) -> None:
        """Renewals, trial ends and dunning, every `cycle_seconds`."""
        while True:
            await asyncio.sleep(self.config.cycle_seconds)
            try:
                await cycle.run(self.deps)
            except Exception:
                log.exception("billing cycle failed; will retry")


def definition() -> ServiceDefinition:
    return BillingService().definition()
