"""Invoice, bill and payment RPCs: contract messages in, use cases called,
messages out. No SQL and no rules here."""

from __future__ import annotations

from erp.finance.v1 import finance_service_pb2 as api
from mesh.dates import from_date_message
from mesh.values import required
from svc_finance import convert
from svc_finance.api.base import ApiBase, Ctx, paths_of
from svc_finance.app import invoice_posting, invoices, payments
from svc_finance.domain.invoices import Kind

KINDS = "a customer invoice or a vendor bill"
DIRECTIONS = "incoming or outgoing"


class DocumentsApi(ApiBase):
    # --- invoices and bills ------------------------------------------------------------

    async def CreateInvoice(  # noqa: N802
        self, request: api.CreateInvoiceRequest, context: Ctx
    ) -> api.CreateInvoiceResponse:
        kind = (
            convert.enum_in(convert.KIND_OF, request.kind, "kind", KINDS)
            if request.kind
            else Kind.INVOICE
        )
        return await invoices.create_invoice(self.deps, request, kind)

    async def GetInvoice(  # noqa: N802
        self, request: api.GetInvoiceRequest, context: Ctx
    ) -> api.GetInvoiceResponse:
        row = await invoices.get_invoice(self.deps, required(request.id, "id"))
        return api.GetInvoiceResponse(invoice=convert.invoice(row))

    async def ListInvoices(  # noqa: N802
        self, request: api.ListInvoicesRequest, context: Ctx
    ) -> api.ListInvoicesResponse:
        kind = (
            convert.enum_in(convert.KIND_OF, request.kind, "kind", KINDS) if request.kind else None
        )
        state = (
            convert.enum_in(convert.STATE_OF, request.state, "state", "a known invoice state")
            if request.state
            else None
        )
        rows, token = await invoices.list_invoices(
            self.deps, kind, state, request.page_size, request.page_token
        )
        return api.ListInvoicesResponse(
            invoices=[convert.invoice(r) for r in rows], next_page_token=token
        )

    async def UpdateInvoice(  # noqa: N802
        self, request: api.UpdateInvoiceRequest, context: Ctx
    ) -> api.UpdateInvoiceResponse:
        required(request.invoice.id, "invoice.id")
        paths = paths_of(request.update_mask, request.invoice, invoices.EDITABLE)
        row = await invoices.update_invoice(self.deps, request.invoice, paths)
        return api.UpdateInvoiceResponse(invoice=convert.invoice(row))

    async def PostInvoice(  # noqa: N802
        self, request: api.PostInvoiceRequest, context: Ctx
    ) -> api.PostInvoiceResponse:
        posted = await invoice_posting.post_invoice(self.deps, required(request.id, "id"))
        return api.PostInvoiceResponse(invoice=posted)

    async def CancelInvoice(  # noqa: N802
        self, request: api.CancelInvoiceRequest, context: Ctx
    ) -> api.CancelInvoiceResponse:
        row = await invoices.cancel_invoice(self.deps, required(request.id, "id"), request.reason)
        return api.CancelInvoiceResponse(invoice=convert.invoice(row))

    # --- payments ----------------------------------------------------------------------

    async def CreatePayment(  # noqa: N802
        self, request: api.CreatePaymentRequest, context: Ctx
    ) -> api.CreatePaymentResponse:
        direction = convert.enum_in(
            convert.DIRECTION_OF, request.direction, "direction", DIRECTIONS
        )
        day = from_date_message(request.date, "date")
        given = [payments.AllocationInput(a.invoice_id, a.amount) for a in request.allocations]
        return await payments.create_payment(self.deps, request, direction, day, given)

    async def GetPayment(  # noqa: N802
        self, request: api.GetPaymentRequest, context: Ctx
    ) -> api.GetPaymentResponse:
        row = await payments.get_payment(self.deps, required(request.id, "id"))
        return api.GetPaymentResponse(payment=convert.payment(row))

    async def ListPayments(  # noqa: N802
        self, request: api.ListPaymentsRequest, context: Ctx
    ) -> api.ListPaymentsResponse:
        direction = (
            convert.enum_in(convert.DIRECTION_OF, request.direction, "direction", DIRECTIONS)
            if request.direction
            else ""
        )
        rows, token = await payments.list_payments(
            self.deps, direction, request.unallocated_only, request.page_size, request.page_token
        )
        return api.ListPaymentsResponse(
            payments=[convert.payment(r) for r in rows], next_page_token=token
        )

    async def AllocatePayment(  # noqa: N802
        self, request: api.AllocatePaymentRequest, context: Ctx
    ) -> api.AllocatePaymentResponse:
        required(request.id, "id")
        given = [payments.AllocationInput(a.invoice_id, a.amount) for a in request.allocations]
        return await payments.allocate_payment(self.deps, request, given)
