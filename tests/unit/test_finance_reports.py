"""Financial statements from per-account sums: normal-side balances, sections by
code, comparison columns, and the identities a balanced ledger gives (debits =
credits; assets = liabilities + equity + current earnings)."""

from __future__ import annotations

import random

from svc_finance.domain.chart import AccountType
from svc_finance.domain.reports import (
    AccountInfo,
    Sums,
    balance_sheet,
    earnings,
    income_statement,
    trial_balance,
)

A, L, E, IN, X = (
    AccountType.ASSET,
    AccountType.LIABILITY,
    AccountType.EQUITY,
    AccountType.INCOME,
    AccountType.EXPENSE,
)
BANK = AccountInfo("bank", "1100", "Bank", A, "assets")
RECEIVABLE = AccountInfo("ar", "1200", "Receivable", A, "assets")
PAYABLE = AccountInfo("ap", "2100", "Payable", L)
CAPITAL = AccountInfo("cap", "3100", "Share capital", E)
RETAINED = AccountInfo("re", "3200", "Retained earnings", E)
SALES = AccountInfo("sales", "4100", "Sales", IN)
PURCHASES = AccountInfo("purch", "5100", "Purchases", X)
RENT = AccountInfo("rent", "5200", "Rent", X)
UNUSED = AccountInfo("unused", "1300", "Never posted to", A)
# Out of code order on purpose: reports sort.
CHART = [SALES, RENT, UNUSED, CAPITAL, PAYABLE, RECEIVABLE, BANK, RETAINED, PURCHASES]


def post(*entries: list[tuple[AccountInfo, int, int]]) -> dict[str, Sums]:
    """Per-account sums of balanced entries of (account, debit, credit) lines."""
    sums: dict[str, Sums] = {}
    for lines in entries:
        assert sum(d for _, d, _ in lines) == sum(c for _, _, c in lines)
        for account, debit, credit in lines:
            before = sums.get(account.id, Sums())
            sums[account.id] = Sums(before.debit + debit, before.credit + credit)
    return sums


CAPITAL_IN = [(BANK, 10_000, 0), (CAPITAL, 0, 10_000)]
SALE = [(RECEIVABLE, 1_500, 0), (SALES, 0, 1_500)]
COLLECTED = [(BANK, 1_000, 0), (RECEIVABLE, 0, 1_000)]
BOUGHT = [(PURCHASES, 400, 0), (PAYABLE, 0, 400)]
RENT_PAID = [(RENT, 300, 0), (BANK, 0, 300)]
# Year-end close: income and expense to retained earnings (1500 - 400 - 300 = 800).
CLOSE = [(SALES, 1_500, 0), (PURCHASES, 0, 400), (RENT, 0, 300), (RETAINED, 0, 800)]


def test_trial_balance_lists_accounts_with_lines_by_code_and_totals_match() -> None:
    current = post(CAPITAL_IN, SALE, COLLECTED, BOUGHT, RENT_PAID)
    tb = trial_balance(CHART, current, {})
    assert [(r.account.code, r.debit, r.credit, r.balance) for r in tb.rows] == [
        ("1100", 11_000, 300, 10_700),
        ("1200", 1_500, 1_000, 500),
        ("2100", 0, 400, 400),  # credit-normal: credit - debit
        ("3100", 0, 10_000, 10_000),
        ("4100", 0, 1_500, 1_500),
        ("5100", 400, 0, 400),  # debit-normal
        ("5200", 300, 0, 300),
    ]
    assert "unused" not in {r.account.id for r in tb.rows}
    assert tb.total_debit == tb.total_credit == 13_200


def test_trial_balance_keeps_a_settled_account_and_one_active_only_in_the_comparison() -> None:
    # The receivable nets to zero but had lines: it stays, with balance 0.
    current = post(
        CAPITAL_IN, [(RECEIVABLE, 50, 0), (BANK, 0, 50)], [(BANK, 50, 0), (RECEIVABLE, 0, 50)]
    )
    # A later comparison date can hold lines the report date does not.
    previous = post(CAPITAL_IN, RENT_PAID)
    tb = trial_balance(CHART, current, previous)
    by_code = {r.account.code: r for r in tb.rows}
    assert (by_code["1200"].debit, by_code["1200"].credit, by_code["1200"].balance) == (50, 50, 0)
    rent = by_code["5200"]
    assert (rent.debit, rent.credit, rent.balance, rent.previous_balance) == (0, 0, 0, 300)
    assert by_code["1100"].previous_balance == 9_700
    assert tb.total_debit == tb.total_credit == 10_100


def test_trial_balance_of_an_empty_ledger_is_empty() -> None:
    tb = trial_balance(CHART, {}, {})
    assert (tb.rows, tb.total_debit, tb.total_credit) == ((), 0, 0)


def test_unknown_account_ids_count_nowhere() -> None:
    tb = trial_balance([BANK], post(CAPITAL_IN), {})
    assert [r.account.id for r in tb.rows] == ["bank"]


