"""svc_finance through the real edge, as tables: tenants with their own books, record
factories, and one happy call per RPC of erp.finance.v1.FinanceService written as its
contract message with what its answer must be. Sending both ways and comparing is
edge_calls.py's.

A new tenant's books are in USD (the mesh's default company currency) with the
default chart of accounts; `World.fresh()` gives a call books of its own, so that
numbers (JE-000001, INV-2026-000001), chains and report amounts are exact.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from typing import Any

from edge_calls import (  # type: ignore[import-not-found]
    NONEMPTY,
    Build,
    Call,
    Contract,
    EdgeWorld,
    Is,
    Json,
    Tenant,
    assert_like,
    day,
    mask,
    registry,
    starts,
    unique,
)
from real_mesh import RunningMesh  # type: ignore[import-not-found]

from erp.common.v1 import money_pb2
from erp.finance.v1 import finance_pb2 as fpb
from erp.finance.v1 import finance_service_pb2 as pb
from erp.finance.v1 import finance_service_pb2_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["FinanceService"]
FINANCE = Contract(SERVICE)
route, path_variables, rest_form = FINANCE.route, FINANCE.path_variables, FINANCE.rest_form

CURRENCY = "USD"  # a new tenant's company currency in the mesh
ON = "2026-03-10"  # the day most records are dated
GENESIS = "0" * 64
HASH = Is(
    "a SHA-256 in hex", lambda v: isinstance(v, str) and bool(re.fullmatch("[0-9a-f]{64}", v))
)
INCOMING, OUTGOING = fpb.PAYMENT_DIRECTION_INCOMING, fpb.PAYMENT_DIRECTION_OUTGOING
INVOICE, BILL = fpb.INVOICE_KIND_CUSTOMER_INVOICE, fpb.INVOICE_KIND_VENDOR_BILL

# ---- values ------------------------------------------------------------------------------


def every_rpc() -> set[str]:
    return set(FINANCE.every_rpc())


def money(amount_minor: int, currency: str = CURRENCY) -> money_pb2.Money:
    return money_pb2.Money(currency_code=currency, amount_minor=amount_minor)


def amount(amount_minor: int, currency: str = CURRENCY) -> Json:
    """A Money as the answers print it (int64 as a string)."""
    return {"currency_code": currency, "amount_minor": str(amount_minor)}


def date_json(iso: str) -> Json:
    y, m, d = (int(p) for p in iso.split("-"))
    return {"year": y, "month": m, "day": d}


def dr(account_id: str, amount_minor: int, currency: str = CURRENCY) -> fpb.JournalLine:
    return fpb.JournalLine(account_id=account_id, debit=money(amount_minor, currency))


def cr(account_id: str, amount_minor: int, currency: str = CURRENCY) -> fpb.JournalLine:
    return fpb.JournalLine(account_id=account_id, credit=money(amount_minor, currency))


def item(
    unit_price_minor: int,
    quantity: str = "1",
    *,
    tax_rate_bps: int = 0,
    discount_bps: int = 0,
    description: str = "Consulting",
    currency: str = CURRENCY,
) -> fpb.InvoiceLine:
    return fpb.InvoiceLine(
        description=description,
        quantity=quantity,
        unit_price=money(unit_price_minor, currency),
        tax_rate_bps=tax_rate_bps,
        discount_bps=discount_bps,
    )


def line_json(
    account_id: str, debit: int = 0, credit: int = 0, currency: str = CURRENCY, rate: str = "1"
) -> Json:
    """A company-currency journal line as answers print it."""
    side = {"debit": amount(debit, currency)} if debit else {"credit": amount(credit, currency)}
    return {
        "account_id": account_id,
        **side,
        "company_debit_minor": str(debit),
        "company_credit_minor": str(credit),
        "exchange_rate": rate,
    }


def month_json(month: str, state: str = "PERIOD_STATE_OPEN") -> Json:
    y, m = (int(p) for p in month.split("-"))
    last = calendar.monthrange(y, m)[1]
    return {
        "id": month,
        "start_date": {"year": y, "month": m, "day": 1},
        "end_date": {"year": y, "month": m, "day": last},
        "state": state,
        "fiscal_year": y,
    }


def csv(*rows: str) -> bytes:
    """A bank statement CSV with the header the contract names."""
    return ("date,amount,reference,description\n" + "".join(r + "\n" for r in rows)).encode()


# ---- the world -----------------------------------------------------------------------------


class World(EdgeWorld):  # type: ignore[misc]
    """Tenant A (who the tables act as), tenant B (whose ids A must not reach), and
    fresh tenants for calls that need books of their own."""

    def __init__(self, mesh: RunningMesh, channel: Any) -> None:
        stub = finance_service_pb2_grpc.FinanceServiceStub(channel)
        super().__init__(mesh, FINANCE, stub, "/v1/finance/settings")
        self._charts: dict[str, dict[str, Json]] = {}

    def fresh(self, name: str = "Books") -> Tenant:
        """A new tenant: empty books, the default chart, no rates."""
        tenant: Tenant = self.tenant(name)
        return tenant

    def chart(self, as_: Tenant | None = None) -> dict[str, Json]:
        """The tenant's default chart of accounts, by code."""
        tenant = as_ or self.a
        if tenant.token not in self._charts:
            listed = self.get("/v1/finance/accounts?page_size=500", tenant)["accounts"]
            self._charts[tenant.token] = {a["code"]: a for a in listed}
        return self._charts[tenant.token]

    def id_of(self, code: str, as_: Tenant | None = None) -> str:
        return str(self.chart(as_)[code]["id"])

    # --- factories (REST, as A unless told) ---------------------------------------------

    def account(
        self, parent: str = "5000", as_: Tenant | None = None, name: str = "Travel"
    ) -> Json:
        request = pb.CreateAccountRequest(
            code=unique("T"), name=name, parent_id=self.id_of(parent, as_)
        )
        return dict(self.ok("CreateAccount", request, as_)["account"])

    def entry(
        self, on: str, *lines: fpb.JournalLine, memo: str = "", as_: Tenant | None = None
    ) -> Json:
        request = pb.CreateJournalEntryRequest(date=day(on), memo=memo, lines=list(lines))
        return dict(self.ok("CreateJournalEntry", request, as_)["entry"])

    def move(
        self, on: str, debit: str, credit: str, amount_minor: int, as_: Tenant | None = None
    ) -> Json:
        """A company-currency entry: `amount_minor` from account code `credit` to `debit`."""
        return self.entry(
            on,
            dr(self.id_of(debit, as_), amount_minor),
            cr(self.id_of(credit, as_), amount_minor),
            as_=as_,
        )

    def draft(
        self,
        *lines: fpb.InvoiceLine,
        kind: fpb.InvoiceKind.ValueType = INVOICE,
        on: str = ON,
        currency: str = "",
        party: str = "Globex",
        as_: Tenant | None = None,
    ) -> Json:
        request = pb.CreateInvoiceRequest(
            kind=kind,
            party=fpb.Party(name=party),
            issue_date=day(on),
            currency_code=currency,
            lines=list(lines) or [item(10_000)],
        )
        return dict(self.ok("CreateInvoice", request, as_)["invoice"])

    def posted(self, *lines: fpb.InvoiceLine, as_: Tenant | None = None, **fields: Any) -> Json:
        made = self.draft(*lines, as_=as_, **fields)
        done = self.ok("PostInvoice", pb.PostInvoiceRequest(id=made["id"]), as_)
        return dict(done["invoice"])

    def payment(
        self,
        amount_minor: int,
        *allocations: tuple[str, int],
        direction: fpb.PaymentDirection.ValueType = INCOMING,
        on: str = ON,
        reference: str = "",
        as_: Tenant | None = None,
    ) -> Json:
        request = pb.CreatePaymentRequest(
            direction=direction,
            party=fpb.Party(name="Globex"),
            date=day(on),
            amount=money(amount_minor),
            reference=reference,
            allocations=[fpb.Allocation(invoice_id=i, amount=money(a)) for i, a in allocations],
        )
        return dict(self.ok("CreatePayment", request, as_)["payment"])

    def rates(self, *rates: tuple[str, str, str], as_: Tenant | None = None) -> None:
        """(currency, date, rate) each."""
        request = pb.SetExchangeRatesRequest(
            rates=[fpb.ExchangeRate(currency_code=c, date=day(d), rate=r) for c, d, r in rates]
        )
        self.ok("SetExchangeRates", request, as_)

    def statement(self, content: bytes, as_: Tenant | None = None) -> Json:
        request = pb.ImportBankStatementRequest(format=fpb.STATEMENT_FORMAT_CSV, content=content)
        return self.ok("ImportBankStatement", request, as_)

    def close(self, month: str, as_: Tenant | None = None) -> None:
        self.ok("ClosePeriod", pb.ClosePeriodRequest(id=month), as_)

    def paid_and_matched(self, as_: Tenant) -> tuple[Json, Json]:
        """A payment and a statement whose first line is suggested for it (and whose
        second, a bank fee, matches nothing)."""
        reference = unique("REF-")
        paid = self.payment(12_345, reference=reference, as_=as_)
        content = csv(f"{ON},123.45,{reference},Initech payment", "2026-03-11,-5.00,FEE,Bank fee")
        return paid, self.statement(content, as_)


