"""Figures for svc_finance's financial statements over a large ledger.

A throwaway database (PostgreSQL when it answers on 127.0.0.1:5432, and SQLite)
gets svc_finance's tables and LINES journal lines for one tenant: balanced entries
of 2-4 lines over 50 accounts, dated over three years (2023-2025), with year-end
closing entries for 2023 and 2024; plus OTHER_LINES lines of a second tenant.
Loaded with COPY (PostgreSQL) or executemany (SQLite), then VACUUM ANALYZE, as
autovacuum would leave a table that has settled.

Then the use cases themselves (svc_finance.app.reports, acting for the tenant, no
gRPC) run RUNS times each after a warm-up: the trial balance and the balance sheet
at 2025-12-31 compared with 2025-11-30 (each column sums nearly every line), and the
income statement for 2024 compared with 2023. Each answer is checked: debits =
credits, assets = liabilities + equity, the 2024 result without its closing entry,
the second tenant's lines nowhere.

`python -m bench finance-reports` (or `python -m bench.finance_reports`) runs it;
ERP_BENCH_FINANCE_LINES, ERP_BENCH_FINANCE_RUNS and ERP_BENCH_FINANCE_BACKENDS
(sqlite,postgresql) change it; ERP_BENCH_FINANCE_EXPLAIN=1 prints PostgreSQL's
EXPLAIN ANALYZE of the column queries.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Select, create_engine, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from bench import support
from mesh.context import acting_for_tenant
from mesh.db import Database
from svc_finance.app import reports
from svc_finance.app.common import Deps
from svc_finance.config import FinanceConfig
from svc_finance.domain.chart import AccountType
from svc_finance.domain.ledger import Source
from svc_finance.service import deps_for
from svc_finance.store import Base

LINES = int(os.environ.get("ERP_BENCH_FINANCE_LINES", "1000000"))
OTHER_LINES = 5_000
RUNS = int(os.environ.get("ERP_BENCH_FINANCE_RUNS", "7"))
TARGET_SECONDS = 2.0  # the trial balance over 1M lines on PostgreSQL
TENANT, OTHER = "t-bench-main", "t-bench-other"
CURRENCY = "EUR"
FIRST_DAY, LAST_DAY = date(2023, 1, 1), date(2025, 12, 31)
CLOSED_YEARS = (2023, 2024)
TODAY = datetime(2025, 12, 31, 18, tzinfo=UTC)
CHUNK = 50_000  # entries generated and written at a time

# Accounts per type: 50 in all; the last equity account is retained earnings.
CHART_SHAPE = (
    (AccountType.ASSET, 1000, 14),
    (AccountType.LIABILITY, 2000, 8),
    (AccountType.EQUITY, 3000, 4),
    (AccountType.INCOME, 4000, 10),
    (AccountType.EXPENSE, 5000, 14),
)
LINE_COLUMNS = (
    "entry_id",
    "line_no",
    "tenant_id",
    "date",
    "account_id",
    "currency",
    "debit_minor",
    "credit_minor",
    "company_debit_minor",
    "company_credit_minor",
    "rate",
    "description",
)
ENTRY_COLUMNS = (
    "id",
    "tenant_id",
    "seq",
    "number",
    "date",
    "memo",
    "source",
    "source_id",
    "reverses_id",
    "posted_by",
    "posted_at",
    "total_minor",
    "prev_hash",
    "hash",
)
BOOKS_COLUMNS = (
    "tenant_id",
    "company_currency",
    "fiscal_year_start_month",
    "match_date_tolerance_days",
    "match_reference",
    "match_auto_confirm",
    "chain_seq",
    "chain_head",
    "counters",
    "created_at",
)
Row = tuple[Any, ...]


def _backends() -> list[str]:
    wanted = os.environ.get("ERP_BENCH_FINANCE_BACKENDS")
    found = support.backends()
    return [b for b in wanted.split(",") if b in found] if wanted else found


# --- the ledger ------------------------------------------------------------------------


@dataclass
class Ledger:
    """What was generated for one tenant, to check the reports against."""

    tenant: str
    accounts: list[tuple[str, str, AccountType]]  # id, code, type
    lines: int = 0
    entries: int = 0
    total_debit: int = 0
    # (year, account id) -> debit - credit, without closing entries.
    yearly: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))

    def net_income(self, year: int) -> int:
        kinds = {a: t for a, _, t in self.accounts}
        return -sum(
            net
            for (y, account), net in self.yearly.items()
            if y == year and kinds[account] in (AccountType.INCOME, AccountType.EXPENSE)
        )


def chart(tenant: str, scale: int = 1) -> list[tuple[str, str, AccountType]]:
    found = []
    for kind, base, count in CHART_SHAPE:
        for n in range(max(1, count // scale)):
            code = str(base + 10 * (n + 1))
            found.append((f"{tenant}-acc-{code}", code, kind))
    return found


def generate(
    ledger: Ledger, lines: int, rng: random.Random
) -> Iterator[tuple[list[Row], list[Row]]]:
    """Chunks of (entries, lines), entries in date order, then the closing entries."""
    ids = [a for a, _, _ in ledger.accounts]
    span = (LAST_DAY - FIRST_DAY).days + 1
    days = [FIRST_DAY + timedelta(days=d) for d in range(span)]
    entries: list[Row] = []
    chunk: list[Row] = []
    while ledger.lines < lines:
        count = min(rng.randint(2, 4), max(2, lines - ledger.lines))
        day = days[ledger.lines * span // lines]
        picked = rng.sample(ids, count)
        debits = rng.randint(1, count - 1)
        amounts = [rng.randint(100, 5_000_000) for _ in range(count - 1)]
        # The last line balances the others on whichever side that takes.
        signed = [x if i < debits else -x for i, x in enumerate(amounts)]
        signed.append(-sum(signed))
        ledger.entries += 1
        entry_id = f"{ledger.tenant}-e{ledger.entries:08d}"
        total = sum(x for x in signed if x > 0)
        entries.append(_entry(ledger, entry_id, day, Source.MANUAL, total))
        for n, (account, amount) in enumerate(zip(picked, signed, strict=True)):
            chunk.append(_line(ledger.tenant, entry_id, n + 1, day, account, amount))
            ledger.yearly[(day.year, account)] += amount
        ledger.lines += count
        ledger.total_debit += total
        if len(entries) >= CHUNK:
            yield entries, chunk
            entries, chunk = [], []
    kinds = {a: t for a, _, t in ledger.accounts}
    retained = next(a for a, _, t in reversed(ledger.accounts) if t is AccountType.EQUITY)
    for year in CLOSED_YEARS:
        # Every income and expense balance of the year moved to retained earnings.
        moved = {
            account: -net
            for (y, account), net in ledger.yearly.items()
            if y == year and net and kinds[account] in (AccountType.INCOME, AccountType.EXPENSE)
        }
        moved[retained] = -sum(moved.values())
        ledger.entries += 1
        entry_id = f"{ledger.tenant}-close-{year}"
        day = date(year, 12, 31)
        total = sum(x for x in moved.values() if x > 0)
        entries.append(_entry(ledger, entry_id, day, Source.YEAR_END_CLOSE, total))
        for n, (account, amount) in enumerate(moved.items()):
            chunk.append(_line(ledger.tenant, entry_id, n + 1, day, account, amount))
        ledger.lines += len(moved)
        ledger.total_debit += total
    yield entries, chunk


def _entry(ledger: Ledger, entry_id: str, day: date, source: Source, total: int) -> Row:
    seq = ledger.entries
    posted = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return (
        entry_id,
        ledger.tenant,
        seq,
        f"JE-{seq:07d}",
        day,
        "",
        source.value,
        "",
        None,
        "bench",
        posted,
        total,
        f"{seq - 1:064x}",
        f"{seq:064x}",
    )


def _line(tenant: str, entry_id: str, line_no: int, day: date, account: str, amount: int) -> Row:
    debit, credit = (amount, 0) if amount > 0 else (0, -amount)
    return (
        entry_id,
        line_no,
        tenant,
        day,
        account,
        CURRENCY,
        debit,
        credit,
        debit,
        credit,
        "1",
        "",
    )


def _account_rows(ledger: Ledger) -> list[Row]:
    return [
        (
            account_id,
            ledger.tenant,
            code,
            f"Account {code}",
            kind.value,
            "",
            "",
            "",
            False,
            True,
            TODAY,
        )
        for account_id, code, kind in ledger.accounts
    ]


ACCOUNT_COLUMNS = (
    "id",
    "tenant_id",
    "code",
    "name",
    "type",
    "parent_id",
    "role",
    "description",
    "archived",
    "used",
    "created_at",
)


# --- loading ---------------------------------------------------------------------------


def _sync_url(url: str) -> str:
    """The same database for a synchronous engine (psycopg is both; aiosqlite not)."""
    return "sqlite:///" + (make_url(url).database or "") if url.startswith("sqlite") else url


def _dsn(url: str) -> str:
    """A libpq connection string for psycopg itself."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_tables(url: str) -> None:
    engine = create_engine(_sync_url(url))
    Base.metadata.create_all(engine)
    engine.dispose()


