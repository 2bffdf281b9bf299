"""Inputs at the edges of what the finance service accepts, each answered with a
client error naming the field (never INTERNAL) and nothing written: dates at the end
of the calendar, NUL bytes in ids and keys, amounts beyond what the books hold; and a
draft whose currency alone changes keeps its lines."""

from __future__ import annotations

from datetime import date

import grpc
from auth_client import bad_fields, fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from finance_client import (  # type: ignore[import-not-found]
    accounts_by_role,
    day,
    draft,
    eur,
    item,
    money,
    new_tenant,
    set_rate,
    trial_balance,
)
from finance_harness import Finance  # type: ignore[import-not-found]
from google.protobuf.field_mask_pb2 import FieldMask

from erp.finance.v1 import finance_pb2 as fpb
from erp.finance.v1 import finance_service_pb2 as pb

LAST_DAY = date(9999, 12, 31)


async def test_dates_at_the_end_of_the_calendar_are_client_errors(
    auth: Auth, finance: Finance
) -> None:
    tenant = await new_tenant(auth)
    request = pb.CreateInvoiceRequest(
        party=fpb.Party(name="Late"), issue_date=day(LAST_DAY), lines=[item(eur(100))]
    )
    error = await fails(
        finance.stub.CreateInvoice(request, metadata=tenant.token), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert bad_fields(error) == {"issue_date"}  # 30 days of payment terms do not fit
    listed = await finance.stub.ListInvoices(pb.ListInvoicesRequest(), metadata=tenant.token)
    assert list(listed.invoices) == []


async def test_nul_bytes_in_ids_and_keys_are_client_errors(auth: Auth, finance: Finance) -> None:
    tenant = await new_tenant(auth)
    roles = await accounts_by_role(finance, tenant)
    entry = pb.CreateJournalEntryRequest(
        date=day(date(2026, 3, 1)),
        lines=[
            fpb.JournalLine(account_id="bad\x00id", debit=eur(100)),
            fpb.JournalLine(account_id=roles["bank"].id, credit=eur(100)),
        ],
    )
    error = await fails(
        finance.stub.CreateJournalEntry(entry, metadata=tenant.token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"lines[0].account_id"}
    keyed = pb.CreateInvoiceRequest(
        party=fpb.Party(name="Keyed"), lines=[item(eur(100))], idempotency_key="k\x00"
    )
    error = await fails(
        finance.stub.CreateInvoice(keyed, metadata=tenant.token), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert bad_fields(error) == {"idempotency_key"}
    listed = await finance.stub.ListJournalEntries(
        pb.ListJournalEntriesRequest(account_id="x\x00"), metadata=tenant.token
    )
    assert list(listed.entries) == []
    balance = await trial_balance(finance, tenant)
    assert balance.total_debit_minor == balance.total_credit_minor == 0


async def test_amounts_beyond_the_books_are_refused_by_field(auth: Auth, finance: Finance) -> None:
    """A huge foreign amount at a large rate exceeds what a ledger line may hold in the
    company currency: refused on the line, not an overflow."""
    tenant = await new_tenant(auth)
    roles = await accounts_by_role(finance, tenant)
    await set_rate(finance, tenant, "USD", date(2026, 1, 1), "16000")
    entry = pb.CreateJournalEntryRequest(
        date=day(date(2026, 3, 1)),
        lines=[
            fpb.JournalLine(account_id=roles["bank"].id, debit=money("USD", 10**15)),
            fpb.JournalLine(account_id=roles["sales"].id, credit=money("USD", 10**15)),
        ],
    )
    error = await fails(
        finance.stub.CreateJournalEntry(entry, metadata=tenant.token),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"lines[0]"}
    balance = await trial_balance(finance, tenant)
    assert balance.total_debit_minor == 0


async def test_changing_only_a_drafts_currency_keeps_its_lines(
    auth: Auth, finance: Finance
) -> None:
    tenant = await new_tenant(auth)
    made = await draft(finance, tenant, item(eur(2500), quantity="2"))
    changed = await finance.stub.UpdateInvoice(
        pb.UpdateInvoiceRequest(
            invoice=fpb.Invoice(id=made.id, currency_code="USD"),
            update_mask=FieldMask(paths=["currency_code"]),
        ),
        metadata=tenant.token,
    )
    invoice = changed.invoice
    assert invoice.currency_code == "USD"
    assert [(line.quantity, line.unit_price) for line in invoice.lines] == [
        ("2", money("USD", 2500))
    ]
    assert invoice.total == money("USD", 5000)
