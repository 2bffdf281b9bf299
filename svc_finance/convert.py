"""Contract messages from rows and plain values, and the enum mappings both ways.
Shared by the servicer parts; no rules here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from erp.common.v1 import money_pb2
from erp.finance.v1 import finance_pb2 as pb
from mesh.dates import to_date_message
from mesh.errors import InvalidArgument
from mesh.timestamps import to_timestamp
from svc_finance.domain.chart import AccountType
from svc_finance.domain.invoices import Kind, State
from svc_finance.domain.ledger import Source
from svc_finance.store import AccountRow, EntryRow, InvoiceRow, LineRow, PaymentRow

E = TypeVar("E")


def money(currency: str, amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount_minor)


def enum_in(mapping: dict[int, E], value: int, field: str, meaning: str) -> E:
    """A contract enum value as the domain's, or INVALID_ARGUMENT naming `meaning`."""
    if value not in mapping:
        raise InvalidArgument.one(field, f"must be {meaning}")
    return mapping[value]


ACCOUNT_TYPE_OF: dict[int, AccountType] = {
    pb.ACCOUNT_TYPE_ASSET: AccountType.ASSET,
    pb.ACCOUNT_TYPE_LIABILITY: AccountType.LIABILITY,
    pb.ACCOUNT_TYPE_EQUITY: AccountType.EQUITY,
    pb.ACCOUNT_TYPE_INCOME: AccountType.INCOME,
    pb.ACCOUNT_TYPE_EXPENSE: AccountType.EXPENSE,
}
ACCOUNT_TYPE_TO = {v.value: k for k, v in ACCOUNT_TYPE_OF.items()}


def account(row: AccountRow) -> pb.Account:
    return pb.Account(
        id=row.id,
        code=row.code,
        name=row.name,
        type=ACCOUNT_TYPE_TO[row.type],  # type: ignore[arg-type]
        parent_id=row.parent_id,
        role=row.role,
        description=row.description,
        archived=row.archived,
        used=row.used,
        create_time=to_timestamp(row.created_at),
    )


SOURCE_TO: dict[str, int] = {
    Source.MANUAL.value: pb.ENTRY_SOURCE_MANUAL,
    Source.INVOICE.value: pb.ENTRY_SOURCE_INVOICE,
    Source.PAYMENT.value: pb.ENTRY_SOURCE_PAYMENT,
    Source.REVERSAL.value: pb.ENTRY_SOURCE_REVERSAL,
    Source.REVALUATION.value: pb.ENTRY_SOURCE_REVALUATION,
    Source.YEAR_END_CLOSE.value: pb.ENTRY_SOURCE_YEAR_END_CLOSE,
}
SOURCE_OF: dict[int, Source] = {v: Source(k) for k, v in SOURCE_TO.items()}


def entry(row: EntryRow, lines: Sequence[LineRow], reversed_by: str = "") -> pb.JournalEntry:
    return pb.JournalEntry(
        id=row.id,
        number=row.number,
        date=to_date_message(row.date),
        memo=row.memo,
        lines=[journal_line(line) for line in lines],
        source=SOURCE_TO[row.source],  # type: ignore[arg-type]
        source_id=row.source_id,
        reverses_entry_id=row.reverses_id or "",
        reversed_by_entry_id=reversed_by,
        sequence=row.seq,
        hash=row.hash,
        previous_hash=row.prev_hash,
        posted_by=row.posted_by,
        post_time=to_timestamp(row.posted_at),
        total_minor=row.total_minor,
    )


def journal_line(line: LineRow) -> pb.JournalLine:
    out = pb.JournalLine(
        account_id=line.account_id,
        description=line.description,
        company_debit_minor=line.company_debit_minor,
        company_credit_minor=line.company_credit_minor,
        exchange_rate=line.rate,
    )
    if line.debit_minor or line.company_debit_minor:
        out.debit.CopyFrom(money(line.currency, line.debit_minor))
    if line.credit_minor or line.company_credit_minor:
        out.credit.CopyFrom(money(line.currency, line.credit_minor))
    return out


