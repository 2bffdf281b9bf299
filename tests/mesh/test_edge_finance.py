"""svc_finance through the real edge, on both backends: every RPC of
erp.finance.v1.FinanceService as REST (its google.api.http rule) and as gRPC on the
same port, bad input as 400 / INVALID_ARGUMENT naming the field or as 400 /
FAILED_PRECONDITION with its reason, with nothing written; another tenant's ids as
404; and the REST surface the issue names (the chart, entries, invoices and their
posting, payments, the three reports with their query dates, verifying the ledger,
a bank statement as base64 in JSON).

The table of happy calls lives in finance_calls.py (a test fails when the contract
gains an RPC the table lacks); bad input and cross-tenant calls are below.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from edge_calls import (  # type: ignore[import-not-found]
    NONEMPTY,
    Request,
    Tenant,
    assert_like,
    day,
    error_info,
    mask,
    unique,
    violated_fields,
)
from finance_calls import (  # type: ignore[import-not-found]
    CURRENCY,
    FINANCE,
    HAPPY,
    INCOMING,
    ON,
    World,
    amount,
    cr,
    csv,
    date_json,
    dr,
    every_rpc,
    item,
    money,
    path_variables,
    report_line,
    rest_form,
    route,
)
from real_mesh import RunningMesh, eventually, grpcurl  # type: ignore[import-not-found]

from erp.finance.v1 import finance_pb2 as fpb
from erp.finance.v1 import finance_service_pb2 as pb

pytestmark = pytest.mark.mesh

RPCS = sorted(every_rpc())
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture(scope="module")
def world(running_mesh: RunningMesh) -> Iterator[Any]:
    """Two tenants on this backend's mesh, and a gRPC channel to the edge port."""
    channel = grpc.insecure_channel(f"127.0.0.1:{running_mesh.edge_port}")
    try:
        yield World(running_mesh, channel)
    finally:
        channel.close()


def _json(reply: Any) -> None:
    assert reply.content_type.startswith("application/json"), reply


# ---- every RPC, both ways ------------------------------------------------------------------


def test_every_rpc_has_a_rest_route_and_a_happy_call() -> None:
    assert len(RPCS) == 37, RPCS
    assert set(HAPPY) == every_rpc(), "each RPC of FinanceService needs its row in HAPPY"
    assert all(route(rpc).template.startswith("/v1/finance/") for rpc in RPCS)
    assert not any(FINANCE.client_streaming(rpc) for rpc in RPCS)


@pytest.mark.parametrize("rpc", RPCS)
def test_rest_happy_path(world: Any, rpc: str) -> None:
    call = HAPPY[rpc](world)
    reply = world.rest(rpc, call.request, call.as_ or world.a)
    assert reply.status == 200, (rest_form(rpc, call.request), reply)
    _json(reply)
    assert_like(reply.body, call.expect, f"REST {rpc}")
    if call.also:
        call.also(reply.body)


@pytest.mark.parametrize("rpc", RPCS)
def test_grpc_happy_path(world: Any, rpc: str) -> None:
    call = HAPPY[rpc](world)
    answer = world.grpc(rpc, call.request, call.as_ or world.a)
    assert answer.code is grpc.StatusCode.OK, (rpc, answer)
    assert_like(answer.body, call.expect, f"gRPC {rpc}")
    if call.also:
        call.also(answer.body)


# ---- what a tenant's books hold, to show that a refused call wrote nothing -----------------


def snapshot(world: Any, t: Tenant) -> dict[str, Any]:
    paths = {
        "trial balance": "/v1/finance/reports/trial-balance?as_of=2030-12-31",
        "entries": "/v1/finance/journal-entries?page_size=500",
        "invoices": "/v1/finance/invoices?page_size=500",
        "payments": "/v1/finance/payments?page_size=500",
        "accounts": "/v1/finance/accounts?page_size=500&include_archived=true",
        "rates": "/v1/finance/exchange-rates?page_size=500",
        "periods": "/v1/finance/periods?fiscal_year=2026",
        "settings": "/v1/finance/settings",
    }
    found = {name: world.get(path, t) for name, path in paths.items()}
    verified = world.mesh.call("POST", "/v1/finance/ledger:verify", {}, token=t.token)
    assert verified.status == 200 and verified.body["valid"] is True, verified
    found["ledger"] = verified.body
    return found


def assert_unchanged(world: Any, t: Tenant, before: dict[str, Any], what: str) -> None:
    after = snapshot(world, t)
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, f"{what} changed {changed}: {json.dumps(after)}"


# ---- bad input -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def books(world: Any) -> Tenant:
    """A tenant of its own for refused calls: capital paid in, January 2026 closed,
    no exchange rates."""
    t: Tenant = world.fresh("Checks")
    world.move(ON, "1100", "3100", 100_000, as_=t)
    world.close("2026-01", as_=t)
    return t


@dataclass(frozen=True)
class Bad:
    label: str
    rpc: str
    build: Callable[[Any, Tenant], Request]
    field: str = ""  # the field the answer's BadRequest must name (INVALID_ARGUMENT)
    reason: str = ""  # else the ErrorInfo reason (FAILED_PRECONDITION)


def _entry(
    w: Any, t: Tenant, *lines: fpb.JournalLine, on: str = ON
) -> pb.CreateJournalEntryRequest:
    return pb.CreateJournalEntryRequest(date=day(on), lines=list(lines))


def _bank(w: Any, t: Tenant) -> str:
    return str(w.id_of("1100", t))


def _capital(w: Any, t: Tenant) -> str:
    return str(w.id_of("3100", t))


