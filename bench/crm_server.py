"""svc_crm for the CRM benchmark, started by the launcher in place of `python -m svc_crm`
(its own process, sidecar and edge route, as in production), with one difference:
its tenants' plans have no contact limit. The benchmark puts 100,000 contacts in one
tenant, above every public plan (Business allows 50,000), and the Enterprise plan that
has no limit is assigned by sales, not through an API. Features and permissions are
still checked against billing as usual; only the `contacts` limit is dropped from
what the entitlement cache takes in (fills and `entitlements.changed` events alike).
"""

from __future__ import annotations

from erp.billing.v1 import billing_pb2
from mesh.entitlements import EntitlementCache
from mesh.server import Runtime, run
from mesh.tokens import KeyProvider
from svc_crm.service import CrmService

LIFTED = "contacts"


def lift_contact_limit(cache: EntitlementCache) -> None:
    take = cache.apply

    def apply(message: billing_pb2.Entitlements) -> None:
        if LIFTED in message.limits:
            message = billing_pb2.Entitlements.FromString(message.SerializeToString())
            del message.limits[LIFTED]
        take(message)

    cache.apply = apply  # type: ignore[method-assign]


class BenchCrmService(CrmService):
    async def setup(self, runtime: Runtime) -> KeyProvider:
        keys = await super().setup(runtime)
        lift_contact_limit(runtime.entitlements)
        return keys


if __name__ == "__main__":
    run(BenchCrmService().definition())