# ---- one happy call per RPC ---------------------------------------------------------------


HAPPY: dict[str, Build] = {}
happy: Callable[[str], Callable[[Callable[[World], Call]], Build]] = registry(HAPPY)

# --- settings


@happy("GetFinanceSettings")
def _get_settings(w: World) -> Call:
    t = w.fresh()
    w.move(ON, "1100", "3100", 100, as_=t)
    expect = {
        "settings": {
            "company_currency": CURRENCY,
            "fiscal_year_start_month": 1,
            "reconciliation_rules": {
                "date_tolerance_days": 3,
                "match_reference": True,
                "auto_confirm": False,
            },
            "books_started": True,
        }
    }
    return Call(pb.GetFinanceSettingsRequest(), expect, as_=t)


@happy("UpdateFinanceSettings")
def _update_settings(w: World) -> Call:
    t = w.fresh()
    settings = fpb.FinanceSettings(
        company_currency="EUR",
        fiscal_year_start_month=4,
        reconciliation_rules=fpb.ReconciliationRules(
            date_tolerance_days=7, match_reference=False, auto_confirm=True
        ),
        books_started=True,  # output only, and not in the mask
    )
    request = pb.UpdateFinanceSettingsRequest(
        settings=settings,
        update_mask=mask("company_currency", "fiscal_year_start_month", "reconciliation_rules"),
    )
    expect = {
        "settings": {
            "company_currency": "EUR",
            "fiscal_year_start_month": 4,
            "reconciliation_rules": {
                "date_tolerance_days": 7,
                "match_reference": False,
                "auto_confirm": True,
            },
            "books_started": False,
        }
    }

    def applied(answer: Json) -> None:
        assert w.get("/v1/finance/settings", t) == answer
        year = w.get("/v1/finance/periods?fiscal_year=2026", t)
        assert_like(
            year,
            {
                "fiscal_year": {
                    "year": 2026,
                    "start_date": date_json("2026-04-01"),
                    "end_date": date_json("2027-03-31"),
                },
                "periods": Is(
                    "April to March", lambda v: [p["id"] for p in v][::11] == ["2026-04", "2027-03"]
                ),
            },
            "fiscal year from April",
        )
        report = w.get("/v1/finance/reports/trial-balance?as_of=2026-12-31", t)
        assert report["currency_code"] == "EUR", report

    return Call(request, expect, also=applied, as_=t)