def _invoice(*lines: fpb.InvoiceLine, **fields: Any) -> pb.CreateInvoiceRequest:
    fields.setdefault("party", fpb.Party(name="Globex"))
    fields.setdefault("issue_date", day(ON))
    return pb.CreateInvoiceRequest(lines=list(lines) or [item(1_000)], **fields)


def _pay(
    amount_minor: int, currency: str = CURRENCY, on: str = ON, **fields: Any
) -> pb.CreatePaymentRequest:
    fields.setdefault("direction", INCOMING)
    return pb.CreatePaymentRequest(
        party=fpb.Party(name="Globex"), date=day(on), amount=money(amount_minor, currency), **fields
    )


def _post_draft(on: str = ON, currency: str = "") -> Callable[[Any, Tenant], Request]:
    def build(w: Any, t: Tenant) -> Request:
        made = w.draft(item(1_000, currency=currency or CURRENCY), on=on, currency=currency, as_=t)
        return pb.PostInvoiceRequest(id=made["id"])

    return build


def _over_allocate(w: Any, t: Tenant) -> Request:
    invoice = w.posted(item(5_000), as_=t)
    allocation = fpb.Allocation(invoice_id=invoice["id"], amount=money(6_000))
    return _pay(6_000, allocations=[allocation])


def _reverse_an_invoices_entry(w: Any, t: Tenant) -> Request:
    return pb.ReverseJournalEntryRequest(id=w.posted(as_=t)["entry_id"])


def _delete_a_used_account(w: Any, t: Tenant) -> Request:
    made = w.account(as_=t)
    w.entry(ON, dr(made["id"], 100), cr(_bank(w, t), 100), as_=t)
    return pb.DeleteAccountRequest(id=made["id"])


BAD = [
    # the ledger
    Bad(
        "unbalanced entry",
        "CreateJournalEntry",
        lambda w, t: _entry(w, t, dr(_bank(w, t), 1_000), cr(_capital(w, t), 999)),
        field="lines",
    ),
    Bad(
        "entry of one line",
        "CreateJournalEntry",
        lambda w, t: _entry(w, t, dr(_bank(w, t), 1_000)),
        field="lines",
    ),
    Bad(
        "entry without a date",
        "CreateJournalEntry",
        lambda w, t: pb.CreateJournalEntryRequest(
            lines=[dr(_bank(w, t), 1), cr(_capital(w, t), 1)]
        ),
        field="date",
    ),
    Bad(
        "entry line with a debit and a credit",
        "CreateJournalEntry",
        lambda w, t: _entry(
            w,
            t,
            fpb.JournalLine(account_id=_bank(w, t), debit=money(5), credit=money(5)),
            cr(_capital(w, t), 5),
        ),
        field="lines[0]",
    ),
    Bad(
        "entry line without an account",
        "CreateJournalEntry",
        lambda w, t: _entry(w, t, fpb.JournalLine(debit=money(5)), cr(_capital(w, t), 5)),
        field="lines[0].account_id",
    ),
    Bad(
        "entry into a closed period",
        "CreateJournalEntry",
        lambda w, t: _entry(w, t, dr(_bank(w, t), 100), cr(_capital(w, t), 100), on="2026-01-15"),
        reason="PERIOD_CLOSED",
    ),
    Bad(
        "entry in a currency without a rate",
        "CreateJournalEntry",
        lambda w, t: _entry(w, t, dr(_bank(w, t), 100, "GBP"), cr(_capital(w, t), 127)),
        reason="NO_EXCHANGE_RATE",
    ),
    Bad(
        "reversing an invoice's entry",
        "ReverseJournalEntry",
        _reverse_an_invoices_entry,
        reason="NOT_REVERSIBLE",
    ),
    Bad("deleting a used account", "DeleteAccount", _delete_a_used_account, reason="ACCOUNT_USED"),
    Bad(
        "account with a bad code",
        "CreateAccount",
        lambda w, t: pb.CreateAccountRequest(
            code="no spaces", name="X", type=fpb.ACCOUNT_TYPE_ASSET
        ),
        field="code",
    ),
    Bad(
        "company currency once the books started",
        "UpdateFinanceSettings",
        lambda w, t: pb.UpdateFinanceSettingsRequest(
            settings=fpb.FinanceSettings(company_currency="EUR"),
            update_mask=mask("company_currency"),
        ),
        reason="BOOKS_STARTED",
    ),
    Bad(
        "a month that does not exist",
        "ClosePeriod",
        lambda w, t: pb.ClosePeriodRequest(id="2026-13"),
        field="id",
    ),
    # invoices
    Bad(
        "invoice with a negative quantity",
        "CreateInvoice",
        lambda w, t: _invoice(item(1_000, "-2")),
        field="lines[0].quantity",
    ),
    Bad(
        "invoice without a customer name",
        "CreateInvoice",
        lambda w, t: _invoice(party=fpb.Party(email="a@example.com")),
        field="party.name",
    ),
    Bad(
        "invoice due before it is issued",
        "CreateInvoice",
        lambda w, t: _invoice(due_date=day("2026-03-01")),
        field="due_date",
    ),
    Bad(
        "invoice line priced in another currency",
        "CreateInvoice",
        lambda w, t: _invoice(item(1_000, currency="EUR")),
        field="lines[0].unit_price.currency_code",
    ),
    Bad(
        "posting an invoice into a closed period",
        "PostInvoice",
        _post_draft(on="2026-01-15"),
        reason="PERIOD_CLOSED",
    ),
    Bad(
        "posting an invoice in a currency without a rate",
        "PostInvoice",
        _post_draft(currency="GBP"),
        reason="NO_EXCHANGE_RATE",
    ),
    # payments
    Bad(
        "payment without a direction",
        "CreatePayment",
        lambda w, t: _pay(1_000, direction=fpb.PAYMENT_DIRECTION_UNSPECIFIED),
        field="direction",
    ),
    Bad("payment of nothing", "CreatePayment", lambda w, t: _pay(0), field="amount.amount_minor"),
    Bad(
        "payment in a currency without a rate",
        "CreatePayment",
        lambda w, t: _pay(1_000, "GBP"),
        reason="NO_EXCHANGE_RATE",
    ),
    Bad(
        "payment into a closed period",
        "CreatePayment",
        lambda w, t: _pay(1_000, on="2026-01-20"),
        reason="PERIOD_CLOSED",
    ),
    Bad(
        "allocation above the amount due",
        "CreatePayment",
        _over_allocate,
        field="allocations[0].amount.amount_minor",
    ),
    # rates, reports, statements
    Bad(
        "a rate for the company currency",
        "SetExchangeRates",
        lambda w, t: pb.SetExchangeRatesRequest(
            rates=[fpb.ExchangeRate(currency_code=CURRENCY, date=day(ON), rate="1")]
        ),
        field="rates[0].currency_code",
    ),
    Bad(
        "a rate that is not a number",
        "SetExchangeRates",
        lambda w, t: pb.SetExchangeRatesRequest(
            rates=[fpb.ExchangeRate(currency_code="EUR", date=day(ON), rate="one")]
        ),
        field="rates[0].rate",
    ),
    Bad(
        "trial balance as of the 13th month",
        "GetTrialBalance",
        lambda w, t: pb.GetTrialBalanceRequest(as_of="2026-13-01"),
        field="as_of",
    ),
    Bad(
        "income statement ending before it starts",
        "GetIncomeStatement",
        lambda w, t: pb.GetIncomeStatementRequest(from_date="2026-12-01", to_date="2026-01-31"),
        field="to_date",
    ),
    Bad(
        "a statement that is not a CSV",
        "ImportBankStatement",
        lambda w, t: pb.ImportBankStatementRequest(
            format=fpb.STATEMENT_FORMAT_CSV, content=b"garbage\n1,2\n"
        ),
        field="content",
    ),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.label for b in BAD])
