"""The chart of accounts: account types, codes, the default chart a tenant starts
with, and the roles by which postings find their accounts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mesh.errors import FieldViolation

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,19}")
NAME_MAX = 200
DESCRIPTION_MAX = 500


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        """Assets and expenses grow by debits; the others by credits."""
        return self in (AccountType.ASSET, AccountType.EXPENSE)

    def balance(self, debit: int, credit: int) -> int:
        """Balance on the account's normal side."""
        return debit - credit if self.debit_normal else credit - debit


class Role(StrEnum):
    """Accounts postings find by themselves."""

    BANK = "bank"
    RECEIVABLE = "receivable"
    PAYABLE = "payable"
    SALES = "sales"
    PURCHASES = "purchases"
    TAX_PAYABLE = "tax_payable"
    TAX_RECEIVABLE = "tax_receivable"
    CUSTOMER_CREDIT = "customer_credit"
    VENDOR_CREDIT = "vendor_credit"
    FX_GAIN = "fx_gain"
    FX_LOSS = "fx_loss"
    FX_UNREALISED = "fx_unrealised"
    RETAINED_EARNINGS = "retained_earnings"


@dataclass(frozen=True)
class DefaultAccount:
    code: str
    name: str
    type: AccountType
    parent_code: str = ""
    role: Role | None = None


A, L, E, IN, X = (
    AccountType.ASSET,
    AccountType.LIABILITY,
    AccountType.EQUITY,
    AccountType.INCOME,
    AccountType.EXPENSE,
)
# Parents before children.
DEFAULT_CHART: tuple[DefaultAccount, ...] = (
    DefaultAccount("1000", "Assets", A),
    DefaultAccount("1100", "Bank", A, "1000", Role.BANK),
    DefaultAccount("1200", "Accounts receivable", A, "1000", Role.RECEIVABLE),
    DefaultAccount("1300", "Input tax", A, "1000", Role.TAX_RECEIVABLE),
    DefaultAccount("1400", "Advances to vendors", A, "1000", Role.VENDOR_CREDIT),
    DefaultAccount("2000", "Liabilities", L),
    DefaultAccount("2100", "Accounts payable", L, "2000", Role.PAYABLE),
    DefaultAccount("2200", "Tax payable", L, "2000", Role.TAX_PAYABLE),
    DefaultAccount("2300", "Customer credits", L, "2000", Role.CUSTOMER_CREDIT),
    DefaultAccount("3000", "Equity", E),
    DefaultAccount("3100", "Share capital", E, "3000"),
    DefaultAccount("3200", "Retained earnings", E, "3000", Role.RETAINED_EARNINGS),
    DefaultAccount("4000", "Income", IN),
    DefaultAccount("4100", "Sales", IN, "4000", Role.SALES),
    DefaultAccount("4800", "Exchange gains", IN, "4000", Role.FX_GAIN),
    DefaultAccount("4900", "Unrealised exchange differences", IN, "4000", Role.FX_UNREALISED),
    DefaultAccount("5000", "Expenses", X),
    DefaultAccount("5100", "Purchases", X, "5000", Role.PURCHASES),
    DefaultAccount("5200", "Operating expenses", X, "5000"),
    DefaultAccount("5800", "Exchange losses", X, "5000", Role.FX_LOSS),
)


def check_account(code: str, name: str, description: str) -> list[FieldViolation]:
    found = []
    if not CODE.fullmatch(code):
        found.append(FieldViolation("code", "1-20 letters, digits, '.' or '-'"))
    if not name.strip():
        found.append(FieldViolation("name", "is required"))
    elif len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
        found.append(FieldViolation("name", f"at most {NAME_MAX} printable characters"))
    if len(description) > DESCRIPTION_MAX or "\x00" in description:
        found.append(FieldViolation("description", f"at most {DESCRIPTION_MAX} characters"))
    return found