# --- accounts


INCOME_ACCOUNTS = [
    ("4000", "Income", ""),
    ("4100", "Sales", "sales"),
    ("4800", "Exchange gains", "fx_gain"),
    ("4900", "Unrealised exchange differences", "fx_unrealised"),
]


@happy("ListAccounts")
def _list_accounts(w: World) -> Call:
    t = w.fresh()
    parent = w.id_of("4000", t)
    expect = {
        "accounts": [
            {
                "code": code,
                "name": name,
                "role": role,
                "type": "ACCOUNT_TYPE_INCOME",
                "parent_id": "" if code == "4000" else parent,
                "archived": False,
                "used": False,
            }
            for code, name, role in INCOME_ACCOUNTS
        ],
        "next_page_token": "",
    }
    return Call(pb.ListAccountsRequest(type=fpb.ACCOUNT_TYPE_INCOME), expect, as_=t)


@happy("GetAccount")
def _get_account(w: World) -> Call:
    expect = {
        "account": {
            "id": w.id_of("1200"),
            "code": "1200",
            "name": "Accounts receivable",
            "type": "ACCOUNT_TYPE_ASSET",
            "parent_id": w.id_of("1000"),
            "role": "receivable",
            "archived": False,
        }
    }
    return Call(pb.GetAccountRequest(id=w.id_of("1200")), expect)


@happy("CreateAccount")
def _create_account(w: World) -> Call:
    code = unique("T")
    request = pb.CreateAccountRequest(
        code=code, name="Travel", parent_id=w.id_of("5000"), description="Trips"
    )
    expect = {
        "account": {
            "id": NONEMPTY,
            "code": code,
            "name": "Travel",
            "type": "ACCOUNT_TYPE_EXPENSE",  # the parent's
            "parent_id": w.id_of("5000"),
            "role": "",
            "description": "Trips",
            "archived": False,
            "used": False,
            "create_time": NONEMPTY,
        }
    }
    return Call(request, expect)


@happy("UpdateAccount")
def _update_account(w: World) -> Call:
    made = w.account()
    request = pb.UpdateAccountRequest(
        account=fpb.Account(id=made["id"], name="Travel abroad", description="Flights"),
        update_mask=mask("name", "description"),
    )
    expect = {
        "account": {
            "id": made["id"],
            "code": made["code"],
            "name": "Travel abroad",
            "description": "Flights",
            "type": "ACCOUNT_TYPE_EXPENSE",
        }
    }
    return Call(request, expect)


@happy("ArchiveAccount")
def _archive_account(w: World) -> Call:
    made = w.account()

    def hidden(_: Json) -> None:
        listed = w.get("/v1/finance/accounts?type=ACCOUNT_TYPE_EXPENSE&page_size=500")
        assert made["id"] not in {a["id"] for a in listed["accounts"]}, listed
        path = "/v1/finance/accounts?type=ACCOUNT_TYPE_EXPENSE&page_size=500&include_archived=true"
        everything = w.get(path)["accounts"]
        assert made["id"] in {a["id"] for a in everything}, everything

    expect = {"account": {"id": made["id"], "code": made["code"], "archived": True}}
    return Call(pb.ArchiveAccountRequest(id=made["id"]), expect, also=hidden)


@happy("DeleteAccount")
def _delete_account(w: World) -> Call:
    made = w.account()

    def gone(_: Json) -> None:
        reply = w.mesh.call("GET", f"/v1/finance/accounts/{made['id']}", token=w.a.token)
        assert reply.status == 404, reply

    return Call(pb.DeleteAccountRequest(id=made["id"]), {}, also=gone)


# --- journal


@happy("CreateJournalEntry")
def _create_entry(w: World) -> Call:
    """The first entry of fresh books, with a line in euros at the day's rate."""
    t = w.fresh()
    w.rates(("EUR", "2026-01-01", "1.0842"), as_=t)
    bank, capital = w.id_of("1100", t), w.id_of("3100", t)
    euros = fpb.JournalLine(account_id=bank, debit=money(10_000, "EUR"), description="Deposit")
    request = pb.CreateJournalEntryRequest(
        date=day("2026-03-05"), memo="Capital", lines=[euros, cr(capital, 10_842)]
    )
    expect = {
        "entry": {
            "id": NONEMPTY,
            "number": "JE-000001",
            "date": date_json("2026-03-05"),
            "memo": "Capital",
            "lines": [
                line_json(bank, 10_842, currency="EUR", rate="1.0842")
                | {"debit": amount(10_000, "EUR"), "description": "Deposit"},
                line_json(capital, credit=10_842),
            ],
            "source": "ENTRY_SOURCE_MANUAL",
            "source_id": "",
            "reverses_entry_id": "",
            "reversed_by_entry_id": "",
            "sequence": "1",
            "hash": HASH,
            "previous_hash": GENESIS,
            "posted_by": t.user_id,
            "post_time": NONEMPTY,
            "total_minor": "10842",
        }
    }

    def stored(answer: Json) -> None:
        found = w.get(f"/v1/finance/journal-entries/{answer['entry']['id']}", t)
        assert found == answer, found

    return Call(request, expect, also=stored, as_=t)