def test_rest_bad_input_is_400_and_writes_nothing(world: Any, books: Tenant, bad: Bad) -> None:
    request = bad.build(world, books)
    before = snapshot(world, books)
    reply = world.rest(bad.rpc, request, books)
    assert reply.status == 400, (rest_form(bad.rpc, request), reply)
    _json(reply)
    if bad.field:
        assert reply.body["code"] == INVALID_ARGUMENT.value[0], reply
        assert bad.field in violated_fields(reply.body), reply
    else:
        # FAILED_PRECONDITION: the edge answers 400 too, the reason tells them apart.
        assert reply.body["code"] == FAILED_PRECONDITION.value[0], reply
        assert error_info(reply.body)["reason"] == bad.reason, reply
    assert_unchanged(world, books, before, bad.label)


@pytest.mark.parametrize("bad", BAD, ids=[b.label for b in BAD])
def test_grpc_bad_input_is_refused_and_writes_nothing(world: Any, books: Tenant, bad: Bad) -> None:
    request = bad.build(world, books)
    before = snapshot(world, books)
    answer = world.grpc(bad.rpc, request, books)
    if bad.field:
        assert answer.code is INVALID_ARGUMENT, answer
        assert bad.field in violated_fields(answer.body), answer
    else:
        assert answer.code is FAILED_PRECONDITION, answer
        assert error_info(answer.body)["reason"] == bad.reason, answer
    assert_unchanged(world, books, before, bad.label)


def test_rest_amount_with_a_fraction_of_a_minor_unit_is_400_from_the_transcoder(
    world: Any, books: Tenant
) -> None:
    """`10.5` minor units cannot be an int64: the transcoder refuses the JSON before
    the service sees it, naming the field. (gRPC cannot say 10.5 in an int64 at all.)"""
    bank, capital = world.id_of("1100", books), world.id_of("3100", books)
    paid = world.payment(1_000, as_=books)
    half = {"currency_code": CURRENCY, "amount_minor": 10.5}
    entry = {
        "date": date_json(ON),
        "lines": [
            {"account_id": bank, "debit": half},
            {"account_id": capital, "credit": {"currency_code": CURRENCY, "amount_minor": 10}},
        ],
    }
    invoice = {
        "party": {"name": "Globex"},
        "lines": [{"description": "X", "quantity": "1", "unit_price": half}],
    }
    payment = {"direction": "PAYMENT_DIRECTION_INCOMING", "party": {"name": "G"}, "amount": half}
    as_text = payment | {"amount": {"currency_code": CURRENCY, "amount_minor": "10.5"}}
    allocate = {"allocations": [{"invoice_id": "x", "amount": half}]}
    calls: list[tuple[str, dict[str, Any], str]] = [
        ("/v1/finance/journal-entries", entry, "lines[0].debit.amount_minor"),
        ("/v1/finance/invoices", invoice, "lines[0].unit_price.amount_minor"),
        ("/v1/finance/payments", payment, "amount.amount_minor"),
        ("/v1/finance/payments", as_text, "amount.amount_minor"),
        (f"/v1/finance/payments/{paid['id']}:allocate", allocate, "allocations[0].amount."),
    ]
    before = snapshot(world, books)
    for path, body, field in calls:
        reply = world.mesh.call("POST", path, body, token=books.token)
        assert reply.status == 400, (path, body, reply)
        _json(reply)
        assert reply.body["code"] == INVALID_ARGUMENT.value[0], reply
        # The transcoder's own answer: the field path first, no service details.
        assert reply.body["message"].startswith(field), (path, field, reply)
        assert not reply.body.get("details"), reply
    assert_unchanged(world, books, before, "fractions of a cent")


