"""The provider for tenants who pay by bank transfer: it never moves money itself."""

from __future__ import annotations

from .provider import ChargeRequest, ChargeResult

MAX_REFERENCE_LENGTH = 140  # SEPA remittance information fits in 140 characters


class ManualProvider:
    name = "manual"

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        # The invoice stays open until an operator records the transfer's reference.
        return ChargeResult(
            succeeded=False,
            reference="",
            customer_ref=request.customer_ref,
            failure_code="manual_payment_required",
            failure_message=(
                f"Please pay invoice {request.invoice_number} by bank transfer, "
                f"quoting {request.invoice_number} as the payment reference."
            ),
        )


def manual_reference_valid(reference: str) -> bool:
    """A bank-transfer reference an operator may record when marking an invoice paid."""
    return (
        bool(reference.strip())
        and len(reference) <= MAX_REFERENCE_LENGTH
        and reference.isprintable()
    )