@happy("GetJournalEntry")
def _get_entry(w: World) -> Call:
    made = w.move("2026-03-05", "1100", "3100", 2_500)
    return Call(pb.GetJournalEntryRequest(id=made["id"]), {"entry": made})


@happy("ListJournalEntries")
def _list_entries(w: World) -> Call:
    """By account, date span and source: only the May entry of a new account."""
    petty = w.account(parent="1000", name="Petty cash")["id"]
    bank = w.id_of("1100")
    w.entry("2026-02-01", dr(petty, 500), cr(bank, 500))
    may = w.entry("2026-05-01", dr(petty, 700), cr(bank, 700))
    request = pb.ListJournalEntriesRequest(
        account_id=petty,
        from_date="2026-03-01",
        to_date="2026-12-31",
        source=fpb.ENTRY_SOURCE_MANUAL,
    )
    expect = {"entries": [{"id": may["id"], "total_minor": "700"}], "next_page_token": ""}
    return Call(request, expect)


@happy("ReverseJournalEntry")
def _reverse_entry(w: World) -> Call:
    made = w.move("2026-03-05", "1100", "3100", 2_500)
    bank, capital = w.id_of("1100"), w.id_of("3100")
    request = pb.ReverseJournalEntryRequest(id=made["id"], date=day("2026-03-06"), memo="Undo")
    expect = {
        "entry": {
            "id": NONEMPTY,
            "date": date_json("2026-03-06"),
            "memo": "Undo",
            "source": "ENTRY_SOURCE_REVERSAL",
            "reverses_entry_id": made["id"],
            "lines": [line_json(bank, credit=2_500), line_json(capital, 2_500)],
            "total_minor": "2500",
        }
    }

    def linked(answer: Json) -> None:
        original = w.get(f"/v1/finance/journal-entries/{made['id']}")["entry"]
        assert original["reversed_by_entry_id"] == answer["entry"]["id"], original

    return Call(request, expect, also=linked)


@happy("VerifyLedger")
def _verify_ledger(w: World) -> Call:
    t = w.fresh()
    first = w.move("2026-03-05", "1100", "3100", 1_000, as_=t)
    second = w.move("2026-03-06", "5200", "1100", 300, as_=t)
    assert second["previous_hash"] == first["hash"], (first, second)
    expect = {
        "valid": True,
        "entries_checked": "2",
        "head_hash": second["hash"],
        "problems": [],
    }
    return Call(pb.VerifyLedgerRequest(), expect, as_=t)


# --- periods


@happy("ListPeriods")
def _list_periods(w: World) -> Call:
    t = w.fresh()
    w.close("2025-03", as_=t)
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    expect = {
        "fiscal_year": {
            "year": 2025,
            "start_date": date_json("2025-01-01"),
            "end_date": date_json("2025-12-31"),
            "closed": False,
            "closing_entry_id": "",
        },
        "periods": [
            month_json(m, "PERIOD_STATE_CLOSED" if m == "2025-03" else "PERIOD_STATE_OPEN")
            for m in months
        ],
    }
    return Call(pb.ListPeriodsRequest(fiscal_year=2025), expect, as_=t)


@happy("ClosePeriod")
def _close_period(w: World) -> Call:
    t = w.fresh()
    expect = {
        "period": month_json("2025-06", "PERIOD_STATE_CLOSED")
        | {"closed_by": t.user_id, "close_time": NONEMPTY}
    }

    def locked(_: Json) -> None:
        request = pb.CreateJournalEntryRequest(
            date=day("2025-06-30"), lines=[dr(w.id_of("1100", t), 1), cr(w.id_of("3100", t), 1)]
        )
        reply = w.rest("CreateJournalEntry", request, t)
        assert reply.status == 400 and reply.body["code"] == 9, reply

    return Call(pb.ClosePeriodRequest(id="2025-06"), expect, also=locked, as_=t)


@happy("ReopenPeriod")
def _reopen_period(w: World) -> Call:
    t = w.fresh()
    w.close("2025-06", as_=t)
    expect = {"period": month_json("2025-06") | {"closed_by": ""}}

    def open_again(_: Json) -> None:
        w.move("2025-06-30", "1100", "3100", 1, as_=t)

    return Call(pb.ReopenPeriodRequest(id="2025-06"), expect, also=open_again, as_=t)


