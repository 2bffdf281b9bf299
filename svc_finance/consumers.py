"""What svc_finance consumes: new tenants (their books are seeded) and won deals
(each becomes a draft invoice)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth.v1 import auth_pb2
from erp.common.v1 import event_pb2
from erp.crm.v1 import crm_pb2
from mesh.consumer import Consumer, On
from svc_finance.app import books, invoices
from svc_finance.app.common import Deps


def consumers(deps: Callable[[], Deps]) -> list[Consumer]:
    """`deps` gives the service's dependencies once it is set up."""

    async def on_tenant_created(
        session: AsyncSession, envelope: event_pb2.EventEnvelope, payload: auth_pb2.TenantCreated
    ) -> None:
        await books.seed(session, deps())

    async def on_opportunity_won(
        session: AsyncSession, envelope: event_pb2.EventEnvelope, payload: crm_pb2.OpportunityWon
    ) -> None:
        await invoices.draft_from_opportunity(session, deps(), envelope, payload)

    return [
        Consumer(
            name="finance-from-auth",
            handlers=[On("auth.tenant.created", auth_pb2.TenantCreated, on_tenant_created)],
        ),
        Consumer(
            name="finance-from-crm",
            handlers=[On("crm.opportunity.won", crm_pb2.OpportunityWon, on_opportunity_won)],
        ),
    ]
