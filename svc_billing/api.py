"""The BillingService servicer: contract messages in, use cases called, messages out.

No SQL and no rules here. Permissions and plan features are enforced by the mesh
interceptor from the contract; domain errors raised below become gRPC statuses there.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from erp.billing.v1 import billing_pb2, billing_service_pb2_grpc
from erp.billing.v1 import billing_service_pb2 as pb
from mesh import paging
from mesh.context import require_principal
from mesh.errors import InvalidArgument
from mesh.timestamps import to_timestamp
from mesh.values import required
from svc_billing import convert
from svc_billing.app import catalog, invoices, subscriptions, usage
from svc_billing.app.common import Deps, Replay, replayable, require_platform_operator
from svc_billing.app.entitlements import of_tenant
from svc_billing.domain.invoicing import InvoiceStatus
from svc_billing.domain.periods import Interval

Ctx: TypeAlias = Any  # grpc ships no type hints


def _interval(value: billing_pb2.BillingInterval.ValueType) -> Interval | None:
    if value == billing_pb2.BILLING_INTERVAL_UNSPECIFIED:
        return None
    if value not in convert.INTERVAL_OF:
        raise InvalidArgument.one("interval", "monthly or yearly")
    return convert.INTERVAL_OF[value]


class BillingApi(billing_service_pb2_grpc.BillingServiceServicer):
    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    # --- catalog -----------------------------------------------------------------------

    async def ListPlans(  # noqa: N802
        self, request: pb.ListPlansRequest, context: Ctx
    ) -> pb.ListPlansResponse:
        found = await catalog.list_public(self.deps)
        return pb.ListPlansResponse(
            plans=[
                billing_pb2.Plan(
                    plan_id=pv.plan_id, current=convert.plan_version_message(pv, row.created_at)
                )
                for pv, row in found
            ]
        )

    async def GetPlan(  # noqa: N802
        self, request: pb.GetPlanRequest, context: Ctx
    ) -> pb.GetPlanResponse:
        pv, row = await catalog.get(
            self.deps, required(request.plan_id, "plan_id"), request.version
        )
        current = convert.plan_version_message(pv, row.created_at)
        return pb.GetPlanResponse(plan=billing_pb2.Plan(plan_id=pv.plan_id, current=current))

    async def ListAddOns(
        self, request: pb.ListAddOnsRequest, context: Ctx
    ) -> pb.ListAddOnsResponse:  # noqa: N802
        found = await catalog.list_addons(self.deps)
        return pb.ListAddOnsResponse(addons=[convert.addon_message(a) for a in found])

    async def PublishPlanVersion(  # noqa: N802
        self, request: pb.PublishPlanVersionRequest, context: Ctx
    ) -> pb.PublishPlanVersionResponse:
        require_platform_operator(self.deps)
        plan_id = required(request.plan_id, "plan_id")

        async def run() -> pb.PublishPlanVersionResponse:
            pv, row = await catalog.publish(session, self.deps, plan_id, request.version)
            current = convert.plan_version_message(pv, row.created_at)
            return pb.PublishPlanVersionResponse(
                plan=billing_pb2.Plan(plan_id=pv.plan_id, current=current)
            )

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, pb.PublishPlanVersionResponse, run)

    async def MigrateSubscribers(  # noqa: N802
        self, request: pb.MigrateSubscribersRequest, context: Ctx
    ) -> pb.MigrateSubscribersResponse:
        require_platform_operator(self.deps)
        plan_id = required(request.plan_id, "plan_id")
        async with self.deps.db.transaction() as session:
            moved, version = await catalog.migrate_subscribers(
                session, plan_id, request.from_version
            )
        return pb.MigrateSubscribersResponse(migrated=moved, to_version=version)

    # --- the tenant's subscription -------------------------------------------------------

    async def GetSubscription(  # noqa: N802
        self, request: pb.GetSubscriptionRequest, context: Ctx
    ) -> pb.GetSubscriptionResponse:
        row = await subscriptions.current(self.deps)
        return pb.GetSubscriptionResponse(subscription=convert.subscription_message(row))

    async def PreviewPlanChange(  # noqa: N802
        self, request: pb.PreviewPlanChangeRequest, context: Ctx
    ) -> pb.PreviewPlanChangeResponse:
        plan_id = required(request.plan_id, "plan_id")
        draft = await subscriptions.preview_change(self.deps, plan_id, _interval(request.interval))
        return pb.PreviewPlanChangeResponse(invoice=convert.invoice_message(draft))

    async def ChangePlan(
        self, request: pb.ChangePlanRequest, context: Ctx
    ) -> pb.ChangePlanResponse:  # noqa: N802
        plan_id = required(request.plan_id, "plan_id")
        interval = _interval(request.interval)

        async def run() -> pb.ChangePlanResponse:
            done = await subscriptions.change_plan_in(session, self.deps, plan_id, interval)
            answer = pb.ChangePlanResponse(
                subscription=convert.subscription_message(done.subscription)
            )
            if done.invoice is not None:
                answer.invoice.CopyFrom(convert.invoice_message(done.invoice))
            return answer

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, pb.ChangePlanResponse, run)

    async def CancelSubscription(  # noqa: N802
        self, request: pb.CancelSubscriptionRequest, context: Ctx
    ) -> pb.CancelSubscriptionResponse:
        row = await subscriptions.cancel(self.deps, request.at_period_end)
        return pb.CancelSubscriptionResponse(subscription=convert.subscription_message(row))

    async def PauseSubscription(  # noqa: N802
        self, request: pb.PauseSubscriptionRequest, context: Ctx
    ) -> pb.PauseSubscriptionResponse:
        row = await subscriptions.pause(self.deps)
        return pb.PauseSubscriptionResponse(subscription=convert.subscription_message(row))

    async def ResumeSubscription(  # noqa: N802
        self, request: pb.ResumeSubscriptionRequest, context: Ctx
    ) -> pb.ResumeSubscriptionResponse:
        row = await subscriptions.resume(self.deps)
        return pb.ResumeSubscriptionResponse(subscription=convert.subscription_message(row))

    async def SetAddOn(  # noqa: N802
        self, request: pb.SetAddOnRequest, context: Ctx
    ) -> pb.SetAddOnResponse:
        addon_id = required(request.addon_id, "addon_id")
        row = await subscriptions.set_addon(self.deps, addon_id, request.quantity)
        return pb.SetAddOnResponse(subscription=convert.subscription_message(row))

    async def SetPaymentMethod(  # noqa: N802
        self, request: pb.SetPaymentMethodRequest, context: Ctx
    ) -> pb.SetPaymentMethodResponse:
        row = await subscriptions.set_payment_method(
            self.deps, request.provider, request.payment_method
        )
        return pb.SetPaymentMethodResponse(subscription=convert.subscription_message(row))

    # --- entitlements --------------------------------------------------------------------

    async def ListEntitlements(  # noqa: N802
        self, request: pb.ListEntitlementsRequest, context: Ctx
    ) -> pb.ListEntitlementsResponse:
        found = await self._entitlements(require_principal().tenant_id)
        return pb.ListEntitlementsResponse(entitlements=found)

    async def CheckEntitlement(  # noqa: N802
        self, request: pb.CheckEntitlementRequest, context: Ctx
    ) -> pb.CheckEntitlementResponse:
        feature = required(request.feature, "feature")
        found = await self._entitlements(require_principal().tenant_id)
        allowed = feature in found.features
        reason = "" if allowed else f"the {found.plan_id} plan does not include {feature}"
        return pb.CheckEntitlementResponse(
            feature=feature, allowed=allowed, reason=reason, plan_id=found.plan_id
        )

    async def GetTenantEntitlements(  # noqa: N802
        self, request: pb.GetTenantEntitlementsRequest, context: Ctx
    ) -> pb.GetTenantEntitlementsResponse:
        tenant_id = required(request.tenant_id, "tenant_id")
        return pb.GetTenantEntitlementsResponse(entitlements=await self._entitlements(tenant_id))

    async def _entitlements(self, tenant_id: str) -> billing_pb2.Entitlements:
        async with self.deps.db.sessions() as session:
            return await of_tenant(session, tenant_id, self.deps.now())

    # --- usage ---------------------------------------------------------------------------

    async def RecordUsage(
        self, request: pb.RecordUsageRequest, context: Ctx
    ) -> pb.RecordUsageResponse:  # noqa: N802
        done = await usage.record(self.deps, request.records)
        return pb.RecordUsageResponse(accepted=done.accepted, duplicates=done.duplicates)

    async def GetUsage(  # noqa: N802
        self, request: pb.GetUsageRequest, context: Ctx
    ) -> pb.GetUsageResponse:
        found = await usage.current(self.deps)
        answer = pb.GetUsageResponse(
            period_start=to_timestamp(found.start), period_end=to_timestamp(found.end)
        )
        for name, kind, amount, limit in found.metrics:
            metric = answer.metrics.add(
                metric=name,
                aggregation=billing_pb2.Aggregation.Value(f"AGGREGATION_{kind.upper()}"),
                value=amount,
            )
            if limit is not None:
                metric.limit = limit
        return answer

    # --- invoices ------------------------------------------------------------------------

    async def ListInvoices(  # noqa: N802
        self, request: pb.ListInvoicesRequest, context: Ctx
    ) -> pb.ListInvoicesResponse:
        page = paging.parse(request.page)
        if request.status and request.status not in convert.INVOICE_STATUS_OF:
            raise InvalidArgument.one("status", "not an invoice status")
        rows = await invoices.page(self.deps, page, request.status)
        return pb.ListInvoicesResponse(
            invoices=[convert.invoice_message(r) for r in rows[: page.size]],
            page=paging.next_token([r.id for r in rows], page),
        )

    async def GetInvoice(
        self, request: pb.GetInvoiceRequest, context: Ctx
    ) -> pb.GetInvoiceResponse:  # noqa: N802
        row = await invoices.get(self.deps, required(request.invoice_id, "invoice_id"))
        return pb.GetInvoiceResponse(invoice=convert.invoice_message(row))

    async def PayInvoice(
        self, request: pb.PayInvoiceRequest, context: Ctx
    ) -> pb.PayInvoiceResponse:  # noqa: N802
        invoice_id = required(request.invoice_id, "invoice_id")

        def render(done: invoices.Paid) -> pb.PayInvoiceResponse:
            return pb.PayInvoiceResponse(
                invoice=convert.invoice_message(done.invoice),
                subscription=convert.subscription_message(done.subscription),
            )

        replay = Replay(request, pb.PayInvoiceResponse, render)
        answer = await invoices.pay(self.deps, invoice_id, request.idempotency_key, replay)
        assert isinstance(answer, pb.PayInvoiceResponse)
        return answer

    async def RecordManualPayment(  # noqa: N802
        self, request: pb.RecordManualPaymentRequest, context: Ctx
    ) -> pb.RecordManualPaymentResponse:
        row = await invoices.record_manual_payment(
            self.deps,
            required(request.tenant_id, "tenant_id"),
            required(request.invoice_id, "invoice_id"),
            request.reference,
        )
        return pb.RecordManualPaymentResponse(invoice=convert.invoice_message(row))

    async def VoidInvoice(
        self, request: pb.VoidInvoiceRequest, context: Ctx
    ) -> pb.VoidInvoiceResponse:  # noqa: N802
        row = await invoices.close(
            self.deps,
            required(request.tenant_id, "tenant_id"),
            required(request.invoice_id, "invoice_id"),
            InvoiceStatus.VOID,
        )
        return pb.VoidInvoiceResponse(invoice=convert.invoice_message(row))

    async def MarkInvoiceUncollectible(  # noqa: N802
        self, request: pb.MarkInvoiceUncollectibleRequest, context: Ctx
    ) -> pb.MarkInvoiceUncollectibleResponse:
        row = await invoices.close(
            self.deps,
            required(request.tenant_id, "tenant_id"),
            required(request.invoice_id, "invoice_id"),
            InvoiceStatus.UNCOLLECTIBLE,
        )
        return pb.MarkInvoiceUncollectibleResponse(invoice=convert.invoice_message(row))

    async def SetTaxRate(
        self, request: pb.SetTaxRateRequest, context: Ctx
    ) -> pb.SetTaxRateResponse:  # noqa: N802
        row = await subscriptions.set_tax_rate(
            self.deps, required(request.tenant_id, "tenant_id"), request.tax_rate_bps
        )
        return pb.SetTaxRateResponse(subscription=convert.subscription_message(row))
