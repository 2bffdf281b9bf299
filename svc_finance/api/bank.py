"""Bank reconciliation RPCs: contract messages in, use cases called, messages out.
No SQL and no rules here."""

from __future__ import annotations

from collections.abc import Sequence

from erp.finance.v1 import finance_pb2 as pb
from erp.finance.v1 import finance_service_pb2 as api
from mesh.dates import to_date_message
from mesh.timestamps import to_timestamp
from mesh.values import required
from svc_finance.api.base import ApiBase, Ctx
from svc_finance.app import bank
from svc_finance.app.common import replayable
from svc_finance.convert import enum_in, money
from svc_finance.domain.matching import MatchState
from svc_finance.domain.statements import Format
from svc_finance.store import StatementLineRow, StatementRow

FORMAT_OF: dict[int, Format] = {
    pb.STATEMENT_FORMAT_CSV: Format.CSV,
    pb.STATEMENT_FORMAT_OFX: Format.OFX,
}
FORMAT_TO: dict[str, pb.StatementFormat.ValueType] = {
    Format.CSV.value: pb.STATEMENT_FORMAT_CSV,
    Format.OFX.value: pb.STATEMENT_FORMAT_OFX,
}
STATE_OF: dict[int, MatchState] = {
    pb.MATCH_STATE_UNMATCHED: MatchState.UNMATCHED,
    pb.MATCH_STATE_SUGGESTED: MatchState.SUGGESTED,
    pb.MATCH_STATE_MATCHED: MatchState.MATCHED,
}
STATE_TO: dict[str, pb.MatchState.ValueType] = {
    MatchState.UNMATCHED.value: pb.MATCH_STATE_UNMATCHED,
    MatchState.SUGGESTED.value: pb.MATCH_STATE_SUGGESTED,
    MatchState.MATCHED.value: pb.MATCH_STATE_MATCHED,
}


def statement_line(row: StatementLineRow) -> pb.StatementLine:
    return pb.StatementLine(
        id=row.id,
        statement_id=row.statement_id,
        date=to_date_message(row.date),
        amount=money(row.currency, row.amount_minor),
        reference=row.reference,
        description=row.description,
        state=STATE_TO.get(row.state, pb.MATCH_STATE_UNSPECIFIED),
        payment_id=row.payment_id,
        match_reason=row.reason,
    )


def bank_statement(row: StatementRow, lines: Sequence[StatementLineRow]) -> pb.BankStatement:
    """The statement with its counts, computed from its lines."""
    states = [line.state for line in lines]
    return pb.BankStatement(
        id=row.id,
        bank_account_id=row.bank_account_id,
        format=FORMAT_TO.get(row.format, pb.STATEMENT_FORMAT_UNSPECIFIED),
        line_count=row.line_count,
        matched_count=states.count(MatchState.MATCHED.value),
        suggested_count=states.count(MatchState.SUGGESTED.value),
        import_time=to_timestamp(row.imported_at),
    )


class BankApi(ApiBase):
    async def ImportBankStatement(  # noqa: N802
        self, request: api.ImportBankStatementRequest, context: Ctx
    ) -> api.ImportBankStatementResponse:
        fmt = enum_in(FORMAT_OF, request.format, "format", "CSV or OFX")

        async def run() -> api.ImportBankStatementResponse:
            imported = await bank.import_statement(
                self.deps, session, request.bank_account_id, fmt, request.content
            )
            return api.ImportBankStatementResponse(
                statement=bank_statement(imported.statement, imported.lines),
                lines=[statement_line(line) for line in imported.lines],
            )

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, api.ImportBankStatementResponse, run)

    async def ListStatementLines(  # noqa: N802
        self, request: api.ListStatementLinesRequest, context: Ctx
    ) -> api.ListStatementLinesResponse:
        state = None
        if request.state != pb.MATCH_STATE_UNSPECIFIED:
            state = enum_in(STATE_OF, request.state, "state", "UNMATCHED, SUGGESTED or MATCHED")
        rows, token = await bank.list_lines(
            self.deps,
            required(request.statement_id, "statement_id"),
            state,
            request.page_size,
            request.page_token,
        )
        return api.ListStatementLinesResponse(
            lines=[statement_line(r) for r in rows], next_page_token=token
        )

    async def MatchStatementLine(  # noqa: N802
        self, request: api.MatchStatementLineRequest, context: Ctx
    ) -> api.MatchStatementLineResponse:
        row = await bank.match_line(self.deps, required(request.id, "id"), request.payment_id)
        return api.MatchStatementLineResponse(line=statement_line(row))

    async def UnmatchStatementLine(  # noqa: N802
        self, request: api.UnmatchStatementLineRequest, context: Ctx
    ) -> api.UnmatchStatementLineResponse:
        row = await bank.unmatch_line(self.deps, required(request.id, "id"))
        return api.UnmatchStatementLineResponse(line=statement_line(row))