def load(url: str, backend: str) -> tuple[list[Ledger], float]:
    """Generate and write both tenants' ledgers; the ledgers and the seconds it took."""
    rng = random.Random(2025)  # noqa: S311 - not secret
    ledgers = [Ledger(TENANT, chart(TENANT)), Ledger(OTHER, chart(OTHER, scale=4))]
    started = time.perf_counter()
    writer = _postgres_writer if backend == "postgresql" else _sqlite_writer
    with writer(url) as write:
        for ledger, lines in zip(ledgers, (LINES, OTHER_LINES), strict=True):
            write(
                "fin_books",
                BOOKS_COLUMNS,
                [(ledger.tenant, CURRENCY, 1, 3, True, False, 0, "0" * 64, "{}", TODAY)],
            )
            write("fin_accounts", ACCOUNT_COLUMNS, _account_rows(ledger))
            for entries, chunk in generate(ledger, lines, rng):
                write("fin_entries", ENTRY_COLUMNS, entries)
                write("fin_lines", LINE_COLUMNS, chunk)
    return ledgers, time.perf_counter() - started


Write = Callable[[str, tuple[str, ...], list[Row]], None]


class _postgres_writer:  # noqa: N801 - used like a function
    """COPY into each table, all in one transaction, then VACUUM ANALYZE."""

    def __init__(self, url: str) -> None:
        self.dsn = _dsn(url)
        self.conn = psycopg.connect(self.dsn)

    def __enter__(self) -> Write:
        def write(table: str, columns: tuple[str, ...], rows: list[Row]) -> None:
            names = ", ".join(columns)
            with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

        return write

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.conn.commit()
        self.conn.close()
        if exc[0] is None:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")