def test_rest_unknown_query_parameter_or_bad_date_is_400(world: Any, books: Tenant) -> None:
    report = "/v1/finance/reports"
    cases: list[tuple[str, set[str]]] = [
        (f"{report}/trial-balance?as_of=2026-13-01", {"as_of"}),
        (f"{report}/trial-balance?as_of=2026-12-31&compare_as_of=31.12.2026", {"compare_as_of"}),
        (f"{report}/balance-sheet?as_of=2026-02-30", {"as_of"}),
        (f"{report}/income-statement?from=2026-13-01&to=2026-12-31", {"from", "from_date"}),
        (f"{report}/income-statement?to=2026-12-31", {"from", "from_date"}),
        ("/v1/finance/journal-entries?from=2026-02-30", {"from", "from_date"}),
    ]
    before = snapshot(world, books)
    for path, fields in cases:
        reply = world.mesh.call("GET", path, token=books.token)
        assert reply.status == 400, (path, reply)
        _json(reply)
        assert reply.body["code"] == INVALID_ARGUMENT.value[0], reply
        assert violated_fields(reply.body) & fields, (path, fields, reply)
    unknown = [  # refused by the transcoder, which names what it cannot place
        (f"{report}/trial-balance?as_of=2026-12-31&colour=red", "colour"),
        (f"{report}/income-statement?from=2026-01-01&to=2026-12-31&until=2027-01", "until"),
        ("/v1/finance/accounts?colour=red", "colour"),
        ("/v1/finance/invoices?state=INVOICE_STATE_WHATEVER", "INVOICE_STATE_WHATEVER"),
    ]
    for path, named in unknown:
        reply = world.mesh.call("GET", path, token=books.token)
        assert reply.status == 400, (path, reply)
        _json(reply)
        assert reply.body["code"] == INVALID_ARGUMENT.value[0], reply
        assert named in reply.body["message"], (path, reply)
    assert_unchanged(world, books, before, "bad queries")


# ---- another tenant's ids -------------------------------------------------------------------


@dataclass(frozen=True)
class Records:
    """One of each kind of record of a tenant, each in the state in which a call that
    wrongly reached it would succeed and change it."""

    account: str  # unused, no role: could be renamed, archived, deleted
    entry: str  # manual: could be reversed
    draft: str  # could be changed, posted, cancelled
    invoice: str  # posted, open
    payment: str  # with credit left to allocate
    statement: str
    line: str  # suggested for `payment`: could be confirmed or dropped


def records_of(w: Any, t: Tenant) -> Records:
    paid, imported = w.paid_and_matched(t)
    line = imported["lines"][0]
    assert (line["state"], line["payment_id"]) == ("MATCH_STATE_SUGGESTED", paid["id"])
    return Records(
        account=w.account(as_=t)["id"],
        entry=w.move(ON, "1100", "3100", 10_000, as_=t)["id"],
        draft=w.draft(as_=t)["id"],
        invoice=w.posted(item(20_000), as_=t)["id"],
        payment=paid["id"],
        statement=imported["statement"]["id"],
        line=line["id"],
    )


@dataclass(frozen=True)
class Theirs:
    records: Records
    view: dict[str, Any]  # B's books as B sees them, after making the records


@pytest.fixture(scope="module")
def mine(world: Any) -> Records:
    return records_of(world, world.a)


@pytest.fixture(scope="module")
def theirs(world: Any) -> Theirs:
    records = records_of(world, world.b)
    return Theirs(records, snapshot(world, world.b))


@dataclass(frozen=True)
class Cross:
    label: str
    rpc: str
    build: Callable[[Records, Records], Request]  # (theirs, mine)


CROSS = [
    Cross("get their account", "GetAccount", lambda t, m: pb.GetAccountRequest(id=t.account)),
    Cross(
        "rename their account",
        "UpdateAccount",
        lambda t, m: pb.UpdateAccountRequest(
            account=fpb.Account(id=t.account, name="Hijacked"), update_mask=mask("name")
        ),
    ),
    Cross(
        "archive their account",
        "ArchiveAccount",
        lambda t, m: pb.ArchiveAccountRequest(id=t.account),
    ),
    Cross(
        "delete their account", "DeleteAccount", lambda t, m: pb.DeleteAccountRequest(id=t.account)
    ),
    Cross("get their entry", "GetJournalEntry", lambda t, m: pb.GetJournalEntryRequest(id=t.entry)),
    Cross(
        "reverse their entry",
        "ReverseJournalEntry",
        lambda t, m: pb.ReverseJournalEntryRequest(id=t.entry, date=day(ON)),
    ),
    Cross("get their invoice", "GetInvoice", lambda t, m: pb.GetInvoiceRequest(id=t.invoice)),
    Cross(
        "change their draft",
        "UpdateInvoice",
        lambda t, m: pb.UpdateInvoiceRequest(
            invoice=fpb.Invoice(id=t.draft, memo="Hijacked"), update_mask=mask("memo")
        ),
    ),
    Cross("post their draft", "PostInvoice", lambda t, m: pb.PostInvoiceRequest(id=t.draft)),
    Cross(
        "cancel their invoice",
        "CancelInvoice",
        lambda t, m: pb.CancelInvoiceRequest(id=t.invoice, reason="Hijacked"),
    ),
    Cross("get their payment", "GetPayment", lambda t, m: pb.GetPaymentRequest(id=t.payment)),
    Cross(
        "allocate their payment to our invoice",
        "AllocatePayment",
        lambda t, m: pb.AllocatePaymentRequest(
            id=t.payment, allocations=[fpb.Allocation(invoice_id=m.invoice, amount=money(1_000))]
        ),
    ),
    Cross(
        "list their statement's lines",
        "ListStatementLines",
        lambda t, m: pb.ListStatementLinesRequest(statement_id=t.statement),
    ),
    Cross(
        "confirm their line",
        "MatchStatementLine",
        lambda t, m: pb.MatchStatementLineRequest(id=t.line),
    ),
    Cross(
        "match our line to their payment",
        "MatchStatementLine",
        lambda t, m: pb.MatchStatementLineRequest(id=m.line, payment_id=t.payment),
    ),
    Cross(
        "unmatch their line",
        "UnmatchStatementLine",
        lambda t, m: pb.UnmatchStatementLineRequest(id=t.line),
    ),
]
# Their `id` is a month ("2026-03") or a year of the caller's own books.
OWN_PERIODS = {"ClosePeriod", "ReopenPeriod", "CloseFiscalYear"}


