"""Settings, chart of accounts, journal, periods and exchange-rate RPCs: contract
messages in, use cases called, messages out. No SQL and no rules here."""

from __future__ import annotations

from erp.finance.v1 import finance_service_pb2 as api
from mesh.dates import from_date_message, from_iso
from mesh.errors import InvalidArgument
from mesh.values import required
from svc_finance import convert
from svc_finance.api.base import ApiBase, Ctx, paths_of
from svc_finance.app import accounts, journal, periods, rates, settings

ACCOUNT_TYPE = "asset, liability, equity, income or expense"


class LedgerApi(ApiBase):
    # --- settings ----------------------------------------------------------------------

    async def GetFinanceSettings(  # noqa: N802
        self, request: api.GetFinanceSettingsRequest, context: Ctx
    ) -> api.GetFinanceSettingsResponse:
        return api.GetFinanceSettingsResponse(settings=await settings.get_settings(self.deps))

    async def UpdateFinanceSettings(  # noqa: N802
        self, request: api.UpdateFinanceSettingsRequest, context: Ctx
    ) -> api.UpdateFinanceSettingsResponse:
        paths = paths_of(
            request.update_mask,
            request.settings,
            ("company_currency", "fiscal_year_start_month", "reconciliation_rules"),
            expand=("reconciliation_rules",),
        )
        found = await settings.update_settings(self.deps, request.settings, paths)
        return api.UpdateFinanceSettingsResponse(settings=found)

    # --- accounts ----------------------------------------------------------------------

    async def ListAccounts(  # noqa: N802
        self, request: api.ListAccountsRequest, context: Ctx
    ) -> api.ListAccountsResponse:
        of_type = (
            convert.enum_in(convert.ACCOUNT_TYPE_OF, request.type, "type", ACCOUNT_TYPE)
            if request.type
            else None
        )
        rows, token = await accounts.list_accounts(
            self.deps, of_type, request.include_archived, request.page_size, request.page_token
        )
        return api.ListAccountsResponse(
            accounts=[convert.account(r) for r in rows], next_page_token=token
        )

    async def GetAccount(  # noqa: N802
        self, request: api.GetAccountRequest, context: Ctx
    ) -> api.GetAccountResponse:
        row = await accounts.get_account(self.deps, required(request.id, "id"))
        return api.GetAccountResponse(account=convert.account(row))

    async def CreateAccount(  # noqa: N802
        self, request: api.CreateAccountRequest, context: Ctx
    ) -> api.CreateAccountResponse:
        of_type = (
            convert.enum_in(convert.ACCOUNT_TYPE_OF, request.type, "type", ACCOUNT_TYPE)
            if request.type
            else None
        )
        return await accounts.create_account(self.deps, request, of_type)

    async def UpdateAccount(  # noqa: N802
        self, request: api.UpdateAccountRequest, context: Ctx
    ) -> api.UpdateAccountResponse:
        required(request.account.id, "account.id")
        paths = paths_of(request.update_mask, request.account, accounts.MUTABLE)
        of_type = None
        if "type" in paths:
            of_type = convert.enum_in(
                convert.ACCOUNT_TYPE_OF, request.account.type, "account.type", ACCOUNT_TYPE
            )
        row = await accounts.update_account(self.deps, request, paths, of_type)
        return api.UpdateAccountResponse(account=convert.account(row))

    async def ArchiveAccount(  # noqa: N802
        self, request: api.ArchiveAccountRequest, context: Ctx
    ) -> api.ArchiveAccountResponse:
        row = await accounts.archive_account(self.deps, required(request.id, "id"))
        return api.ArchiveAccountResponse(account=convert.account(row))

    async def DeleteAccount(  # noqa: N802
        self, request: api.DeleteAccountRequest, context: Ctx
    ) -> api.DeleteAccountResponse:
        await accounts.delete_account(self.deps, required(request.id, "id"))
        return api.DeleteAccountResponse()

    # --- journal -----------------------------------------------------------------------

    async def CreateJournalEntry(  # noqa: N802
        self, request: api.CreateJournalEntryRequest, context: Ctx
    ) -> api.CreateJournalEntryResponse:
        day = from_date_message(request.date, "date")
        if day is None:
            raise InvalidArgument.one("date", "is required")
        lines = [
            journal.LineInput(
                line.account_id,
                line.debit if line.HasField("debit") else None,
                line.credit if line.HasField("credit") else None,
                line.description,
            )
            for line in request.lines
        ]
        return await journal.create_entry(self.deps, request, day, lines)

    async def GetJournalEntry(  # noqa: N802
        self, request: api.GetJournalEntryRequest, context: Ctx
    ) -> api.GetJournalEntryResponse:
        entry = await journal.get_entry(self.deps, required(request.id, "id"))
        return api.GetJournalEntryResponse(entry=entry)

    async def ListJournalEntries(  # noqa: N802
        self, request: api.ListJournalEntriesRequest, context: Ctx
    ) -> api.ListJournalEntriesResponse:
        first = from_iso(request.from_date, "from_date")
        last = from_iso(request.to_date, "to_date")
        source = (
            convert.enum_in(convert.SOURCE_OF, request.source, "source", "a known entry source")
            if request.source
            else None
        )
        entries, token = await journal.list_entries(
            self.deps,
            first,
            last,
            request.account_id,
            source,
            request.page_size,
            request.page_token,
        )
        return api.ListJournalEntriesResponse(entries=entries, next_page_token=token)

    async def ReverseJournalEntry(  # noqa: N802
        self, request: api.ReverseJournalEntryRequest, context: Ctx
    ) -> api.ReverseJournalEntryResponse:
        required(request.id, "id")
        day = from_date_message(request.date, "date")
        return await journal.reverse_entry(self.deps, request, day)

    async def VerifyLedger(  # noqa: N802
        self, request: api.VerifyLedgerRequest, context: Ctx
    ) -> api.VerifyLedgerResponse:
        return await journal.verify(self.deps)

    # --- periods -----------------------------------------------------------------------

    async def ListPeriods(  # noqa: N802
        self, request: api.ListPeriodsRequest, context: Ctx
    ) -> api.ListPeriodsResponse:
        if not 0 <= request.fiscal_year <= 9998:
            raise InvalidArgument.one("fiscal_year", "must be a year such as 2026")
        return await periods.list_periods(self.deps, request.fiscal_year)

    async def ClosePeriod(  # noqa: N802
        self, request: api.ClosePeriodRequest, context: Ctx
    ) -> api.ClosePeriodResponse:
        period = await periods.close_period(self.deps, request.id)
        return api.ClosePeriodResponse(period=period)

    async def ReopenPeriod(  # noqa: N802
        self, request: api.ReopenPeriodRequest, context: Ctx
    ) -> api.ReopenPeriodResponse:
        period = await periods.reopen_period(self.deps, request.id)
        return api.ReopenPeriodResponse(period=period)

    async def CloseFiscalYear(  # noqa: N802
        self, request: api.CloseFiscalYearRequest, context: Ctx
    ) -> api.CloseFiscalYearResponse:
        if not 1 <= request.year <= 9998:
            raise InvalidArgument.one("year", "must be a year such as 2026")
        return await periods.close_year(self.deps, request)

    # --- exchange rates ----------------------------------------------------------------

    async def SetExchangeRates(  # noqa: N802
        self, request: api.SetExchangeRatesRequest, context: Ctx
    ) -> api.SetExchangeRatesResponse:
        saved = await rates.set_rates(self.deps, request.rates)
        return api.SetExchangeRatesResponse(saved=saved)

    async def ListExchangeRates(  # noqa: N802
        self, request: api.ListExchangeRatesRequest, context: Ctx
    ) -> api.ListExchangeRatesResponse:
        found, token = await rates.list_rates(
            self.deps, request.currency_code, request.page_size, request.page_token
        )
        return api.ListExchangeRatesResponse(rates=found, next_page_token=token)

    async def RevalueForeignBalances(  # noqa: N802
        self, request: api.RevalueForeignBalancesRequest, context: Ctx
    ) -> api.RevalueForeignBalancesResponse:
        day = from_date_message(request.date, "date")
        if day is None:
            raise InvalidArgument.one("date", "is required")
        return await rates.revalue(self.deps, request, day)
