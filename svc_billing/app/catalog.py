"""The plan catalog: seeded with the defaults on first start, versioned on edits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from erp.billing.v1 import billing_pb2 as pb
from mesh.errors import FieldViolation, InvalidArgument, NotFound
from svc_billing import convert
from svc_billing.app.common import Deps
from svc_billing.domain.catalog import (
    DEFAULT_ADDONS,
    DEFAULT_PLANS,
    AddOn,
    PlanVersion,
    validate_plan_version,
)
from svc_billing.domain.periods import Interval
from svc_billing.store import AddOnRow, PlanRow, PlanVersionRow, SequenceRow, SubscriptionRow


async def seed(deps: Deps) -> None:
    """Insert the default plans, add-ons and the issuer's number sequence when missing."""
    async with deps.db.transaction() as session:
        known = set((await session.scalars(select(PlanRow.plan_id))).all())
        for plan in DEFAULT_PLANS.values():
            if plan.plan_id not in known:
                session.add(convert.plan_version_row(plan, deps.now()))
                session.add(_plan_row(plan))
        addons = set((await session.scalars(select(AddOnRow.addon_id))).all())
        for addon in DEFAULT_ADDONS.values():
            if addon.addon_id not in addons:
                session.add(convert.addon_row(addon))
        if await session.get(SequenceRow, deps.config.issuer) is None:
            session.add(SequenceRow(issuer=deps.config.issuer, last=0))


def _plan_row(plan: PlanVersion) -> PlanRow:
    return PlanRow(
        plan_id=plan.plan_id,
        current_version=plan.version,
        sort_price=plan.prices.get(Interval.MONTHLY, 0),
    )


async def version(session: AsyncSession, plan_id: str, number: int = 0) -> PlanVersion:
    """A plan's version (0 = current), or NOT_FOUND naming the plan."""
    if number == 0:
        plan = await session.get(PlanRow, plan_id)
        if plan is None:
            raise NotFound(f"no plan {plan_id!r}", reason="PLAN_NOT_FOUND")
        number = plan.current_version
    row = await session.get(PlanVersionRow, (plan_id, number))
    if row is None:
        raise NotFound(f"plan {plan_id!r} has no version {number}", reason="PLAN_NOT_FOUND")
    return convert.plan_version(row)


async def addons(session: AsyncSession) -> dict[str, AddOn]:
    rows = (await session.scalars(select(AddOnRow).order_by(AddOnRow.addon_id))).all()
    return {r.addon_id: convert.addon(r) for r in rows}


async def list_public(deps: Deps) -> list[tuple[PlanVersion, PlanVersionRow]]:
    async with deps.db.sessions() as session:
        stmt = (
            select(PlanVersionRow)
            .join(
                PlanRow,
                (PlanRow.plan_id == PlanVersionRow.plan_id)
                & (PlanRow.current_version == PlanVersionRow.version),
            )
            .where(PlanVersionRow.public.is_(True))
            .order_by(PlanRow.sort_price, PlanRow.plan_id)
        )
        rows = (await session.scalars(stmt)).all()
    return [(convert.plan_version(r), r) for r in rows]


async def get(deps: Deps, plan_id: str, number: int) -> tuple[PlanVersion, PlanVersionRow]:
    if number < 0:
        raise InvalidArgument.one("version", "must not be negative")
    async with deps.db.sessions() as session:
        pv = await version(session, plan_id, number)
        row = await session.get(PlanVersionRow, (plan_id, pv.version))
    assert row is not None
    return pv, row


async def list_addons(deps: Deps) -> list[AddOn]:
    async with deps.db.sessions() as session:
        return list((await addons(session)).values())


async def publish(
    session: AsyncSession, deps: Deps, plan_id: str, message: pb.PlanVersion
) -> tuple[PlanVersion, PlanVersionRow]:
    """A new version of a plan (a new plan when the id is new); subscribers keep theirs."""
    plan = await session.get(PlanRow, plan_id, with_for_update=True)
    number = plan.current_version + 1 if plan else 1
    pv, shape_problems = convert.plan_version_from_message(plan_id, number, message)
    if shape_problems:
        raise InvalidArgument([FieldViolation(f, d) for f, d in shape_problems])
    try:
        validate_plan_version(pv, prefix="version.")
    except InvalidArgument as error:
        raise InvalidArgument(_request_fields(error.violations, message)) from None
    row = convert.plan_version_row(pv, deps.now())
    session.add(row)
    if plan is None:
        session.add(_plan_row(pv))
    else:
        plan.current_version = number
        plan.sort_price = pv.prices.get(Interval.MONTHLY, 0)
    return pv, row


def _request_fields(
    violations: list[FieldViolation], message: pb.PlanVersion
) -> list[FieldViolation]:
    """Name the request's fields, not the domain's: a price is `version.prices[i]`."""
    price_at = {convert.INTERVAL_OF.get(p.interval): i for i, p in enumerate(message.prices)}
    metered_at = {m.metric: i for i, m in enumerate(message.metered_prices)}
    renamed = []
    for v in violations:
        field = v.field
        head, _, tail = field.removeprefix("version.").partition(".")
        if field == "version.plan_id":
            field = "plan_id"
        elif field == "version.currency":
            field = "version.prices[0].amount.currency_code" if message.prices else "version.prices"
        elif head == "prices" and tail:
            index = next((i for k, i in price_at.items() if str(k) == tail), None)
            field = f"version.prices[{index}].amount.amount_minor" if index is not None else field
        elif head == "metered" and tail in metered_at:
            field = f"version.metered_prices[{metered_at[tail]}]"
        renamed.append(FieldViolation(field, v.description))
    return renamed


async def migrate_subscribers(
    session: AsyncSession, plan_id: str, from_version: int
) -> tuple[int, int]:
    """Move subscriptions of older versions to the current one (they pay it from
    their next renewal, which reads the version from the subscription)."""
    current = await version(session, plan_id)
    stmt = select(SubscriptionRow).where(
        SubscriptionRow.plan_id == plan_id, SubscriptionRow.plan_version < current.version
    )
    if from_version:
        stmt = stmt.where(SubscriptionRow.plan_version == from_version)
    rows = list((await session.scalars(stmt.with_for_update())).all())
    for row in rows:
        row.plan_version = current.version
    return len(rows), current.version
