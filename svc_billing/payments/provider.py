"""What svc_billing asks of a payment provider, independent of who moves the money."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ChargeRequest:
    """One attempt to collect an invoice's open amount."""

    tenant_id: str
    invoice_id: str
    invoice_number: str
    amount_minor: int  # > 0, in the currency's minor units (never a float)
    currency: str  # ISO 4217, e.g. "USD"
    customer_ref: str | None  # provider's customer id if we already have one
    payment_method: str | None  # provider's payment method id (e.g. "pm_card_visa")
    idempotency_key: str  # stable per attempt: retrying the same attempt never charges twice
    email: str = ""

    def __post_init__(self) -> None:
        # Caught here so a bad amount never reaches a provider that might accept it.
        if self.amount_minor <= 0:
            raise ValueError("amount_minor must be positive")
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ValueError("currency must be an ISO 4217 code")
        if not self.idempotency_key:
            raise ValueError("idempotency_key is required")


@dataclass(frozen=True)
class ChargeResult:
    """The outcome the invoice records; a provider outage is ProviderUnavailable instead."""

    succeeded: bool
    reference: str  # provider's payment id (e.g. "pi_...") or bank reference
    customer_ref: str | None  # possibly newly created customer id, to store
    failure_code: str = ""  # e.g. "card_declined"
    failure_message: str = ""  # human readable, safe to show to the tenant


class PaymentProvider(Protocol):
    name: str  # "manual" | "stripe"

    async def charge(self, request: ChargeRequest) -> ChargeResult: ...


class ProviderUnavailable(Exception):
    """Network, 5xx, rate limit or credential trouble: retry later, the invoice stays open.

    The message never carries secrets, so it may be logged as is.
    """
