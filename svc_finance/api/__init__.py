"""The FinanceService servicer, one part per area; each part translates contract
messages to use-case calls and back, with no SQL and no rules."""

from __future__ import annotations

from erp.finance.v1 import finance_service_pb2_grpc
from svc_finance.api.bank import BankApi
from svc_finance.api.documents import DocumentsApi
from svc_finance.api.ledger import LedgerApi
from svc_finance.api.reports import ReportsApi


class FinanceApi(
    LedgerApi,
    DocumentsApi,
    BankApi,
    ReportsApi,
    finance_service_pb2_grpc.FinanceServiceServicer,
):
    """Every RPC of erp.finance.v1.FinanceService (the generated base answers
    UNIMPLEMENTED for any the parts lack, which a test forbids)."""