KIND_OF: dict[int, Kind] = {
    pb.INVOICE_KIND_CUSTOMER_INVOICE: Kind.INVOICE,
    pb.INVOICE_KIND_VENDOR_BILL: Kind.BILL,
}
KIND_TO = {v.value: k for k, v in KIND_OF.items()}
STATE_OF: dict[int, State] = {
    pb.INVOICE_STATE_DRAFT: State.DRAFT,
    pb.INVOICE_STATE_POSTED: State.POSTED,
    pb.INVOICE_STATE_PARTIALLY_PAID: State.PARTIALLY_PAID,
    pb.INVOICE_STATE_PAID: State.PAID,
    pb.INVOICE_STATE_CANCELLED: State.CANCELLED,
}
STATE_TO = {v.value: k for k, v in STATE_OF.items()}
DIRECTION_OF: dict[int, str] = {
    pb.PAYMENT_DIRECTION_INCOMING: "incoming",
    pb.PAYMENT_DIRECTION_OUTGOING: "outgoing",
}
DIRECTION_TO = {v: k for k, v in DIRECTION_OF.items()}


def party(values: Mapping[str, str]) -> pb.Party:
    return pb.Party(
        name=values.get("name", ""),
        email=values.get("email", ""),
        crm_company_id=values.get("crm_company_id", ""),
        crm_contact_id=values.get("crm_contact_id", ""),
        tax_id=values.get("tax_id", ""),
    )


def party_values(message: pb.Party) -> dict[str, str]:
    return {
        "name": message.name.strip(),
        "email": message.email.strip().lower(),
        "crm_company_id": message.crm_company_id,
        "crm_contact_id": message.crm_contact_id,
        "tax_id": message.tax_id.strip(),
    }


def invoice_line(values: Mapping[str, Any], currency: str) -> pb.InvoiceLine:
    return pb.InvoiceLine(
        description=values["description"],
        quantity=values["quantity"],
        unit_price=money(currency, values["unit_price_minor"]),
        discount_bps=values["discount_bps"],
        tax_rate_bps=values["tax_rate_bps"],
        account_id=values["account_id"],
        net=money(currency, values["net_minor"]),
        tax=money(currency, values["tax_minor"]),
        total=money(currency, values["net_minor"] + values["tax_minor"]),
    )


def invoice(row: InvoiceRow) -> pb.Invoice:
    cur = row.currency
    return pb.Invoice(
        id=row.id,
        kind=KIND_TO[row.kind],  # type: ignore[arg-type]
        number=row.number or "",
        state=STATE_TO[row.state],  # type: ignore[arg-type]
        party=party(row.party),
        issue_date=to_date_message(row.issue_date),
        due_date=to_date_message(row.due_date),
        currency_code=cur,
        lines=[invoice_line(values, cur) for values in row.lines],
        subtotal=money(cur, row.subtotal_minor),
        tax_total=money(cur, row.tax_minor),
        total=money(cur, row.total_minor),
        amount_paid=money(cur, row.paid_minor),
        amount_due=money(cur, row.total_minor - row.paid_minor),
        exchange_rate=row.rate,
        company_total_minor=row.company_total_minor,
        entry_id=row.entry_id,
        cancel_entry_id=row.cancel_entry_id,
        opportunity_id=row.opportunity_id or "",
        memo=row.memo,
        create_time=to_timestamp(row.created_at),
        update_time=to_timestamp(row.updated_at),
        post_time=to_timestamp(row.posted_at),
    )


def payment(row: PaymentRow) -> pb.Payment:
    return pb.Payment(
        id=row.id,
        number=row.number,
        direction=DIRECTION_TO[row.direction],  # type: ignore[arg-type]
        party=party(row.party),
        date=to_date_message(row.date),
        amount=money(row.currency, row.amount_minor),
        bank_account_id=row.bank_account_id,
        reference=row.reference,
        memo=row.memo,
        exchange_rate=row.rate,
        company_amount_minor=row.company_amount_minor,
        allocations=[
            pb.Allocation(
                invoice_id=a["invoice_id"],
                amount=money(a["currency"], a["amount_minor"]),
                applied=money(row.currency, a["applied_minor"]),
                exchange_difference_minor=a["difference_minor"],
            )
            for a in row.allocations
        ],
        unallocated=money(row.currency, row.unallocated_minor),
        entry_ids=row.entry_ids,
        reconciled=row.reconciled,
        create_time=to_timestamp(row.created_at),
    )
