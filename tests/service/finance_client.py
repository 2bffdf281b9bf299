"""Client-side helpers for the svc_finance service tests: a tenant with its owner's
token, accounts by role, rates, and invoice, bill and payment factories."""

from __future__ import annotations

from datetime import date

from crm_client import Tenant, new_tenant, unique  # type: ignore[import-not-found]  # noqa: F401
from finance_harness import Finance  # type: ignore[import-not-found]
from google.type import date_pb2

from erp.common.v1 import money_pb2
from erp.finance.v1 import finance_pb2 as fpb
from erp.finance.v1 import finance_service_pb2 as pb

INVOICE = fpb.INVOICE_KIND_CUSTOMER_INVOICE
BILL = fpb.INVOICE_KIND_VENDOR_BILL
INCOMING = fpb.PAYMENT_DIRECTION_INCOMING
OUTGOING = fpb.PAYMENT_DIRECTION_OUTGOING


def money(currency: str, amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount_minor)


def eur(amount_minor: int) -> money_pb2.Money:
    return money("EUR", amount_minor)


def day(value: date) -> date_pb2.Date:
    return date_pb2.Date(year=value.year, month=value.month, day=value.day)


async def accounts_by_role(finance: Finance, tenant: Tenant) -> dict[str, fpb.Account]:
    listed = await finance.stub.ListAccounts(
        pb.ListAccountsRequest(page_size=500), metadata=tenant.token
    )
    return {a.role: a for a in listed.accounts if a.role}


async def accounts_by_code(finance: Finance, tenant: Tenant) -> dict[str, fpb.Account]:
    listed = await finance.stub.ListAccounts(
        pb.ListAccountsRequest(page_size=500), metadata=tenant.token
    )
    return {a.code: a for a in listed.accounts}


async def set_rate(finance: Finance, tenant: Tenant, currency: str, on: date, rate: str) -> None:
    await finance.stub.SetExchangeRates(
        pb.SetExchangeRatesRequest(
            rates=[fpb.ExchangeRate(currency_code=currency, date=day(on), rate=rate)]
        ),
        metadata=tenant.token,
    )


def item(
    unit_price: money_pb2.Money,
    quantity: str = "1",
    tax_rate_bps: int = 0,
    discount_bps: int = 0,
    description: str = "Consulting",
) -> fpb.InvoiceLine:
    return fpb.InvoiceLine(
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        tax_rate_bps=tax_rate_bps,
        discount_bps=discount_bps,
    )


async def draft(
    finance: Finance,
    tenant: Tenant,
    *lines: fpb.InvoiceLine,
    kind: int = INVOICE,
    currency: str = "",
    on: date | None = None,
    party: str = "Globex",
) -> fpb.Invoice:
    request = pb.CreateInvoiceRequest(
        kind=kind,  # type: ignore[arg-type]
        party=fpb.Party(name=party),
        currency_code=currency,
        lines=list(lines) or [item(eur(10000), tax_rate_bps=2000)],
    )
    if on is not None:
        request.issue_date.CopyFrom(day(on))
    created = await finance.stub.CreateInvoice(request, metadata=tenant.token)
    return created.invoice


async def posted(
    finance: Finance, tenant: Tenant, *lines: fpb.InvoiceLine, **kw: object
) -> fpb.Invoice:
    made = await draft(finance, tenant, *lines, **kw)  # type: ignore[arg-type]
    done = await finance.stub.PostInvoice(pb.PostInvoiceRequest(id=made.id), metadata=tenant.token)
    return done.invoice


async def pay(
    finance: Finance,
    tenant: Tenant,
    amount: money_pb2.Money,
    *allocations: tuple[str, money_pb2.Money],
    direction: int = INCOMING,
    on: date | None = None,
    reference: str = "",
) -> fpb.Payment:
    request = pb.CreatePaymentRequest(
        direction=direction,  # type: ignore[arg-type]
        amount=amount,
        reference=reference,
        allocations=[fpb.Allocation(invoice_id=i, amount=a) for i, a in allocations],
    )
    if on is not None:
        request.date.CopyFrom(day(on))
    made = await finance.stub.CreatePayment(request, metadata=tenant.token)
    return made.payment


async def trial_balance(
    finance: Finance, tenant: Tenant, as_of: str = ""
) -> pb.GetTrialBalanceResponse:
    found: pb.GetTrialBalanceResponse = await finance.stub.GetTrialBalance(
        pb.GetTrialBalanceRequest(as_of=as_of), metadata=tenant.token
    )
    return found