def test_every_id_taking_rpc_has_a_cross_tenant_call() -> None:
    in_path = {rpc for rpc in RPCS if path_variables(rpc)}
    assert OWN_PERIODS <= in_path
    assert in_path - OWN_PERIODS == {c.rpc for c in CROSS}


@pytest.mark.parametrize("cross", CROSS, ids=[c.label for c in CROSS])
def test_rest_other_tenants_id_is_404(
    world: Any, theirs: Theirs, mine: Records, cross: Cross
) -> None:
    request = cross.build(theirs.records, mine)
    reply = world.rest(cross.rpc, request, world.a)
    assert reply.status == 404, (rest_form(cross.rpc, request), reply)
    _json(reply)
    assert reply.body["code"] == grpc.StatusCode.NOT_FOUND.value[0], reply
    assert_unchanged(world, world.b, theirs.view, f"B's books after {cross.label}")


@pytest.mark.parametrize("cross", CROSS, ids=[c.label for c in CROSS])
def test_grpc_other_tenants_id_is_not_found(
    world: Any, theirs: Theirs, mine: Records, cross: Cross
) -> None:
    answer = world.grpc(cross.rpc, cross.build(theirs.records, mine), world.a)
    assert answer.code is grpc.StatusCode.NOT_FOUND, answer
    assert_unchanged(world, world.b, theirs.view, f"B's books after {cross.label}")


# ---- the REST surface the issue names -------------------------------------------------------

DEFAULT_CHART = [
    ("1000", "Assets", "ASSET", "", ""),
    ("1100", "Bank", "ASSET", "1000", "bank"),
    ("1200", "Accounts receivable", "ASSET", "1000", "receivable"),
    ("1300", "Input tax", "ASSET", "1000", "tax_receivable"),
    ("1400", "Advances to vendors", "ASSET", "1000", "vendor_credit"),
    ("2000", "Liabilities", "LIABILITY", "", ""),
    ("2100", "Accounts payable", "LIABILITY", "2000", "payable"),
    ("2200", "Tax payable", "LIABILITY", "2000", "tax_payable"),
    ("2300", "Customer credits", "LIABILITY", "2000", "customer_credit"),
    ("3000", "Equity", "EQUITY", "", ""),
    ("3100", "Share capital", "EQUITY", "3000", ""),
    ("3200", "Retained earnings", "EQUITY", "3000", "retained_earnings"),
    ("4000", "Income", "INCOME", "", ""),
    ("4100", "Sales", "INCOME", "4000", "sales"),
    ("4800", "Exchange gains", "INCOME", "4000", "fx_gain"),
    ("4900", "Unrealised exchange differences", "INCOME", "4000", "fx_unrealised"),
    ("5000", "Expenses", "EXPENSE", "", ""),
    ("5100", "Purchases", "EXPENSE", "5000", "purchases"),
    ("5200", "Operating expenses", "EXPENSE", "5000", ""),
    ("5800", "Exchange losses", "EXPENSE", "5000", "fx_loss"),
]


def test_get_accounts_is_the_default_chart_in_code_order(world: Any) -> None:
    t = world.fresh("Chart")
    reply = world.mesh.call("GET", "/v1/finance/accounts", token=t.token)
    assert reply.status == 200, reply
    _json(reply)
    accounts = reply.body["accounts"]
    ids = {a["code"]: a["id"] for a in accounts}
    expected = [
        {
            "code": code,
            "name": name,
            "type": f"ACCOUNT_TYPE_{kind}",
            "parent_id": ids.get(parent, ""),
            "role": role,
            "archived": False,
            "used": False,
        }
        for code, name, kind, parent, role in DEFAULT_CHART
    ]
    assert_like(reply.body, {"accounts": expected, "next_page_token": ""}, "the chart")

    pages, token, seen = 0, "", []
    while True:
        query = urllib.parse.urlencode({"page_size": 7} | ({"page_token": token} if token else {}))
        page = world.get(f"/v1/finance/accounts?{query}", t)
        pages += 1
        seen += [a["code"] for a in page["accounts"]]
        token = page["next_page_token"]
        if not token:
            break
    assert (pages, seen) == (3, [row[0] for row in DEFAULT_CHART])
    assert world.mesh.call("GET", "/v1/finance/accounts").status == 401