def test_income_statement_sections_totals_and_comparison() -> None:
    current = post(SALE, BOUGHT, RENT_PAID)
    previous = post(
        [(RECEIVABLE, 700, 0), (SALES, 0, 700)], [(PURCHASES, 200, 0), (PAYABLE, 0, 200)]
    )
    report = income_statement(CHART, current, previous)
    assert [(r.account.code, r.balance, r.previous_balance) for r in report.income] == [
        ("4100", 1_500, 700)
    ]
    assert [(r.account.code, r.balance, r.previous_balance) for r in report.expenses] == [
        ("5100", 400, 200),
        ("5200", 300, 0),
    ]
    assert (report.total_income, report.total_expense, report.net_income) == (1_500, 700, 800)
    assert report.previous_net_income == 500
    # Balance sheet accounts are not on it.
    codes = {r.account.code for r in (*report.income, *report.expenses)}
    assert codes == {"4100", "5100", "5200"}


def test_income_statement_loss_is_negative() -> None:
    report = income_statement(CHART, post(RENT_PAID), {})
    assert (report.total_income, report.total_expense, report.net_income) == (0, 300, -300)
    assert report.income == ()


def test_returns_and_refunds_reduce_their_section() -> None:
    # A sales return debits sales: a negative income balance, not an expense.
    refund = [(SALES, 200, 0), (BANK, 0, 200)]
    report = income_statement(CHART, post(SALE, refund), {})
    assert [(r.account.code, r.debit, r.credit, r.balance) for r in report.income] == [
        ("4100", 200, 1_500, 1_300)
    ]
    assert report.net_income == 1_300


def test_balance_sheet_shows_unclosed_result_as_current_earnings_and_balances() -> None:
    current = post(CAPITAL_IN, SALE, COLLECTED, BOUGHT, RENT_PAID)
    sheet = balance_sheet(CHART, current, {})
    assert [(r.account.code, r.balance) for r in sheet.assets] == [("1100", 10_700), ("1200", 500)]
    assert [(r.account.code, r.balance) for r in sheet.liabilities] == [("2100", 400)]
    assert [(r.account.code, r.balance) for r in sheet.equity] == [("3100", 10_000)]
    assert sheet.current_earnings == 800
    assert sheet.total_assets == 11_200
    assert sheet.total_liabilities == 400
    assert sheet.total_equity == 10_800  # capital + current earnings
    assert sheet.total_assets == sheet.total_liabilities + sheet.total_equity


def test_after_the_year_end_close_the_result_is_in_retained_earnings() -> None:
    before = post(CAPITAL_IN, SALE, COLLECTED, BOUGHT, RENT_PAID)
    after = post(CAPITAL_IN, SALE, COLLECTED, BOUGHT, RENT_PAID, CLOSE)
    sheet = balance_sheet(CHART, after, before)
    assert sheet.current_earnings == 0
    assert [(r.account.code, r.balance, r.previous_balance) for r in sheet.equity] == [
        ("3100", 10_000, 10_000),
        ("3200", 800, 0),
    ]
    assert sheet.total_equity == sheet.previous_total_equity == 10_800
    assert sheet.previous_current_earnings == 800
    assert sheet.total_assets == sheet.previous_total_assets == 11_200
    assert sheet.total_liabilities == sheet.previous_total_liabilities == 400


def test_balance_sheet_comparison_column() -> None:
    previous = post(CAPITAL_IN)
    current = post(CAPITAL_IN, SALE, BOUGHT)
    sheet = balance_sheet(CHART, current, previous)
    by_code = {r.account.code: r for r in (*sheet.assets, *sheet.liabilities, *sheet.equity)}
    assert (by_code["1200"].balance, by_code["1200"].previous_balance) == (1_500, 0)
    assert (by_code["1100"].balance, by_code["1100"].previous_balance) == (10_000, 10_000)
    assert (sheet.previous_total_assets, sheet.previous_total_liabilities) == (10_000, 0)
    assert (sheet.previous_total_equity, sheet.previous_current_earnings) == (10_000, 0)
    assert sheet.current_earnings == 1_100
    # Income and expense accounts are never lines of the sheet.
    assert {"4100", "5100"}.isdisjoint(by_code)


def test_random_balanced_ledgers_balance_every_report() -> None:
    rng = random.Random(20260331)  # noqa: S311 - not secret
    accounts = [BANK, RECEIVABLE, PAYABLE, CAPITAL, RETAINED, SALES, PURCHASES, RENT]
    for _ in range(200):
        entries = []
        for _ in range(rng.randint(0, 12)):
            picked = rng.sample(accounts, rng.randint(2, 4))
            amounts = [rng.randint(1, 10**9) for _ in picked[1:]]
            # The first line balances the others, on whichever side that takes.
            sides = [
                (a, x, 0) if rng.random() < 0.5 else (a, 0, x)
                for a, x in zip(picked[1:], amounts, strict=True)
            ]
            net = sum(d - c for _, d, c in sides)
            first = (picked[0], -net, 0) if net < 0 else (picked[0], 0, net)
            entries.append([first, *sides])
        sums = post(*entries)
        tb = trial_balance(accounts, sums, {})
        assert tb.total_debit == tb.total_credit
        sheet = balance_sheet(accounts, sums, sums)
        assert sheet.total_assets == sheet.total_liabilities + sheet.total_equity
        assert sheet.previous_total_assets == (
            sheet.previous_total_liabilities + sheet.previous_total_equity
        )
        assert sheet.current_earnings == earnings(accounts, sums)
        assert income_statement(accounts, sums, {}).net_income == sheet.current_earnings
