"""svc_billing's payment providers: Stripe for cards, manual for bank transfers."""

from __future__ import annotations

from .manual import ManualProvider, manual_reference_valid
from .provider import ChargeRequest, ChargeResult, PaymentProvider, ProviderUnavailable
from .stripe_provider import StripeProvider

__all__ = [
    "ChargeRequest",
    "ChargeResult",
    "ManualProvider",
    "PaymentProvider",
    "ProviderUnavailable",
    "StripeProvider",
    "configured_provider",
    "manual_reference_valid",
]


def configured_provider() -> PaymentProvider:
    """Stripe when ERP_STRIPE_API_KEY is set, otherwise bank transfer."""
    return StripeProvider.from_env() or ManualProvider()