@happy("CloseFiscalYear")
def _close_year(w: World) -> Call:
    """2024: 1000.00 of sales, 300.00 of expenses; the 700.00 result moves to retained
    earnings on the year's last day, and every month of the year closes."""
    t = w.fresh()
    w.move("2024-05-10", "1100", "4100", 100_000, as_=t)
    w.move("2024-06-01", "5200", "1100", 30_000, as_=t)
    expect = {
        "fiscal_year": {
            "year": 2024,
            "start_date": date_json("2024-01-01"),
            "end_date": date_json("2024-12-31"),
            "closed": True,
            "closing_entry_id": NONEMPTY,
        },
        "closing_entry": {
            "number": "JE-000003",
            "date": date_json("2024-12-31"),
            "memo": "Year-end close 2024",
            "source": "ENTRY_SOURCE_YEAR_END_CLOSE",
            "total_minor": "100000",
        },
    }

    def closed(answer: Json) -> None:
        entry = answer["closing_entry"]
        assert answer["fiscal_year"]["closing_entry_id"] == entry["id"], answer
        moved = {
            (x["account_id"], x["company_debit_minor"], x["company_credit_minor"])
            for x in entry["lines"]
        }
        assert moved == {
            (w.id_of("4100", t), "100000", "0"),
            (w.id_of("5200", t), "0", "30000"),
            (w.id_of("3200", t), "0", "70000"),
        }, entry
        year = w.get("/v1/finance/periods?fiscal_year=2024", t)
        assert {p["state"] for p in year["periods"]} == {"PERIOD_STATE_CLOSED"}, year
        # The income statement leaves the closing entry out.
        path = "/v1/finance/reports/income-statement?from=2024-01-01&to=2024-12-31"
        assert w.get(path, t)["net_income_minor"] == "70000"

    return Call(pb.CloseFiscalYearRequest(year=2024), expect, also=closed, as_=t)


# --- exchange rates


@happy("SetExchangeRates")
def _set_rates(w: World) -> Call:
    t = w.fresh()
    request = pb.SetExchangeRatesRequest(
        rates=[
            fpb.ExchangeRate(
                currency_code="EUR", date=day("2026-01-01"), rate="1.0842", source="ECB"
            ),
            fpb.ExchangeRate(currency_code="GBP", date=day("2026-01-01"), rate="1.27"),
        ]
    )

    def saved(_: Json) -> None:
        rates = w.get("/v1/finance/exchange-rates", t)
        expected = [
            {"currency_code": "EUR", "date": date_json("2026-01-01"), "rate": "1.0842"},
            {"currency_code": "GBP", "date": date_json("2026-01-01"), "rate": "1.27"},
        ]
        assert_like(rates, {"rates": expected}, "rates")
        assert [r["source"] for r in rates["rates"]] == ["ECB", "manual"], rates

    return Call(request, {"saved": 2}, also=saved, as_=t)


@happy("ListExchangeRates")
def _list_rates(w: World) -> Call:
    t = w.fresh()
    w.rates(
        ("EUR", "2026-01-01", "1.08"),
        ("EUR", "2026-02-01", "1.09"),
        ("GBP", "2026-01-15", "1.27"),
        as_=t,
    )
    expect = {
        "rates": [
            {"currency_code": "EUR", "date": date_json("2026-02-01"), "rate": "1.09"},
            {"currency_code": "EUR", "date": date_json("2026-01-01"), "rate": "1.08"},
        ],
        "next_page_token": "",
    }
    return Call(pb.ListExchangeRatesRequest(currency_code="EUR"), expect, as_=t)


@happy("RevalueForeignBalances")
def _revalue(w: World) -> Call:
    """An open invoice of 1000.00 EUR posted at 1.10 is worth 1200.00 USD at 1.20:
    100.00 unrealised gain, reversed the next day."""
    t = w.fresh()
    w.rates(("EUR", "2026-01-01", "1.10"), ("EUR", "2026-03-31", "1.20"), as_=t)
    w.posted(item(100_000, currency="EUR"), currency="EUR", on="2026-01-10", as_=t)
    receivable, unrealised = w.id_of("1200", t), w.id_of("4900", t)
    expect = {
        "entry": {
            "date": date_json("2026-03-31"),
            "memo": "Revaluation of foreign balances at 2026-03-31",
            "source": "ENTRY_SOURCE_REVALUATION",
            "total_minor": "10000",
            "lines": [
                {
                    "account_id": receivable,
                    "company_debit_minor": "10000",
                    "company_credit_minor": "0",
                    "exchange_rate": "1.20",
                },
                line_json(unrealised, credit=10_000),
            ],
        },
        "reversal": {
            "date": date_json("2026-04-01"),
            "source": "ENTRY_SOURCE_REVERSAL",
            "total_minor": "10000",
            "lines": [
                {"account_id": receivable, "company_credit_minor": "10000"},
                line_json(unrealised, 10_000),
            ],
        },
    }

    def linked(answer: Json) -> None:
        entry, reversal = answer["entry"], answer["reversal"]
        assert reversal["reverses_entry_id"] == entry["id"], answer
        assert entry["reversed_by_entry_id"] == reversal["id"], answer

    request = pb.RevalueForeignBalancesRequest(date=day("2026-03-31"))
    return Call(request, expect, also=linked, as_=t)


# --- invoices and bills


