"""Card payments through Stripe: a customer per tenant, an off-session PaymentIntent per attempt.

The SDK's ``*_async`` methods need httpx + anyio (or aiohttp), which are not dependencies of
the mesh, so the synchronous client runs in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os

import stripe

from .provider import ChargeRequest, ChargeResult, ProviderUnavailable

_log = logging.getLogger(__name__)

# The SDK retries connection errors, 409 and 5xx with the same Idempotency-Key, so a retry
# replays Stripe's first answer instead of charging again.
_MAX_NETWORK_RETRIES = 2

# Outages, throttling and credential/permission problems: nothing the tenant can fix.
_UNAVAILABLE = (
    stripe.APIConnectionError,
    stripe.APIError,
    stripe.RateLimitError,
    stripe.AuthenticationError,
    stripe.PermissionError,
)

_DECLINED_MESSAGE = "Your card was declined."
_REQUIRES_ACTION_MESSAGE = (
    "Your bank asks you to confirm this payment. Please update or re-authenticate your card."
)


class StripeProvider:
    name = "stripe"

    def __init__(
        self, api_key: str, api_base: str | None = None, timeout_seconds: float = 20
    ) -> None:
        if not api_key:
            raise ValueError("a Stripe API key is required")
        self._api_base = api_base.rstrip("/") if api_base else None
        # The key lives only inside the client; this object never stores or prints it.
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": self._api_base} if self._api_base else None,
            max_network_retries=_MAX_NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )

    @classmethod
    def from_env(cls) -> StripeProvider | None:
        """The provider configured by ERP_STRIPE_API_KEY (and ERP_STRIPE_API_BASE), if any."""
        api_key = os.environ.get("ERP_STRIPE_API_KEY", "")
        if not api_key:
            return None
        return cls(api_key, api_base=os.environ.get("ERP_STRIPE_API_BASE") or None)

    def __repr__(self) -> str:
        return f"StripeProvider(api_base={self._api_base!r})"

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        # If the caller is cancelled the thread still finishes; retrying with the same
        # idempotency key then gets Stripe's recorded answer, never a second charge.
        return await asyncio.to_thread(self._charge, request)

    def _charge(self, request: ChargeRequest) -> ChargeResult:
        customer_ref = request.customer_ref
        try:
            if customer_ref is None:
                customer_ref = self._create_customer(request)
            if not request.payment_method:
                return ChargeResult(
                    succeeded=False,
                    reference="",
                    customer_ref=customer_ref,
                    failure_code="payment_method_required",
                    failure_message="Please add a card to pay this invoice.",
                )
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": request.amount_minor,
                    "currency": request.currency.lower(),
                    "customer": customer_ref,
                    "payment_method": request.payment_method,
                    "confirm": True,
                    "off_session": True,
                    # Off-session: no page to come back to, so no redirecting methods.
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    "description": f"Invoice {request.invoice_number}",
                    "metadata": {
                        "tenant_id": request.tenant_id,
                        "invoice_id": request.invoice_id,
                        "invoice_number": request.invoice_number,
                    },
                },
                options={"idempotency_key": request.idempotency_key},
            )
        except stripe.CardError as err:
            return _declined(err, customer_ref)
        except (stripe.InvalidRequestError, stripe.IdempotencyError) as err:
            return _rejected(err, customer_ref)
        except _UNAVAILABLE as err:
            raise _unavailable(err) from None  # no chaining: keep SDK text out of logs
        except stripe.StripeError as err:
            # Anything new or unknown: keep the invoice open and try again later.
            raise _unavailable(err) from None

        if intent.status == "succeeded":
            return ChargeResult(succeeded=True, reference=intent.id, customer_ref=customer_ref)
        if intent.status == "requires_action":
            return ChargeResult(
                succeeded=False,
                reference=intent.id,
                customer_ref=customer_ref,
                failure_code="requires_action",
                failure_message=_REQUIRES_ACTION_MESSAGE,
            )
        return ChargeResult(
            succeeded=False,
            reference=intent.id,
            customer_ref=customer_ref,
            failure_code=intent.status,
            failure_message=f"The payment was not completed ({intent.status}).",
        )

    def _create_customer(self, request: ChargeRequest) -> str:
        params: stripe.params.CustomerCreateParams = {"metadata": {"tenant_id": request.tenant_id}}
        if request.email:
            params["email"] = request.email
        # Derived from the tenant, so a retry after a lost answer finds the same customer;
        # the email is part of it because Stripe refuses a reused key with other parameters.
        digest = hashlib.sha256(request.email.encode()).hexdigest()[:16]
        key = f"erp-customer-{request.tenant_id}-{digest}"
        customer = self._client.v1.customers.create(params=params, options={"idempotency_key": key})
        return customer.id


def _declined(err: stripe.CardError, customer_ref: str | None) -> ChargeResult:
    detail = err.error
    intent = detail.payment_intent if detail is not None else None
    code = (detail.decline_code if detail is not None else None) or err.code or "card_declined"
    # Stripe documents card error messages as safe to show to the card holder.
    message = (detail.message if detail is not None else None) or _DECLINED_MESSAGE
    return ChargeResult(
        succeeded=False,
        reference=intent.id if intent is not None else "",
        customer_ref=customer_ref,
        failure_code=code,
        failure_message=message,
    )


def _rejected(err: stripe.StripeError, customer_ref: str | None) -> ChargeResult:
    # A stale customer or payment method, or a bad email: retrying the same request won't help.
    _log.warning("stripe rejected the charge: %s", _describe(err))
    return ChargeResult(
        succeeded=False,
        reference="",
        customer_ref=customer_ref,
        failure_code=err.code or "invalid_request",
        failure_message="The payment details on file could not be used. Please update your card.",
    )


def _unavailable(err: stripe.StripeError) -> ProviderUnavailable:
    description = _describe(err)
    _log.warning("stripe unavailable: %s", description)
    return ProviderUnavailable(f"Stripe is unavailable: {description}")


def _describe(err: stripe.StripeError) -> str:
    # Built from fields that never hold the API key (Stripe's own messages redact it, but
    # we don't rely on that).
    parts = [type(err).__name__]
    if err.http_status is not None:
        parts.append(f"HTTP {err.http_status}")
    if err.code:
        parts.append(f"code {err.code}")
    if err.request_id:
        parts.append(f"request {err.request_id}")
    return ", ".join(parts)
