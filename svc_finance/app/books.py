"""The tenant's books: the settings row, seeded with the default chart of accounts
on `auth.tenant.created` or on first use, and locked by every posting."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mesh.errors import FailedPrecondition
from mesh.ids import new_id
from svc_finance.app.common import Deps
from svc_finance.domain.chart import DEFAULT_CHART, Role
from svc_finance.domain.ledger import GENESIS
from svc_finance.store import AccountRow, Accounts, Books, BooksRow


async def books(session: AsyncSession, deps: Deps, *, lock: bool = False) -> BooksRow:
    """The caller's books, seeded first if the tenant has none. `lock` holds the row
    until the transaction ends: postings take turns on it."""
    repo = Books(session)
    row = await repo.find(repo.tenant_id, lock=lock)
    if row is None:
        await seed(session, deps)
        row = await repo.get(repo.tenant_id, lock=lock)
    return row


async def seed(session: AsyncSession, deps: Deps) -> bool:
    """Create the books and the default chart, unless they exist (True if created).
    Two first uses at once: one inserts, the other's insert fails and it reads."""
    repo = Books(session)
    if await repo.find(repo.tenant_id) is not None:
        return False
    now = deps.now()
    try:
        async with session.begin_nested():
            session.add(
                BooksRow(
                    tenant_id=repo.tenant_id,
                    company_currency=deps.config.default_currency,
                    fiscal_year_start_month=1,
                    match_date_tolerance_days=3,
                    match_reference=True,
                    match_auto_confirm=False,
                    chain_seq=0,
                    chain_head=GENESIS,
                    counters={},
                    created_at=now,
                )
            )
            ids: dict[str, str] = {}
            for account in DEFAULT_CHART:
                ids[account.code] = new_id()
                session.add(
                    AccountRow(
                        id=ids[account.code],
                        tenant_id=repo.tenant_id,
                        code=account.code,
                        name=account.name,
                        type=account.type.value,
                        parent_id=ids.get(account.parent_code, ""),
                        role=account.role.value if account.role else "",
                        description="",
                        archived=False,
                        used=False,
                        created_at=now,
                    )
                )
            await session.flush()
    except IntegrityError:
        return False
    return True


async def account_for(session: AsyncSession, role: Role) -> AccountRow:
    """The account postings use for `role`; FAILED_PRECONDITION when the tenant's
    chart has none (roles cannot be archived, so this means a broken chart)."""
    return with_role(await roles_cached(session), role)


async def role_accounts(session: AsyncSession) -> dict[Role, AccountRow]:
    """Every account with a role, in one query (postings need several)."""
    repo = Accounts(session)
    stmt = repo.scoped().where(AccountRow.role != "")
    return {Role(row.role): row for row in await session.scalars(stmt)}


def with_role(accounts: dict[Role, AccountRow], role: Role) -> AccountRow:
    found = accounts.get(role)
    if found is None:
        raise FailedPrecondition(
            f"the chart of accounts has no {role.value} account", reason="ACCOUNT_ROLE_MISSING"
        )
    return found


_LOCKED = "finance.books_locked"


async def locked_books(session: AsyncSession, deps: Deps) -> BooksRow:
    """The caller's books, locked: read afresh the first time in this transaction;
    later postings of the same (batched) transaction keep the row it holds, which
    `post` keeps current. Only for units that write nothing before their posting."""
    repo = Books(session)
    if session.info.get(_LOCKED) == repo.tenant_id:
        held = await session.get(BooksRow, repo.tenant_id)  # the identity map: no query
        if held is not None:
            return held
    row = await books(session, deps, lock=True)
    session.info[_LOCKED] = repo.tenant_id
    return row


_ROLES = "finance.role_accounts"


async def roles_cached(session: AsyncSession) -> dict[Role, AccountRow]:
    """`role_accounts`, read once per transaction: roles never move between accounts
    and role accounts can be neither archived nor deleted."""
    found: dict[Role, AccountRow] | None = session.info.get(_ROLES)
    if found is None:
        found = session.info[_ROLES] = await role_accounts(session)
    return found
