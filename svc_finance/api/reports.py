"""Financial statement RPCs: contract messages in, use cases called, messages out.
No SQL and no rules here."""

from __future__ import annotations

from collections.abc import Iterable

from erp.finance.v1 import finance_pb2
from erp.finance.v1 import finance_service_pb2 as pb
from svc_finance.api.base import ApiBase, Ctx
from svc_finance.app import reports
from svc_finance.convert import ACCOUNT_TYPE_TO
from svc_finance.domain.reports import ReportRow


def _lines(rows: Iterable[ReportRow]) -> list[finance_pb2.ReportLine]:
    return [
        finance_pb2.ReportLine(
            account_id=row.account.id,
            code=row.account.code,
            name=row.account.name,
            type=ACCOUNT_TYPE_TO[row.account.type.value],  # type: ignore[arg-type]
            parent_id=row.account.parent_id,
            debit_minor=row.debit,
            credit_minor=row.credit,
            balance_minor=row.balance,
            previous_balance_minor=row.previous_balance,
        )
        for row in rows
    ]


class ReportsApi(ApiBase):
    async def GetTrialBalance(  # noqa: N802
        self, request: pb.GetTrialBalanceRequest, context: Ctx
    ) -> pb.GetTrialBalanceResponse:
        found = await reports.get_trial_balance(self.deps, request.as_of, request.compare_as_of)
        report = found.report
        return pb.GetTrialBalanceResponse(
            as_of=found.as_of.isoformat(),
            compare_as_of=found.compare_as_of.isoformat(),
            currency_code=found.currency,
            lines=_lines(report.rows),
            total_debit_minor=report.total_debit,
            total_credit_minor=report.total_credit,
        )

    async def GetIncomeStatement(  # noqa: N802
        self, request: pb.GetIncomeStatementRequest, context: Ctx
    ) -> pb.GetIncomeStatementResponse:
        found = await reports.get_income_statement(self.deps, request.from_date, request.to_date)
        report = found.report
        return pb.GetIncomeStatementResponse(
            from_date=found.from_date.isoformat(),
            to_date=found.to_date.isoformat(),
            previous_from_date=found.previous_from_date.isoformat(),
            previous_to_date=found.previous_to_date.isoformat(),
            currency_code=found.currency,
            income=_lines(report.income),
            expenses=_lines(report.expenses),
            total_income_minor=report.total_income,
            total_expense_minor=report.total_expense,
            net_income_minor=report.net_income,
            previous_net_income_minor=report.previous_net_income,
        )

    async def GetBalanceSheet(  # noqa: N802
        self, request: pb.GetBalanceSheetRequest, context: Ctx
    ) -> pb.GetBalanceSheetResponse:
        found = await reports.get_balance_sheet(self.deps, request.as_of, request.compare_as_of)
        report = found.report
        return pb.GetBalanceSheetResponse(
            as_of=found.as_of.isoformat(),
            compare_as_of=found.compare_as_of.isoformat(),
            currency_code=found.currency,
            assets=_lines(report.assets),
            liabilities=_lines(report.liabilities),
            equity=_lines(report.equity),
            current_earnings_minor=report.current_earnings,
            total_assets_minor=report.total_assets,
            total_liabilities_minor=report.total_liabilities,
            total_equity_minor=report.total_equity,
            previous_total_assets_minor=report.previous_total_assets,
            previous_total_liabilities_minor=report.previous_total_liabilities,
            previous_total_equity_minor=report.previous_total_equity,
            previous_current_earnings_minor=report.previous_current_earnings,
        )