def test_the_books_through_rest(world: Any) -> None:
    """Capital, an invoice posted and paid, then the three reports and the ledger's
    proof, each as the issue's REST call with exact amounts."""
    t = world.fresh("Story")
    token, chart = t.token, world.chart(t)
    bank, capital = chart["1100"]["id"], chart["3100"]["id"]

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = world.mesh.call("POST", path, body, token=token)
        assert reply.status == 200, (path, body, reply)
        _json(reply)
        return dict(reply.body)

    entry = post(
        "/v1/finance/journal-entries",
        {
            "date": date_json("2026-01-05"),
            "memo": "Capital",
            "lines": [
                {"account_id": bank, "debit": {"currency_code": "USD", "amount_minor": 500_000}},
                {
                    "account_id": capital,
                    "credit": {"currency_code": "USD", "amount_minor": "500000"},
                },
            ],
        },
    )["entry"]
    assert_like(entry, {"number": "JE-000001", "total_minor": "500000"}, "entry")

    draft = post(
        "/v1/finance/invoices",
        {
            "party": {"name": "Globex"},
            "issue_date": date_json(ON),
            "lines": [
                {
                    "description": "Consulting",
                    "quantity": "2.5",
                    "unit_price": {"currency_code": "USD", "amount_minor": 10_000},
                    "discount_bps": 1000,
                    "tax_rate_bps": 2000,
                }
            ],
        },
    )["invoice"]
    assert_like(draft, {"state": "INVOICE_STATE_DRAFT", "total": amount(27_000)}, "draft")
    posted = post(f"/v1/finance/invoices/{draft['id']}:post", {})["invoice"]
    expected = {"number": "INV-2026-000001", "state": "INVOICE_STATE_POSTED"}
    assert_like(posted, expected, "posted")

    payment = post(
        "/v1/finance/payments",
        {
            "direction": "PAYMENT_DIRECTION_INCOMING",
            "date": date_json("2026-03-20"),
            "amount": {"currency_code": "USD", "amount_minor": 27_000},
            "allocations": [
                {
                    "invoice_id": draft["id"],
                    "amount": {"currency_code": "USD", "amount_minor": 27_000},
                }
            ],
        },
    )["payment"]
    assert_like(
        payment,
        {"number": "PAY-2026-000001", "party": {"name": "Globex"}, "unallocated": amount(0)},
        "payment",
    )
    paid = world.get(f"/v1/finance/invoices/{draft['id']}", t)["invoice"]
    assert_like(paid, {"state": "INVOICE_STATE_PAID", "amount_due": amount(0)}, "paid")

    def line(code: str, **values: int) -> dict[str, Any]:
        return dict(report_line(world, t, code, **values))

    trial = world.get("/v1/finance/reports/trial-balance?as_of=2026-12-31", t)
    assert_like(
        trial,
        {
            "as_of": "2026-12-31",
            "compare_as_of": "2026-11-30",
            "currency_code": "USD",
            "lines": [
                line("1100", debit=527_000, credit=0, balance=527_000),
                line("1200", debit=27_000, credit=27_000, balance=0),
                line("2200", debit=0, credit=4_500, balance=4_500),
                line("3100", debit=0, credit=500_000, balance=500_000),
                line("4100", debit=0, credit=22_500, balance=22_500),
            ],
            "total_debit_minor": "554000",
            "total_credit_minor": "554000",
        },
        "trial balance",
    )
    before_march = world.get("/v1/finance/reports/trial-balance?as_of=2026-02-28", t)
    assert_like(
        before_march,
        {"lines": [line("1100", balance=500_000), line("3100", balance=500_000)]},
        "trial balance in February",
    )

    sheet = world.get("/v1/finance/reports/balance-sheet?as_of=2026-12-31", t)
    assert_like(
        sheet,
        {
            "as_of": "2026-12-31",
            "currency_code": "USD",
            "assets": [line("1100", balance=527_000), line("1200", balance=0)],
            "liabilities": [line("2200", balance=4_500)],
            "equity": [line("3100", balance=500_000)],
            "current_earnings_minor": "22500",
            "total_assets_minor": "527000",
            "total_liabilities_minor": "4500",
            "total_equity_minor": "522500",
        },
        "balance sheet",
    )

    income = world.get("/v1/finance/reports/income-statement?from=2026-01-01&to=2026-12-31", t)
    assert_like(
        income,
        {
            "from_date": "2026-01-01",
            "to_date": "2026-12-31",
            "previous_from_date": "2025-01-01",
            "previous_to_date": "2025-12-31",
            "income": [line("4100", balance=22_500, previous_balance=0)],
            "expenses": [],
            "net_income_minor": "22500",
        },
        "income statement",
    )

    verified = post("/v1/finance/ledger:verify", {})
    proof = {"valid": True, "entries_checked": "3", "head_hash": NONEMPTY, "problems": []}
    assert_like(verified, proof, "ledger")
    entries = world.get("/v1/finance/journal-entries", t)["entries"]
    assert verified["head_hash"] == entries[0]["hash"], entries  # newest first


def test_income_statement_from_and_to_reach_the_service(world: Any) -> None:
    """`from` and `to` (the json names of from_date and to_date) pick the period: the
    answer echoes them and sums only that period."""
    t = world.fresh("Periods")
    world.move("2026-03-15", "1100", "4100", 12_300, as_=t)
    world.move("2026-04-15", "1100", "4100", 4_500, as_=t)
    path = "/v1/finance/reports/income-statement"
    march = world.get(f"{path}?from=2026-03-01&to=2026-03-31", t)
    assert_like(
        march,
        {
            "from_date": "2026-03-01",
            "to_date": "2026-03-31",
            "previous_from_date": "2026-02-01",
            "previous_to_date": "2026-02-28",
            "net_income_minor": "12300",
        },
        "March",
    )
    april = world.get(f"{path}?from=2026-04-01&to=2026-04-30", t)
    assert_like(
        april,
        {
            "from_date": "2026-04-01",
            "to_date": "2026-04-30",
            "net_income_minor": "4500",
            "previous_net_income_minor": "12300",
        },
        "April",
    )
    # The proto field names are accepted as well, with the same answer.
    assert world.get(f"{path}?from_date=2026-03-01&to_date=2026-03-31", t) == march
    # And so for the journal: `from` and `to` bound the entries listed.
    listed = world.get("/v1/finance/journal-entries?from=2026-04-01&to=2026-04-30", t)
    assert [e["total_minor"] for e in listed["entries"]] == ["4500"], listed