class _sqlite_writer:  # noqa: N801 - used like a function
    """executemany in one transaction (dates and times as SQLAlchemy stores them)."""

    def __init__(self, url: str) -> None:
        self.conn = sqlite3.connect(make_url(url).database or "")

    def __enter__(self) -> Write:
        def write(table: str, columns: tuple[str, ...], rows: list[Row]) -> None:
            marks = ", ".join("?" for _ in columns)
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                [tuple(_sqlite_value(v) for v in row) for row in rows],
            )

        return write

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.conn.commit()
            self.conn.execute("ANALYZE")
        self.conn.close()


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- measuring -------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    name: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def line(self) -> str:
        return (
            f"{self.name:<40} median {self.median:7.3f} s   min {min(self.seconds):7.3f} s   "
            f"max {max(self.seconds):7.3f} s"
        )


async def _timed(name: str, call: Callable[[], Awaitable[Any]]) -> Timing:
    await call()  # warm-up: plans, caches, the books row
    seconds = []
    for _ in range(RUNS):
        started = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - started)
    return Timing(name, seconds)


async def check(deps: Deps, main: Ledger, other: Ledger) -> None:
    """The answers are right before their times mean anything."""
    with acting_for_tenant(TENANT):
        tb = await reports.get_trial_balance(deps, "", "")
        sheet = await reports.get_balance_sheet(deps, "", "")
        year = await reports.get_income_statement(deps, "2024-01-01", "2024-12-31")
    with acting_for_tenant(OTHER):
        other_tb = await reports.get_trial_balance(deps, "", "")
    problems = []
    if (tb.as_of, tb.compare_as_of, tb.currency) != (LAST_DAY, date(2025, 11, 30), CURRENCY):
        problems.append(f"trial balance dates {tb.as_of} {tb.compare_as_of} {tb.currency}")
    if not tb.report.total_debit == tb.report.total_credit == main.total_debit:
        problems.append(f"trial balance {tb.report.total_debit} / {tb.report.total_credit}")
    if len(tb.report.rows) != len(main.accounts):
        problems.append(f"trial balance has {len(tb.report.rows)} accounts")
    s = sheet.report
    if s.total_assets != s.total_liabilities + s.total_equity:
        problems.append(
            f"balance sheet {s.total_assets} != {s.total_liabilities} + {s.total_equity}"
        )
    if s.current_earnings != main.net_income(2025):  # 2023 and 2024 are closed
        problems.append(f"current earnings {s.current_earnings} != {main.net_income(2025)}")
    if (year.report.net_income, year.report.previous_net_income) != (
        main.net_income(2024),
        main.net_income(2023),
    ):
        problems.append(
            f"income statement 2024 {year.report.net_income} != {main.net_income(2024)}"
        )
    other_ids = {a for a, _, _ in other.accounts}
    if {r.account.id for r in other_tb.report.rows} != other_ids or (
        other_tb.report.total_debit != other.total_debit
    ):
        problems.append("the second tenant's trial balance is not its own")
    if problems:
        raise RuntimeError("; ".join(problems))


