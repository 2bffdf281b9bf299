"""Financial statements from per-account sums: the trial balance, the income
statement and the balance sheet, each with a comparison column.

A column is the sums of company-currency debits and credits per account id over
some lines (up to a date, or over a period). Amounts are minor units of the
company currency; a balance is on the account's normal side (`AccountType.balance`).

Every line of a balanced ledger is one side of a balanced entry, so over any set
of whole entries Σ debits = Σ credits. Then, per column:

    assets = liabilities + equity + (income - expense)

which is why the balance sheet shows the not-yet-closed income - expense as current
earnings: closing entries move it into retained earnings, and until then it is
still sitting on the income and expense accounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from svc_finance.domain.chart import AccountType


@dataclass(frozen=True)
class AccountInfo:
    id: str
    code: str
    name: str
    type: AccountType
    parent_id: str = ""


@dataclass(frozen=True)
class Sums:
    """Company-currency debits and credits of one account's lines."""

    debit: int = 0
    credit: int = 0

    @property
    def active(self) -> bool:
        return self.debit != 0 or self.credit != 0


NO_SUMS = Sums()
Column = Mapping[str, Sums]  # account id -> its sums; accounts without lines absent


@dataclass(frozen=True)
class ReportRow:
    """One account on a report: the column's sums and balance, and the comparison
    column's balance."""

    account: AccountInfo
    debit: int
    credit: int
    balance: int
    previous_balance: int


@dataclass(frozen=True)
class TrialBalance:
    rows: tuple[ReportRow, ...]
    total_debit: int
    total_credit: int


@dataclass(frozen=True)
class IncomeStatement:
    income: tuple[ReportRow, ...]
    expenses: tuple[ReportRow, ...]
    total_income: int
    total_expense: int
    net_income: int
    previous_net_income: int


@dataclass(frozen=True)
class BalanceSheet:
    assets: tuple[ReportRow, ...]
    liabilities: tuple[ReportRow, ...]
    equity: tuple[ReportRow, ...]
    current_earnings: int
    total_assets: int
    total_liabilities: int
    total_equity: int  # including current earnings
    previous_current_earnings: int
    previous_total_assets: int
    previous_total_liabilities: int
    previous_total_equity: int


def _ordered(accounts: Iterable[AccountInfo]) -> list[AccountInfo]:
    return sorted(accounts, key=lambda a: (a.code, a.id))


def _rows(
    accounts: list[AccountInfo], types: set[AccountType], current: Column, previous: Column
) -> tuple[ReportRow, ...]:
    """Accounts of `types` with lines in either column, in the given order."""
    found = []
    for account in accounts:
        if account.type not in types:
            continue
        now = current.get(account.id, NO_SUMS)
        before = previous.get(account.id, NO_SUMS)
        if not (now.active or before.active):
            continue
        found.append(
            ReportRow(
                account=account,
                debit=now.debit,
                credit=now.credit,
                balance=account.type.balance(now.debit, now.credit),
                previous_balance=account.type.balance(before.debit, before.credit),
            )
        )
    return tuple(found)


def _total(accounts: list[AccountInfo], kind: AccountType, column: Column) -> int:
    """Σ balances of the accounts of `kind` in `column` (sums of unknown ids count
    nowhere: the caller reads the chart after the sums, so there are none)."""
    total = 0
    for account in accounts:
        if account.type is kind:
            sums = column.get(account.id, NO_SUMS)
            total += kind.balance(sums.debit, sums.credit)
    return total


def earnings(accounts: Iterable[AccountInfo], column: Column) -> int:
    """Income - expense of a column."""
    listed = list(accounts)
    income = _total(listed, AccountType.INCOME, column)
    return income - _total(listed, AccountType.EXPENSE, column)


def trial_balance(
    accounts: Iterable[AccountInfo], current: Column, previous: Column
) -> TrialBalance:
    """Every account with lines (in either column) by code, with its debit and
    credit sums; the totals are the current column's."""
    rows = _rows(_ordered(accounts), set(AccountType), current, previous)
    return TrialBalance(
        rows=rows,
        total_debit=sum(r.debit for r in rows),
        total_credit=sum(r.credit for r in rows),
    )


def income_statement(
    accounts: Iterable[AccountInfo], current: Column, previous: Column
) -> IncomeStatement:
    """Income and expense accounts with lines in either period, by code. The
    columns should leave out year-end closing entries, which empty these accounts."""
    listed = _ordered(accounts)
    total_income = _total(listed, AccountType.INCOME, current)
    total_expense = _total(listed, AccountType.EXPENSE, current)
    return IncomeStatement(
        income=_rows(listed, {AccountType.INCOME}, current, previous),
        expenses=_rows(listed, {AccountType.EXPENSE}, current, previous),
        total_income=total_income,
        total_expense=total_expense,
        net_income=total_income - total_expense,
        previous_net_income=earnings(listed, previous),
    )


def balance_sheet(
    accounts: Iterable[AccountInfo], current: Column, previous: Column
) -> BalanceSheet:
    """Asset, liability and equity accounts with lines at either date, by code;
    equity's total includes current earnings (income - expense not yet closed)."""
    listed = _ordered(accounts)
    a, li, eq = AccountType.ASSET, AccountType.LIABILITY, AccountType.EQUITY
    current_earnings = earnings(listed, current)
    previous_earnings = earnings(listed, previous)
    return BalanceSheet(
        assets=_rows(listed, {a}, current, previous),
        liabilities=_rows(listed, {li}, current, previous),
        equity=_rows(listed, {eq}, current, previous),
        current_earnings=current_earnings,
        total_assets=_total(listed, a, current),
        total_liabilities=_total(listed, li, current),
        total_equity=_total(listed, eq, current) + current_earnings,
        previous_current_earnings=previous_earnings,
        previous_total_assets=_total(listed, a, previous),
        previous_total_liabilities=_total(listed, li, previous),
        previous_total_equity=_total(listed, eq, previous) + previous_earnings,
    )