def test_import_bank_statement_takes_the_csv_as_base64_in_json(world: Any) -> None:
    t = world.fresh("Bank")
    reference = unique("INV-")
    paid = world.payment(9_900, reference=reference, on="2026-03-12", as_=t)
    content = csv(f"2026-03-13,99.00,{reference},Globex pays")
    body = {
        "format": "STATEMENT_FORMAT_CSV",
        "content": base64.b64encode(content).decode(),
    }
    reply = world.mesh.call("POST", "/v1/finance/bank-statements", body, token=t.token)
    assert reply.status == 200, reply
    _json(reply)
    assert_like(
        reply.body,
        {
            "statement": {"line_count": 1, "suggested_count": 1, "matched_count": 0},
            "lines": [
                {
                    "date": date_json("2026-03-13"),
                    "amount": amount(9_900),
                    "reference": reference,
                    "state": "MATCH_STATE_SUGGESTED",
                    "payment_id": paid["id"],
                    "match_reason": "amount, date within 1 day, reference",
                }
            ],
        },
        "import",
    )
    statement, line = reply.body["statement"]["id"], reply.body["lines"][0]["id"]
    listed = world.get(f"/v1/finance/bank-statements/{statement}/lines", t)
    assert [x["id"] for x in listed["lines"]] == [line], listed
    matched = world.mesh.call(
        "POST", f"/v1/finance/bank-statement-lines/{line}:match", {}, token=t.token
    )
    assert matched.status == 200 and matched.body["line"]["state"] == "MATCH_STATE_MATCHED"
    assert world.get(f"/v1/finance/payments/{paid['id']}", t)["payment"]["reconciled"] is True

    # The same file again: its line was imported before and is skipped.
    again = world.mesh.call("POST", "/v1/finance/bank-statements", body, token=t.token)
    assert again.status == 200, again
    assert_like(again.body, {"statement": {"line_count": 0}, "lines": []}, "again")

    not_base64 = body | {"content": "date,amount!!"}
    refused = world.mesh.call("POST", "/v1/finance/bank-statements", not_base64, token=t.token)
    assert refused.status == 400, refused
    _json(refused)
    assert refused.body["message"].startswith("content"), refused


def test_patch_settings_with_a_nested_mask_in_the_query(world: Any) -> None:
    t = world.fresh("Rules")
    path = "/v1/finance/settings"
    one = world.mesh.call(
        "PATCH",
        f"{path}?update_mask=reconciliationRules.autoConfirm",
        {"reconciliation_rules": {"auto_confirm": True, "date_tolerance_days": 9}},
        token=t.token,
    )
    assert one.status == 200, one
    rules = {"date_tolerance_days": 3, "match_reference": True, "auto_confirm": True}
    assert one.body["settings"]["reconciliation_rules"] == rules, one  # only the masked one
    two = world.mesh.call(
        "PATCH",
        f"{path}?update_mask=fiscal_year_start_month",
        {"fiscal_year_start_month": 13},
        token=t.token,
    )
    assert two.status == 400, two
    assert violated_fields(two.body) == {"settings.fiscal_year_start_month"}, two
    assert world.get(path, t)["settings"]["reconciliation_rules"] == rules

    # With auto-confirm on, a line whose payment's reference it carries is matched at import.
    reference = unique("REF-")
    paid = world.payment(7_700, reference=reference, as_=t)
    imported = world.statement(csv(f"{ON},77.00,{reference},Paid"), as_=t)
    assert_like(
        imported,
        {
            "statement": {"line_count": 1, "matched_count": 1, "suggested_count": 0},
            "lines": [{"state": "MATCH_STATE_MATCHED", "payment_id": paid["id"]}],
        },
        "auto-confirmed",
    )
    assert world.get(f"/v1/finance/payments/{paid['id']}", t)["payment"]["reconciled"] is True


def test_patch_settings_without_a_mask_changes_only_the_rules_given(world: Any) -> None:
    """The contract: without a mask, "every field set in `settings`" changes. A body
    that sets the date tolerance alone does not set match_reference or auto_confirm."""
    t = world.fresh("Rules")
    path = "/v1/finance/settings"
    reply = world.mesh.call(
        "PATCH", path, {"reconciliation_rules": {"date_tolerance_days": 5}}, token=t.token
    )
    assert reply.status == 200, reply
    rules = {"date_tolerance_days": 5, "match_reference": True, "auto_confirm": False}
    assert reply.body["settings"]["reconciliation_rules"] == rules, reply


def test_patch_invoice_with_a_nested_mask_changes_only_that_field(world: Any) -> None:
    t = world.fresh("Masks")
    made = world.ok(
        "CreateInvoice",
        pb.CreateInvoiceRequest(
            party=fpb.Party(name="Globex", tax_id="GB123"), issue_date=day(ON), lines=[item(100)]
        ),
        t,
    )["invoice"]
    path = f"/v1/finance/invoices/{made['id']}"
    renamed = world.mesh.call(
        "PATCH", f"{path}?update_mask=party.name", {"party": {"name": "Globex Ltd"}}, token=t.token
    )
    assert renamed.status == 200, renamed
    assert_like(renamed.body["invoice"]["party"], {"name": "Globex Ltd", "tax_id": "GB123"}, "")
    mailed = world.mesh.call(
        "PATCH",
        f"{path}?update_mask=party.email",
        {"party": {"email": "ap@globex.example"}},
        token=t.token,
    )
    assert mailed.status == 200, mailed
    expected = {"name": "Globex Ltd", "email": "ap@globex.example", "tax_id": "GB123"}
    assert_like(mailed.body["invoice"]["party"], expected, "party")