async def explain(deps: Deps) -> list[str]:
    queries: list[tuple[str, Select[str, int, int]]] = []
    with acting_for_tenant(TENANT):
        queries.append(("trial balance column", reports.sums_up_to(LAST_DAY)))
        queries.append(
            ("income statement column", reports.sums_between(date(2024, 1, 1), date(2024, 12, 31)))
        )
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    found = []
    async with deps.db.sessions() as session:
        for name, stmt in queries:
            sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            plan = await session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"))
            found.append(f"EXPLAIN ANALYZE, {name}:")
            found.extend(f"  {row}" for (row,) in plan)
    return found


async def measure(url: str, backend: str, ledgers: list[Ledger]) -> tuple[list[Timing], list[str]]:
    """The timings, and the query plans when asked for."""
    deps = deps_for(Database(url), FinanceConfig(default_currency=CURRENCY, clock=lambda: TODAY))
    try:
        await check(deps, *ledgers)
        timings = []
        with acting_for_tenant(TENANT):
            timings.append(
                await _timed("trial balance", lambda: reports.get_trial_balance(deps, "", ""))
            )
            timings.append(
                await _timed("balance sheet", lambda: reports.get_balance_sheet(deps, "", ""))
            )
            timings.append(
                await _timed(
                    "income statement 2024 (vs 2023)",
                    lambda: reports.get_income_statement(deps, "2024-01-01", "2024-12-31"),
                )
            )
        plans = []
        if backend == "postgresql" and os.environ.get("ERP_BENCH_FINANCE_EXPLAIN"):
            plans = await explain(deps)
        return timings, plans
    finally:
        await deps.db.close()


def main() -> None:
    print(
        f"Finance reports: {LINES:,} journal lines of one tenant (50 accounts, 2023-2025, "
        f"2023 and 2024 closed) + {OTHER_LINES:,} of another; use cases called in process, "
        f"{RUNS} runs after a warm-up; {support.load_average()}"
    )
    figures: dict[str, float] = {"lines": LINES}
    for backend in _backends():
        with support.database(backend) as url:
            create_tables(url)
            ledgers, seconds = load(url, backend)
            print(
                f"  {backend}: loaded {ledgers[0].lines + ledgers[1].lines:,} lines in "
                f"{ledgers[0].entries + ledgers[1].entries:,} entries in {seconds:.1f} s"
            )
            timings, plans = asyncio.run(measure(url, backend, ledgers))
            for timing in timings:
                target = ""
                if timing.name == "trial balance" and backend == "postgresql":
                    target = f"   target <= {TARGET_SECONDS:.0f} s"
                print(f"    {timing.line()}{target}")
                key = f"{backend}.{timing.name.split(' (')[0].replace(' ', '_')}"
                figures[f"{key}.median_s"] = round(timing.median, 4)
                figures[f"{key}.min_s"] = round(min(timing.seconds), 4)
                figures[f"{key}.max_s"] = round(max(timing.seconds), 4)
            for line in plans:
                print(f"    {line}")
    written = support.write_figures("finance-reports", figures)
    print(f"figures written to {written}")


if __name__ == "__main__":
    main()