@happy("CreateInvoice")
def _create_invoice(w: World) -> Call:
    """2.5 x 100.00 less 10 % is 225.00, plus 20 % tax 45.00; and 50.00 untaxed."""
    request = pb.CreateInvoiceRequest(
        party=fpb.Party(name="Globex", email="Billing@Globex.example"),
        issue_date=day(ON),
        lines=[
            item(10_000, "2.5", discount_bps=1000, tax_rate_bps=2000),
            item(5_000, description="Travel"),
        ],
        memo="March work",
    )
    expect = {
        "invoice": {
            "id": NONEMPTY,
            "kind": "INVOICE_KIND_CUSTOMER_INVOICE",
            "number": "",
            "state": "INVOICE_STATE_DRAFT",
            "party": {"name": "Globex", "email": "billing@globex.example"},
            "issue_date": date_json(ON),
            "due_date": date_json("2026-04-09"),  # 30 days
            "currency_code": CURRENCY,
            "lines": [
                {
                    "description": "Consulting",
                    "quantity": "2.5",
                    "unit_price": amount(10_000),
                    "discount_bps": 1000,
                    "tax_rate_bps": 2000,
                    "net": amount(22_500),
                    "tax": amount(4_500),
                    "total": amount(27_000),
                },
                {
                    "description": "Travel",
                    "quantity": "1",
                    "net": amount(5_000),
                    "tax": amount(0),
                    "total": amount(5_000),
                },
            ],
            "subtotal": amount(27_500),
            "tax_total": amount(4_500),
            "total": amount(32_000),
            "amount_paid": amount(0),
            "amount_due": amount(32_000),
            "exchange_rate": "",
            "company_total_minor": "0",
            "entry_id": "",
            "memo": "March work",
        }
    }
    return Call(request, expect)


@happy("GetInvoice")
def _get_invoice(w: World) -> Call:
    made = w.draft(item(10_000, "3", tax_rate_bps=1000))
    return Call(pb.GetInvoiceRequest(id=made["id"]), {"invoice": made})


@happy("ListInvoices")
def _list_invoices(w: World) -> Call:
    t = w.fresh()
    w.draft(as_=t)
    w.posted(as_=t)
    bill = w.posted(item(7_000), kind=BILL, party="Acme Supplies", as_=t)
    w.draft(kind=BILL, as_=t)
    request = pb.ListInvoicesRequest(kind=BILL, state=fpb.INVOICE_STATE_POSTED)
    expect = {
        "invoices": [
            {
                "id": bill["id"],
                "kind": "INVOICE_KIND_VENDOR_BILL",
                "number": "BILL-2026-000001",
                "state": "INVOICE_STATE_POSTED",
                "total": amount(7_000),
            }
        ],
        "next_page_token": "",
    }
    return Call(request, expect, as_=t)


@happy("UpdateInvoice")
def _update_invoice(w: World) -> Call:
    made = w.draft(item(10_000))
    request = pb.UpdateInvoiceRequest(
        invoice=fpb.Invoice(
            id=made["id"], memo="Revised", lines=[item(20_000, "3", tax_rate_bps=1000)]
        ),
        update_mask=mask("memo", "lines"),
    )
    expect = {
        "invoice": {
            "id": made["id"],
            "state": "INVOICE_STATE_DRAFT",
            "party": {"name": "Globex"},
            "memo": "Revised",
            "lines": [{"quantity": "3", "net": amount(60_000), "tax": amount(6_000)}],
            "subtotal": amount(60_000),
            "tax_total": amount(6_000),
            "total": amount(66_000),
            "amount_due": amount(66_000),
        }
    }
    return Call(request, expect)


@happy("PostInvoice")
def _post_invoice(w: World) -> Call:
    t = w.fresh()
    made = w.draft(item(10_000, "2.5", discount_bps=1000, tax_rate_bps=2000), as_=t)
    expect = {
        "invoice": {
            "id": made["id"],
            "number": "INV-2026-000001",
            "state": "INVOICE_STATE_POSTED",
            "exchange_rate": "1",
            "company_total_minor": "27000",
            "entry_id": NONEMPTY,
            "post_time": NONEMPTY,
            "amount_due": amount(27_000),
        }
    }

    def booked(answer: Json) -> None:
        entry = w.get(f"/v1/finance/journal-entries/{answer['invoice']['entry_id']}", t)
        expected = {
            "number": "JE-000001",
            "date": date_json(ON),
            "memo": "INV-2026-000001 Globex",
            "source": "ENTRY_SOURCE_INVOICE",
            "source_id": made["id"],
            "lines": [
                line_json(w.id_of("1200", t), 27_000) | {"description": "Globex"},
                line_json(w.id_of("4100", t), credit=22_500),
                line_json(w.id_of("2200", t), credit=4_500) | {"description": "Tax"},
            ],
            "total_minor": "27000",
        }
        assert_like(entry["entry"], expected, "the invoice's entry")

    return Call(pb.PostInvoiceRequest(id=made["id"]), expect, also=booked, as_=t)


@happy("CancelInvoice")
def _cancel_invoice(w: World) -> Call:
    made = w.posted(item(12_000))
    request = pb.CancelInvoiceRequest(id=made["id"], reason="Duplicate")
    expect = {
        "invoice": {
            "id": made["id"],
            "number": made["number"],
            "state": "INVOICE_STATE_CANCELLED",
            "entry_id": made["entry_id"],
            "cancel_entry_id": NONEMPTY,
        }
    }

    def reversed_(answer: Json) -> None:
        back = w.get(f"/v1/finance/journal-entries/{answer['invoice']['cancel_entry_id']}")
        expected = {
            "source": "ENTRY_SOURCE_REVERSAL",
            "reverses_entry_id": made["entry_id"],
            "memo": f"Cancellation of {made['number']}: Duplicate",
            "lines": [
                line_json(w.id_of("1200"), credit=12_000) | {"description": "Globex"},
                line_json(w.id_of("4100"), 12_000),
            ],
            "total_minor": "12000",
        }
        assert_like(back["entry"], expected, "the cancelling entry")

    return Call(request, expect, also=reversed_)


