"""The tenant's accounting settings."""

from __future__ import annotations

from collections.abc import Sequence

from erp.finance.v1 import finance_pb2 as pb
from mesh.currencies import CODES
from mesh.errors import FailedPrecondition, InvalidArgument
from mesh.values import check_currency
from svc_finance.app.books import books
from svc_finance.app.common import Deps
from svc_finance.store import BooksRow

RULES = "reconciliation_rules"
PATHS = (
    "company_currency",
    "fiscal_year_start_month",
    RULES,
    f"{RULES}.date_tolerance_days",
    f"{RULES}.match_reference",
    f"{RULES}.auto_confirm",
)
FIXED_ONCE_POSTED = ("company_currency", "fiscal_year_start_month")
TOLERANCE_MAX = 60


def message(row: BooksRow) -> pb.FinanceSettings:
    return pb.FinanceSettings(
        company_currency=row.company_currency,
        fiscal_year_start_month=row.fiscal_year_start_month,
        reconciliation_rules=pb.ReconciliationRules(
            date_tolerance_days=row.match_date_tolerance_days,
            match_reference=row.match_reference,
            auto_confirm=row.match_auto_confirm,
        ),
        books_started=row.chain_seq > 0,
    )


async def get_settings(deps: Deps) -> pb.FinanceSettings:
    async with deps.db.transaction() as session:
        return message(await books(session, deps))


async def update_settings(
    deps: Deps, given: pb.FinanceSettings, paths: Sequence[str]
) -> pb.FinanceSettings:
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        raise InvalidArgument.one("update_mask", f"cannot change {', '.join(unknown)}")
    changes = set(paths)
    if RULES in changes:
        changes |= {p for p in PATHS if p.startswith(f"{RULES}.")}
    if "company_currency" in changes:
        problems = check_currency(given.company_currency, "settings.company_currency")
        if problems:
            raise InvalidArgument(problems)
        if given.company_currency not in CODES:
            raise InvalidArgument.one("settings.company_currency", "not a supported currency")
    if "fiscal_year_start_month" in changes and not 1 <= given.fiscal_year_start_month <= 12:
        raise InvalidArgument.one("settings.fiscal_year_start_month", "must be 1 to 12")
    tolerance = given.reconciliation_rules.date_tolerance_days
    if f"{RULES}.date_tolerance_days" in changes and not 0 <= tolerance <= TOLERANCE_MAX:
        raise InvalidArgument.one(
            "settings.reconciliation_rules.date_tolerance_days", f"must be 0 to {TOLERANCE_MAX}"
        )
    async with deps.db.transaction() as session:
        row = await books(session, deps, lock=True)
        fixed = [p for p in FIXED_ONCE_POSTED if p in changes]
        if fixed and row.chain_seq > 0:
            raise FailedPrecondition(
                f"{', '.join(fixed)} cannot change once entries are posted",
                reason="BOOKS_STARTED",
            )
        if "company_currency" in changes:
            row.company_currency = given.company_currency
        if "fiscal_year_start_month" in changes:
            row.fiscal_year_start_month = given.fiscal_year_start_month
        rules = given.reconciliation_rules
        if f"{RULES}.date_tolerance_days" in changes:
            row.match_date_tolerance_days = rules.date_tolerance_days
        if f"{RULES}.match_reference" in changes:
            row.match_reference = rules.match_reference
        if f"{RULES}.auto_confirm" in changes:
            row.match_auto_confirm = rules.auto_confirm
        return message(row)
