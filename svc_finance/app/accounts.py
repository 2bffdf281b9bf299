"""The chart of accounts: list, create, change, archive, delete (only unused)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.finance.v1 import finance_service_pb2 as api
from mesh.context import current_tenant
from mesh.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from mesh.ids import new_id
from mesh.keyset import SortKey, keyset
from svc_finance import convert
from svc_finance.app.books import books
from svc_finance.app.common import Deps, replayable
from svc_finance.domain.chart import AccountType, check_account
from svc_finance.store import AccountRow, Accounts

MUTABLE = ("code", "name", "description", "parent_id", "type")


async def list_accounts(
    deps: Deps,
    of_type: AccountType | None,
    include_archived: bool,
    page_size: int,
    page_token: str,
) -> tuple[list[AccountRow], str]:
    keys = [SortKey("code", AccountRow.code)]
    pages = keyset(keys, page_size, page_token, query=f"{of_type}|{include_archived}")
    stmt = pages.select(AccountRow).where(AccountRow.tenant_id == current_tenant())
    if of_type is not None:
        stmt = stmt.where(AccountRow.type == of_type.value)
    if not include_archived:
        stmt = stmt.where(AccountRow.archived.is_(False))
    async with deps.db.transaction() as session:
        await books(session, deps)  # the default chart on first use
        return await pages.fetch(session, stmt)


async def get_account(deps: Deps, account_id: str) -> AccountRow:
    async with deps.db.transaction() as session:
        return await Accounts(session).get(account_id)


async def create_account(
    deps: Deps, request: api.CreateAccountRequest, of_type: AccountType | None
) -> api.CreateAccountResponse:
    code, name = request.code.strip(), request.name.strip()
    problems = check_account(code, name, request.description)
    if problems:
        raise InvalidArgument(problems)
    async with deps.db.transaction() as session:

        async def run() -> api.CreateAccountResponse:
            await books(session, deps, lock=True)  # codes are checked and taken in turn
            accounts = Accounts(session)
            kind = await parent_type(accounts, request.parent_id, of_type)
            await require_free_code(accounts, code)
            row = AccountRow(
                id=new_id(),
                tenant_id=accounts.tenant_id,
                code=code,
                name=name,
                type=kind.value,
                parent_id=request.parent_id,
                role="",
                description=request.description,
                archived=False,
                used=False,
                created_at=deps.now(),
            )
            session.add(row)
            await session.flush()
            return api.CreateAccountResponse(account=convert.account(row))

        return await replayable(session, request, api.CreateAccountResponse, run)


async def parent_type(
    accounts: Accounts, parent_id: str, of_type: AccountType | None, child_id: str = ""
) -> AccountType:
    """The type a child of `parent_id` must have (the parent's), checked against the
    one asked for; without a parent, the one asked for is required."""
    if not parent_id:
        if of_type is None:
            raise InvalidArgument.one("type", "is required for a top-level account")
        return of_type
    parent = await accounts.find(parent_id)
    if parent is None:
        raise InvalidArgument.one("parent_id", "no such account")
    kind = AccountType(parent.type)
    if of_type is not None and of_type is not kind:
        raise InvalidArgument.one("type", f"must be the parent's type ({kind.value})")
    # Walking up from the parent must not reach the child: no cycles.
    ancestor: AccountRow | None = parent
    seen: set[str] = set()
    while ancestor is not None and ancestor.id not in seen:
        if child_id and ancestor.id == child_id:
            raise InvalidArgument.one("parent_id", "would make the account its own ancestor")
        seen.add(ancestor.id)
        ancestor = await accounts.find(ancestor.parent_id) if ancestor.parent_id else None
    return kind


async def require_free_code(accounts: Accounts, code: str, own_id: str = "") -> None:
    holder = await accounts.by_code(code)
    if holder is not None and holder.id != own_id:
        raise AlreadyExists(
            f"account code {code} is taken", reason="ACCOUNT_CODE_TAKEN", metadata={"code": code}
        )


async def update_account(
    deps: Deps, values: api.UpdateAccountRequest, paths: Sequence[str], of_type: AccountType | None
) -> AccountRow:
    unknown = [p for p in paths if p not in MUTABLE]
    if unknown:
        raise InvalidArgument.one("update_mask", f"cannot change {', '.join(unknown)}")
    given = values.account
    async with deps.db.transaction() as session:
        await books(session, deps, lock=True)  # codes are checked and taken in turn
        accounts = Accounts(session)
        row = await accounts.get(given.id, lock=True)
        code = given.code.strip() if "code" in paths else row.code
        name = given.name.strip() if "name" in paths else row.name
        description = given.description if "description" in paths else row.description
        problems = check_account(code, name, description)
        if problems:
            raise InvalidArgument(problems)
        if row.used and (code != row.code or ("type" in paths and of_type != row.type)):
            raise FailedPrecondition(
                f"account {row.code} has postings: its code and type are fixed",
                reason="ACCOUNT_USED",
            )
        await require_free_code(accounts, code, row.id)
        parent_id = given.parent_id if "parent_id" in paths else row.parent_id
        wanted = of_type if "type" in paths else AccountType(row.type)
        kind = await parent_type(accounts, parent_id, wanted, row.id)
        if kind.value != row.type and await has_children(session, row.id):
            raise FailedPrecondition(
                "an account with children keeps its type", reason="ACCOUNT_HAS_CHILDREN"
            )
        row.code, row.name, row.description = code, name, description
        row.parent_id, row.type = parent_id, kind.value
        return row


async def has_children(session: AsyncSession, account_id: str) -> bool:
    stmt = select(AccountRow.id).where(
        AccountRow.tenant_id == current_tenant(), AccountRow.parent_id == account_id
    )
    return (await session.scalars(stmt.limit(1))).first() is not None


async def archive_account(deps: Deps, account_id: str) -> AccountRow:
    async with deps.db.transaction() as session:
        await books(session, deps, lock=True)  # no posting is halfway onto it meanwhile
        row = await Accounts(session).get(account_id, lock=True)
        if row.role:
            raise FailedPrecondition(
                f"account {row.code} is the {row.role} account postings use; it cannot be archived",
                reason="ACCOUNT_HAS_ROLE",
            )
        row.archived = True
        return row


async def delete_account(deps: Deps, account_id: str) -> None:
    async with deps.db.transaction() as session:
        await books(session, deps, lock=True)  # no posting can start using it meanwhile
        row = await Accounts(session).get(account_id, lock=True)
        if row.used:
            raise FailedPrecondition(
                f"account {row.code} has postings; archive it instead", reason="ACCOUNT_USED"
            )
        if row.role:
            raise FailedPrecondition(
                f"account {row.code} is the {row.role} account postings use",
                reason="ACCOUNT_HAS_ROLE",
            )
        if await has_children(session, row.id):
            raise FailedPrecondition(
                f"account {row.code} has child accounts", reason="ACCOUNT_HAS_CHILDREN"
            )
        await session.delete(row)