# --- payments


@happy("CreatePayment")
def _create_payment(w: World) -> Call:
    """300.00 in for an invoice of 270.00: 30.00 stays as the customer's credit; the
    payer is the invoice's customer."""
    invoice = w.posted(item(10_000, "2.5", discount_bps=1000, tax_rate_bps=2000))
    reference = unique("REF-")
    request = pb.CreatePaymentRequest(
        direction=INCOMING,
        date=day("2026-03-20"),
        amount=money(30_000),
        reference=reference,
        allocations=[fpb.Allocation(invoice_id=invoice["id"], amount=money(27_000))],
    )
    expect = {
        "payment": {
            "id": NONEMPTY,
            "number": starts("PAY-2026-"),
            "direction": "PAYMENT_DIRECTION_INCOMING",
            "party": {"name": "Globex"},
            "date": date_json("2026-03-20"),
            "amount": amount(30_000),
            "bank_account_id": w.id_of("1100"),
            "reference": reference,
            "exchange_rate": "1",
            "company_amount_minor": "30000",
            "allocations": [
                {
                    "invoice_id": invoice["id"],
                    "amount": amount(27_000),
                    "applied": amount(27_000),
                    "exchange_difference_minor": "0",
                }
            ],
            "unallocated": amount(3_000),
            "entry_ids": [NONEMPTY],
            "reconciled": False,
        }
    }

    def settled(_: Json) -> None:
        after = w.get(f"/v1/finance/invoices/{invoice['id']}")["invoice"]
        expected = {
            "state": "INVOICE_STATE_PAID",
            "amount_paid": amount(27_000),
            "amount_due": amount(0),
        }
        assert_like(after, expected, "the invoice")

    return Call(request, expect, also=settled)


@happy("GetPayment")
def _get_payment(w: World) -> Call:
    made = w.payment(4_200, reference=unique("REF-"))
    return Call(pb.GetPaymentRequest(id=made["id"]), {"payment": made})


@happy("ListPayments")
def _list_payments(w: World) -> Call:
    t = w.fresh()
    credit = w.payment(10_000, as_=t)
    invoice = w.posted(item(5_000), as_=t)
    w.payment(5_000, (invoice["id"], 5_000), as_=t)  # nothing left over
    w.payment(2_000, direction=OUTGOING, as_=t)
    request = pb.ListPaymentsRequest(direction=INCOMING, unallocated_only=True)
    expect = {
        "payments": [{"id": credit["id"], "unallocated": amount(10_000)}],
        "next_page_token": "",
    }
    return Call(request, expect, as_=t)


@happy("AllocatePayment")
def _allocate_payment(w: World) -> Call:
    made = w.payment(50_000, on="2026-03-20")
    invoice = w.posted(item(20_000))
    request = pb.AllocatePaymentRequest(
        id=made["id"], allocations=[fpb.Allocation(invoice_id=invoice["id"], amount=money(20_000))]
    )
    expect = {
        "payment": {
            "id": made["id"],
            "amount": amount(50_000),
            "unallocated": amount(30_000),
            "allocations": [
                {
                    "invoice_id": invoice["id"],
                    "amount": amount(20_000),
                    "applied": amount(20_000),
                    "exchange_difference_minor": "0",
                }
            ],
            "entry_ids": [made["entry_ids"][0], NONEMPTY],
        }
    }

    def settled(_: Json) -> None:
        after = w.get(f"/v1/finance/invoices/{invoice['id']}")["invoice"]
        assert after["state"] == "INVOICE_STATE_PAID", after

    return Call(request, expect, also=settled)


# --- bank reconciliation


@happy("ImportBankStatement")
def _import_statement(w: World) -> Call:
    """A CSV of two lines: 123.45 in, matched by reference to the payment (suggested:
    auto-confirm is off by default), and a bank fee that matches nothing."""
    t = w.fresh()
    reference = unique("REF-")
    paid = w.payment(12_345, reference=reference, as_=t)
    content = csv(f"{ON},123.45,{reference},Initech payment", "2026-03-11,-5.00,FEE,Bank fee")
    request = pb.ImportBankStatementRequest(format=fpb.STATEMENT_FORMAT_CSV, content=content)
    expect = {
        "statement": {
            "id": NONEMPTY,
            "bank_account_id": w.id_of("1100", t),
            "format": "STATEMENT_FORMAT_CSV",
            "line_count": 2,
            "matched_count": 0,
            "suggested_count": 1,
            "import_time": NONEMPTY,
        },
        "lines": [
            {
                "date": date_json(ON),
                "amount": amount(12_345),
                "reference": reference,
                "description": "Initech payment",
                "state": "MATCH_STATE_SUGGESTED",
                "payment_id": paid["id"],
                "match_reason": "amount, same date, reference",
            },
            {
                "date": date_json("2026-03-11"),
                "amount": amount(-500),
                "reference": "FEE",
                "description": "Bank fee",
                "state": "MATCH_STATE_UNMATCHED",
                "payment_id": "",
                "match_reason": "",
            },
        ],
    }
    return Call(request, expect, as_=t)


