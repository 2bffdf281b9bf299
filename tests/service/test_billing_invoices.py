"""Invoices: paged newest first, private to their tenant, numbered without gaps
across tenants, and credits carried to the next invoice."""

from __future__ import annotations

import re
from datetime import timedelta

import grpc
from auth_client import bad_fields, fails  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from billing_client import (  # type: ignore[import-not-found]
    Tenant,
    activate,
    change_plan,
    clock_kept,
    error_info,
    invoices_of,
    move_clock_to,
    new_tenant,
)
from billing_harness import Billing  # type: ignore[import-not-found]

from erp.billing.v1 import billing_pb2
from erp.billing.v1 import billing_service_pb2 as bpb
from erp.common.v1 import paging_pb2

NUMBER = re.compile(r"^ERP-(\d{6,})$")


def number_of(invoice: billing_pb2.Invoice) -> int:
    found = NUMBER.match(invoice.number)
    assert found, invoice.number
    return int(found.group(1))


async def pages(billing: Billing, tenant: Tenant, size: int) -> list[list[str]]:
    """Invoice ids page by page, following the page tokens."""
    found: list[list[str]] = []
    token = ""
    while True:
        answer = await billing.stub.ListInvoices(
            bpb.ListInvoicesRequest(page=paging_pb2.PageRequest(page_size=size, page_token=token)),
            metadata=tenant.token,
        )
        found.append([i.invoice_id for i in answer.invoices])
        token = answer.page.next_page_token
        if not token:
            return found


async def test_numbers_pages_and_tenancy(auth: Auth, billing: Billing) -> None:
    first = await new_tenant(auth, billing)
    second = await new_tenant(auth, billing)
    await change_plan(billing, first, "starter")
    await change_plan(billing, second, "starter")
    issued: list[billing_pb2.Invoice] = []  # in issue order, both tenants

    with clock_kept(billing):
        opened = await activate(billing, first, second)
        issued += [opened[first.tenant_id], opened[second.tenant_id]]
        for step, (tenant, plan) in enumerate(
            [(first, "business"), (second, "business"), (first, "starter"), (first, "business")]
        ):
            move_clock_to(billing, billing.clock.now + timedelta(days=1 + step))
            answer = await change_plan(billing, tenant, plan)
            assert answer.HasField("invoice")
            issued.append(answer.invoice)

    numbers = [number_of(i) for i in issued]
    assert numbers == list(range(numbers[0], numbers[0] + len(issued)))  # no gaps, in order
    assert len({i.invoice_id for i in issued}) == len(issued)

    mine = [i for i in issued if i.tenant_id == first.tenant_id]
    newest_first = [i.invoice_id for i in reversed(mine)]
    assert await pages(billing, first, 2) == [newest_first[:2], newest_first[2:]]
    assert await pages(billing, first, 3) == [newest_first[:3], newest_first[3:]]
    assert [i.invoice_id for i in await invoices_of(billing, first)] == newest_first
    assert [i.reason for i in await invoices_of(billing, first)] == [
        "proration",
        "proration",
        "proration",
        "trial_end",
    ]

    # The downgrade's credit is not collected: it is paid from the account balance,
    # and the next upgrade takes it off.
    down, up = mine[2], mine[3]
    assert down.total.amount_minor < 0
    assert down.status == billing_pb2.INVOICE_STATUS_PAID
    assert down.payment_reference == "credited to the account balance"
    credit = -down.total.amount_minor
    assert up.amount_paid.amount_minor == min(credit, up.total.amount_minor)
    if credit >= up.total.amount_minor:
        assert up.status == billing_pb2.INVOICE_STATUS_PAID
        assert up.payment_reference == "account credit"

    opened_only = await billing.stub.ListInvoices(
        bpb.ListInvoicesRequest(status=billing_pb2.INVOICE_STATUS_OPEN), metadata=first.token
    )
    assert [i.invoice_id for i in opened_only.invoices] == [
        i.invoice_id for i in reversed(mine) if i.status == billing_pb2.INVOICE_STATUS_OPEN
    ]

    theirs = issued[1]  # the second tenant's trial_end invoice
    got = await billing.stub.GetInvoice(
        bpb.GetInvoiceRequest(invoice_id=theirs.invoice_id), metadata=second.token
    )
    assert got.invoice.number == theirs.number
    error = await fails(
        billing.stub.GetInvoice(
            bpb.GetInvoiceRequest(invoice_id=theirs.invoice_id), metadata=first.token
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert error_info(error).reason == "NOT_FOUND"
    assert theirs.number not in (error.details() or "")
    await fails(
        billing.stub.PayInvoice(
            bpb.PayInvoiceRequest(invoice_id=theirs.invoice_id), metadata=first.token
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_list_invoices_input(auth: Auth, billing: Billing) -> None:
    tenant = await new_tenant(auth, billing)
    error = await fails(
        billing.stub.ListInvoices(
            bpb.ListInvoicesRequest(page=paging_pb2.PageRequest(page_token="not-a-token")),
            metadata=tenant.token,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"page.page_token"}
    error = await fails(
        billing.stub.ListInvoices(bpb.ListInvoicesRequest(status=42), metadata=tenant.token),  # type: ignore[arg-type]
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_fields(error) == {"status"}
    error = await fails(
        billing.stub.GetInvoice(
            bpb.GetInvoiceRequest(invoice_id="01a00000-0000-7000-8000-000000000000"),
            metadata=tenant.token,
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert error_info(error).reason == "NOT_FOUND"
