"""svc_billing's payment providers against a local Stripe stand-in (never the internet)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
from stripe_standin import StripeStandIn  # type: ignore[import-not-found]

from svc_billing.payments import (
    ChargeRequest,
    ManualProvider,
    ProviderUnavailable,
    StripeProvider,
    configured_provider,
    manual_reference_valid,
)

KEY = StripeStandIn.API_KEY


@pytest.fixture
def stripe_api() -> Iterator[StripeStandIn]:
    with StripeStandIn() as standin:
        yield standin


def provider_for(standin: StripeStandIn, api_key: str = KEY) -> StripeProvider:
    return StripeProvider(api_key, api_base=standin.url, timeout_seconds=5)


def charge_request(**changes: object) -> ChargeRequest:
    base = ChargeRequest(
        tenant_id="tenant-1",
        invoice_id="inv-id-1",
        invoice_number="INV-0001",
        amount_minor=1999,
        currency="EUR",
        customer_ref=None,
        payment_method="pm_card_visa",
        idempotency_key="charge-inv-id-1-attempt-1",
        email="billing@tenant-1.example",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_successful_charge_creates_customer_and_payment_intent(
    stripe_api: StripeStandIn,
) -> None:
    result = await provider_for(stripe_api).charge(charge_request())

    assert result.succeeded
    assert result.reference.startswith("pi_")
    assert result.customer_ref is not None and result.customer_ref.startswith("cus_")
    assert (result.failure_code, result.failure_message) == ("", "")

    [customer] = stripe_api.requests_to("/v1/customers")
    assert customer.form["metadata"] == {"tenant_id": "tenant-1"}
    assert customer.form["email"] == "billing@tenant-1.example"
    assert customer.idempotency_key and "tenant-1" in customer.idempotency_key

    [intent] = stripe_api.requests_to("/v1/payment_intents")
    assert intent.authorization == f"Bearer {KEY}"
    assert intent.idempotency_key == "charge-inv-id-1-attempt-1"
    form = intent.form
    assert (form["amount"], form["currency"]) == ("1999", "eur")
    assert (form["customer"], form["payment_method"]) == (result.customer_ref, "pm_card_visa")
    assert (form["confirm"], form["off_session"]) == ("true", "true")
    assert form["metadata"] == {
        "tenant_id": "tenant-1",
        "invoice_id": "inv-id-1",
        "invoice_number": "INV-0001",
    }
    assert stripe_api.payment_intents[result.reference]["status"] == "succeeded"


async def test_known_customer_is_not_created_again(stripe_api: StripeStandIn) -> None:
    provider = provider_for(stripe_api)
    first = await provider.charge(charge_request())
    second = await provider.charge(
        charge_request(customer_ref=first.customer_ref, idempotency_key="attempt-2")
    )

    assert second.succeeded and second.customer_ref == first.customer_ref
    assert len(stripe_api.requests_to("/v1/customers")) == 1
    assert len(stripe_api.payment_intents) == 2


async def test_decline_is_a_failed_result_with_the_decline_code(stripe_api: StripeStandIn) -> None:
    result = await provider_for(stripe_api).charge(
        charge_request(payment_method="pm_card_chargeDeclined")
    )

    assert not result.succeeded
    assert result.failure_code == "insufficient_funds"
    assert result.failure_message == "Your card has insufficient funds."
    assert result.reference in stripe_api.payment_intents  # the failed attempt, for the record
    assert result.customer_ref in stripe_api.customers


async def test_requires_action_is_not_a_success(stripe_api: StripeStandIn) -> None:
    result = await provider_for(stripe_api).charge(
        charge_request(payment_method="pm_card_authenticationRequired")
    )

    assert not result.succeeded
    assert result.failure_code == "requires_action"
    assert result.reference.startswith("pi_") and result.failure_message


async def test_same_idempotency_key_charges_once(stripe_api: StripeStandIn) -> None:
    provider = provider_for(stripe_api)
    first = await provider.charge(charge_request())
    again = await provider.charge(charge_request())

    assert again == first
    assert len(stripe_api.requests_to("/v1/payment_intents")) == 2
    assert len(stripe_api.payment_intents) == 1
    assert len(stripe_api.customers) == 1  # the customer's key is stable too


async def test_sdk_retry_after_a_lost_answer_does_not_charge_twice(
    stripe_api: StripeStandIn,
) -> None:
    provider = provider_for(stripe_api)
    customer = (await provider.charge(charge_request(idempotency_key="warm-up"))).customer_ref
    stripe_api.drop_next_response = True  # Stripe charged, but the answer never arrives

    result = await provider.charge(charge_request(customer_ref=customer))

    assert result.succeeded
    sent = stripe_api.requests_to("/v1/payment_intents")[1:]
    assert len(sent) == 2  # the SDK retried ...
    assert {r.idempotency_key for r in sent} == {"charge-inv-id-1-attempt-1"}  # ... same key
    assert len(stripe_api.payment_intents) == 2  # warm-up + this one, not three


async def test_missing_payment_method_keeps_the_new_customer(stripe_api: StripeStandIn) -> None:
    result = await provider_for(stripe_api).charge(charge_request(payment_method=None))

    assert not result.succeeded and result.failure_code == "payment_method_required"
    assert result.customer_ref in stripe_api.customers
    assert stripe_api.requests_to("/v1/payment_intents") == []


async def test_stale_customer_is_a_failed_result(stripe_api: StripeStandIn) -> None:
    result = await provider_for(stripe_api).charge(charge_request(customer_ref="cus_gone"))

    assert not result.succeeded and result.failure_code == "resource_missing"
    assert result.customer_ref == "cus_gone"


async def test_wrong_key_is_unavailable_without_the_key(
    stripe_api: StripeStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "sk_test_wrong_secret_key_0123456789"
    provider = provider_for(stripe_api, api_key=wrong)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ProviderUnavailable) as raised:
        await provider.charge(charge_request())

    assert "HTTP 401" in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no SDK text
    for text in (str(raised.value), repr(raised.value), repr(provider), caplog.text):
        assert wrong not in text and wrong[-12:] not in text
    assert stripe_api.payment_intents == {}


async def test_server_error_is_unavailable(stripe_api: StripeStandIn) -> None:
    stripe_api.fail_next_with_500 = True

    with pytest.raises(ProviderUnavailable, match="HTTP 500") as raised:
        await provider_for(stripe_api).charge(charge_request(customer_ref="cus_any"))

    assert KEY not in str(raised.value)

    assert stripe_api.payment_intents == {}


async def test_unreachable_stripe_is_unavailable() -> None:
    with StripeStandIn() as standin:
        url = standin.url  # a port that nothing listens on once stopped
    provider = StripeProvider(KEY, api_base=url, timeout_seconds=1)

    with pytest.raises(ProviderUnavailable, match="APIConnectionError"):
        await provider.charge(charge_request())


def test_from_env(monkeypatch: pytest.MonkeyPatch, stripe_api: StripeStandIn) -> None:
    monkeypatch.delenv("ERP_STRIPE_API_KEY", raising=False)
    assert StripeProvider.from_env() is None
    assert isinstance(configured_provider(), ManualProvider)

    monkeypatch.setenv("ERP_STRIPE_API_KEY", KEY)
    monkeypatch.setenv("ERP_STRIPE_API_BASE", stripe_api.url)
    provider = StripeProvider.from_env()
    assert provider is not None and provider.name == "stripe"
    assert KEY not in repr(provider)


async def test_from_env_provider_talks_to_the_configured_base(
    monkeypatch: pytest.MonkeyPatch, stripe_api: StripeStandIn
) -> None:
    monkeypatch.setenv("ERP_STRIPE_API_KEY", KEY)
    monkeypatch.setenv("ERP_STRIPE_API_BASE", stripe_api.url)

    result = await configured_provider().charge(charge_request())

    assert result.succeeded and len(stripe_api.payment_intents) == 1


async def test_manual_provider_asks_for_a_bank_transfer() -> None:
    result = await ManualProvider().charge(charge_request(customer_ref="cus_1"))

    assert not result.succeeded and result.failure_code == "manual_payment_required"
    assert "INV-0001" in result.failure_message and "bank transfer" in result.failure_message
    assert result.customer_ref == "cus_1"


@pytest.mark.parametrize(
    ("reference", "valid"),
    [
        ("SEPA 2024-000123", True),
        ("x" * 140, True),
        ("x" * 141, False),
        ("", False),
        ("   ", False),
        ("line\nbreak", False),
    ],
)
def test_manual_reference_valid(reference: str, valid: bool) -> None:
    assert manual_reference_valid(reference) is valid


def test_charge_request_rejects_a_non_positive_amount() -> None:
    with pytest.raises(ValueError, match="amount_minor"):
        charge_request(amount_minor=0)