@happy("ListStatementLines")
def _list_lines(w: World) -> Call:
    t = w.fresh()
    _, imported = w.paid_and_matched(t)
    fee = imported["lines"][1]
    request = pb.ListStatementLinesRequest(
        statement_id=imported["statement"]["id"], state=fpb.MATCH_STATE_UNMATCHED
    )
    expect = {
        "lines": [{"id": fee["id"], "amount": amount(-500), "state": "MATCH_STATE_UNMATCHED"}],
        "next_page_token": "",
    }
    return Call(request, expect, as_=t)


@happy("MatchStatementLine")
def _match_line(w: World) -> Call:
    t = w.fresh()
    paid, imported = w.paid_and_matched(t)
    line = imported["lines"][0]
    expect = {
        "line": {
            "id": line["id"],
            "state": "MATCH_STATE_MATCHED",
            "payment_id": paid["id"],
            "match_reason": "amount, same date, reference",
        }
    }

    def reconciled(_: Json) -> None:
        assert w.get(f"/v1/finance/payments/{paid['id']}", t)["payment"]["reconciled"] is True

    return Call(pb.MatchStatementLineRequest(id=line["id"]), expect, also=reconciled, as_=t)


@happy("UnmatchStatementLine")
def _unmatch_line(w: World) -> Call:
    t = w.fresh()
    _, imported = w.paid_and_matched(t)
    line = imported["lines"][0]
    expect = {
        "line": {
            "id": line["id"],
            "state": "MATCH_STATE_UNMATCHED",
            "payment_id": "",
            "match_reason": "",
        }
    }

    def waiting(_: Json) -> None:
        statement = imported["statement"]["id"]
        path = f"/v1/finance/bank-statements/{statement}/lines?state=MATCH_STATE_UNMATCHED"
        assert len(w.get(path, t)["lines"]) == 2

    return Call(pb.UnmatchStatementLineRequest(id=line["id"]), expect, also=waiting, as_=t)


# --- reports


def report_line(w: World, t: Tenant, code: str, **values: int) -> Json:
    """A report line of account `code` with its amounts (int64 as strings)."""
    account = w.chart(t)[code]
    return {
        "account_id": account["id"],
        "code": code,
        "name": account["name"],
        "type": account["type"],
        "parent_id": account["parent_id"],
        **{f"{k}_minor": str(v) for k, v in values.items()},
    }


@happy("GetTrialBalance")
def _trial_balance(w: World) -> Call:
    t = w.fresh()
    w.move("2026-03-05", "1100", "3100", 100_000, as_=t)
    w.move("2026-04-10", "5200", "1100", 25_000, as_=t)
    request = pb.GetTrialBalanceRequest(as_of="2026-12-31", compare_as_of="2026-03-31")
    line = report_line
    expect = {
        "as_of": "2026-12-31",
        "compare_as_of": "2026-03-31",
        "currency_code": CURRENCY,
        "lines": [
            line(
                w, t, "1100", debit=100_000, credit=25_000, balance=75_000, previous_balance=100_000
            ),
            line(w, t, "3100", debit=0, credit=100_000, balance=100_000, previous_balance=100_000),
            line(w, t, "5200", debit=25_000, credit=0, balance=25_000, previous_balance=0),
        ],
        "total_debit_minor": "125000",
        "total_credit_minor": "125000",
    }
    return Call(request, expect, as_=t)


@happy("GetIncomeStatement")
def _income_statement(w: World) -> Call:
    t = w.fresh()
    w.move("2025-06-10", "1100", "4100", 40_000, as_=t)
    w.move("2026-02-10", "1100", "4100", 100_000, as_=t)
    w.move("2026-05-10", "5200", "1100", 30_000, as_=t)
    request = pb.GetIncomeStatementRequest(from_date="2026-01-01", to_date="2026-12-31")
    line = report_line
    expect = {
        "from_date": "2026-01-01",
        "to_date": "2026-12-31",
        "previous_from_date": "2025-01-01",
        "previous_to_date": "2025-12-31",
        "currency_code": CURRENCY,
        "income": [line(w, t, "4100", balance=100_000, previous_balance=40_000)],
        "expenses": [line(w, t, "5200", balance=30_000, previous_balance=0)],
        "total_income_minor": "100000",
        "total_expense_minor": "30000",
        "net_income_minor": "70000",
        "previous_net_income_minor": "40000",
    }
    return Call(request, expect, as_=t)


@happy("GetBalanceSheet")
def _balance_sheet(w: World) -> Call:
    """Assets 1150.00 = capital 1000.00 + this year's result 150.00."""
    t = w.fresh()
    w.move("2026-03-05", "1100", "3100", 100_000, as_=t)
    w.move("2026-04-10", "1100", "4100", 20_000, as_=t)
    w.move("2026-05-10", "5200", "1100", 5_000, as_=t)
    request = pb.GetBalanceSheetRequest(as_of="2026-12-31", compare_as_of="2026-03-31")
    line = report_line
    expect = {
        "as_of": "2026-12-31",
        "compare_as_of": "2026-03-31",
        "currency_code": CURRENCY,
        "assets": [line(w, t, "1100", balance=115_000, previous_balance=100_000)],
        "liabilities": [],
        "equity": [line(w, t, "3100", balance=100_000, previous_balance=100_000)],
        "current_earnings_minor": "15000",
        "total_assets_minor": "115000",
        "total_liabilities_minor": "0",
        "total_equity_minor": "115000",
        "previous_total_assets_minor": "100000",
        "previous_total_liabilities_minor": "0",
        "previous_total_equity_minor": "100000",
        "previous_current_earnings_minor": "0",
    }
    return Call(request, expect, as_=t)