def test_concurrent_postings_through_the_edge_are_gap_free(world: Any) -> None:
    """Invoices posted and entries made at once through the edge (the service posts a
    tenant's invoices in shared transactions): numbers without gaps or repeats, one
    entry per posting, a chain that verifies."""
    t = world.fresh("Rush")
    drafts = [world.draft(item(1_000 + n), as_=t)["id"] for n in range(8)]
    bank, capital = world.id_of("1100", t), world.id_of("3100", t)
    entry = pb.CreateJournalEntryRequest(date=day(ON), lines=[dr(bank, 10), cr(capital, 10)])

    def post(invoice_id: str) -> Any:
        return world.rest("PostInvoice", pb.PostInvoiceRequest(id=invoice_id), t)

    with ThreadPoolExecutor(max_workers=8) as pool:
        # Each draft twice: posting is idempotent, a retry gets the posted invoice.
        posted = list(pool.map(post, drafts + drafts))
        made = list(pool.map(lambda _: world.rest("CreateJournalEntry", entry, t), range(8)))
    assert all(r.status == 200 for r in posted + made), [
        r for r in posted + made if r.status != 200
    ]
    numbers = {r.body["invoice"]["id"]: r.body["invoice"]["number"] for r in posted}
    assert sorted(numbers.values()) == [f"INV-2026-{n:06d}" for n in range(1, 9)], numbers
    for reply in posted:  # the retry answered the same number
        assert reply.body["invoice"]["number"] == numbers[reply.body["invoice"]["id"]]
    listed = world.get("/v1/finance/journal-entries?page_size=500", t)["entries"]
    assert [e["sequence"] for e in listed] == [str(n) for n in range(16, 0, -1)], listed
    assert len({e["source_id"] for e in listed if e["source"] == "ENTRY_SOURCE_INVOICE"}) == 8
    verified = world.mesh.call("POST", "/v1/finance/ledger:verify", {}, token=t.token)
    assert_like(verified.body, {"valid": True, "entries_checked": "16"}, "ledger")
    trial = world.get("/v1/finance/reports/trial-balance?as_of=2026-12-31", t)
    total = sum(1_000 + n for n in range(8)) + 8 * 10
    assert trial["total_debit_minor"] == trial["total_credit_minor"] == str(total), trial


def test_a_deal_won_in_the_crm_becomes_a_draft_invoice_over_nats(world: Any) -> None:
    t = world.fresh("Deals")
    mesh, token = world.mesh, t.token
    eventually(
        lambda: mesh.call("GET", "/v1/crm/pipelines", token=token), lambda r: r.status == 200
    )
    company = mesh.call(
        "POST", "/v1/crm/companies", {"name": "Analytical Engines plc"}, token=token
    )
    assert company.status == 200, company
    deal = mesh.call(
        "POST",
        "/v1/crm/opportunities",
        {
            "name": "Difference engine",
            "amount": {"currency_code": "USD", "amount_minor": 1_000_000},
            "company_id": company.body["id"],
        },
        token=token,
    )
    assert deal.status == 200, deal
    won = mesh.call(
        "POST",
        f"/v1/crm/opportunities/{deal.body['id']}:win",
        {"amount": {"currency_code": "USD", "amount_minor": 1_234_567}},
        token=token,
    )
    assert won.status == 200, won
    drafts = eventually(
        lambda: mesh.call("GET", "/v1/finance/invoices", token=token),
        lambda r: r.status == 200 and bool(r.body["invoices"]),
    )
    assert_like(
        drafts.body,
        {
            "invoices": [
                {
                    "state": "INVOICE_STATE_DRAFT",
                    "opportunity_id": deal.body["id"],
                    "party": {
                        "name": "Analytical Engines plc",
                        "crm_company_id": company.body["id"],
                    },
                    "currency_code": "USD",
                    "lines": [{"description": "Difference engine", "quantity": "1"}],
                    "total": amount(1_234_567),
                    "memo": "Won opportunity Difference engine",
                }
            ]
        },
        "the draft",
    )


def test_grpcurl_lists_and_calls_the_finance_service(world: Any) -> None:
    edge = f"127.0.0.1:{world.mesh.edge_port}"
    listed = grpcurl("-plaintext", edge, "list")
    assert listed.returncode == 0, listed.stderr
    assert FINANCE.name in listed.stdout.split(), listed.stdout
    described = grpcurl("-plaintext", edge, "describe", FINANCE.name)
    assert described.returncode == 0, described.stderr
    assert all(f"rpc {rpc} " in described.stdout for rpc in RPCS), described.stdout

    t = world.fresh("Grpcurl")
    world.move("2026-03-05", "1100", "3100", 4_200, as_=t)
    out = grpcurl(
        "-plaintext",
        "-H",
        f"authorization: Bearer {t.token}",
        "-d",
        json.dumps({"as_of": "2026-12-31"}),
        edge,
        f"{FINANCE.name}/GetTrialBalance",
    )
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["total_debit_minor"] == answer["total_credit_minor"] == "4200", answer
    assert [x["code"] for x in answer["lines"]] == ["1100", "3100"], answer
