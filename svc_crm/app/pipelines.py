"""Pipelines and their stages: the default pipeline seeded on first use, create,
get, list, and update (rename, replace the stages)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp.crm.v1 import crm_pb2 as pb
from mesh.context import current_tenant
from mesh.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from mesh.ids import new_id
from svc_crm.app.common import Deps
from svc_crm.domain.deals import DealStatus
from svc_crm.domain.pipelines import (
    DEFAULT_NAME,
    DEFAULT_STAGES,
    StageSpec,
    check_pipeline,
    plan_stages,
)
from svc_crm.store import OpportunityRow, PipelineRow, Pipelines, StageRow, Stages

Loaded = tuple[PipelineRow, list[StageRow]]


def _add_stages(
    session: AsyncSession, pipeline_id: str, specs: Sequence[tuple[int, StageSpec]]
) -> list[StageRow]:
    repo = Stages(session)
    return [
        repo.add(
            StageRow(
                id=new_id(),
                pipeline_id=pipeline_id,
                name=spec.name.strip(),
                win_probability=spec.win_probability,
                position=position,
            )
        )
        for position, spec in specs
    ]


async def _by_name(session: AsyncSession, name: str) -> PipelineRow | None:
    repo = Pipelines(session)
    stmt = repo.scoped().where(PipelineRow.name == name).limit(1)
    row: PipelineRow | None = (await session.execute(stmt)).scalar_one_or_none()
    return row


async def ensure_default(session: AsyncSession, now: datetime) -> PipelineRow:
    """The tenant's default pipeline; "Sales" with the standard stages the first time.

    Two requests may seed at once: the loser's insert breaks the unique name in its
    savepoint, and it reads the winner's pipeline instead."""
    repo = Pipelines(session)
    found = await repo.default()
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            row = repo.add(
                PipelineRow(id=new_id(), name=DEFAULT_NAME, is_default=True, created_at=now)
            )
            specs = [StageSpec("", name, p) for name, p in DEFAULT_STAGES]
            _add_stages(session, row.id, list(enumerate(specs)))
            await session.flush()
        return row
    except IntegrityError:
        found = await repo.default()
        if found is not None:
            return found
        named = await _by_name(session, DEFAULT_NAME)
        if named is None:
            raise
        named.is_default = True  # a "Sales" pipeline existed without being the default
        return named


async def default_pipeline(deps: Deps) -> PipelineRow:
    """The default pipeline for a read: only a tenant without one pays for a write."""
    async with deps.db.sessions() as session:
        found = await Pipelines(session).default()
    if found is not None:
        return found
    async with deps.db.transaction() as session:
        return await ensure_default(session, deps.now())


async def stages_of(session: AsyncSession, pipeline_id: str) -> list[StageRow]:
    return await Stages(session).of([pipeline_id])


async def stage_of(session: AsyncSession, pipeline_id: str, stage_id: str, field: str) -> StageRow:
    """The stage, when it belongs to that pipeline; else INVALID_ARGUMENT on `field`."""
    row = await Stages(session).find(stage_id) if stage_id else None
    if row is None or row.pipeline_id != pipeline_id:
        raise InvalidArgument.one(field, "unknown stage")
    return row


def _specs(stages: Sequence[pb.Stage]) -> list[StageSpec]:
    return [StageSpec(s.id, s.name.strip(), s.win_probability) for s in stages]


async def _refuse_taken(session: AsyncSession, name: str, exclude: str = "") -> None:
    existing = await _by_name(session, name)
    if existing is not None and existing.id != exclude:
        raise AlreadyExists(
            f'a pipeline named "{name}" exists',
            reason="PIPELINE_EXISTS",
            metadata={"pipeline_id": existing.id},
        )


async def _flush_named(session: AsyncSession, name: str) -> None:
    try:
        await session.flush()
    except IntegrityError:
        raise AlreadyExists(f'a pipeline named "{name}" exists', reason="PIPELINE_EXISTS") from None


async def _make_default(session: AsyncSession, row: PipelineRow) -> None:
    """`row` becomes the tenant's only default pipeline."""
    await session.execute(
        update(PipelineRow)
        .where(
            PipelineRow.tenant_id == current_tenant(),
            PipelineRow.is_default.is_(True),
            PipelineRow.id != row.id,
        )
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    row.is_default = True


async def create(
    deps: Deps, session: AsyncSession, name: str, stages: Sequence[pb.Stage], is_default: bool
) -> Loaded:
    """A new pipeline. The tenant's default is seeded first unless this pipeline takes
    its name; `is_default` switches the old default off."""
    name = name.strip()
    specs = _specs(stages)
    problems = check_pipeline(name, specs)
    if problems:
        raise InvalidArgument(problems)
    now = deps.now()
    repo = Pipelines(session)
    first = await repo.default() is None
    if first and name != DEFAULT_NAME:
        await ensure_default(session, now)
        first = False
    await _refuse_taken(session, name)
    row = repo.add(PipelineRow(id=new_id(), name=name, is_default=False, created_at=now))
    created = _add_stages(session, row.id, list(enumerate(specs)))
    await _flush_named(session, name)
    if is_default or first:
        await _make_default(session, row)
    return row, created


async def get(deps: Deps, pipeline_id: str) -> Loaded:
    async with deps.db.sessions() as session:
        row = await Pipelines(session).get(pipeline_id)
        return row, await stages_of(session, row.id)


async def list_all(deps: Deps) -> list[Loaded]:
    """Every pipeline, the default first, then oldest first (seeding the default)."""
    await default_pipeline(deps)
    async with deps.db.sessions() as session:
        repo = Pipelines(session)
        rows = await repo.all(
            repo.scoped().order_by(
                PipelineRow.is_default.desc(), PipelineRow.created_at, PipelineRow.id
            )
        )
        stages = await Stages(session).of([r.id for r in rows]) if rows else []
    by_pipeline: dict[str, list[StageRow]] = {}
    for s in stages:
        by_pipeline.setdefault(s.pipeline_id, []).append(s)
    return [(r, by_pipeline.get(r.id, [])) for r in rows]


async def _open_deals_in(session: AsyncSession, stage_ids: Sequence[str]) -> dict[str, int]:
    if not stage_ids:
        return {}
    o = OpportunityRow
    stmt = (
        select(o.stage_id, func.count())
        .where(
            o.tenant_id == current_tenant(),
            o.stage_id.in_(stage_ids),
            o.status == DealStatus.OPEN.value,
            o.archived.is_(False),
        )
        .group_by(o.stage_id)
    )
    return {r[0]: int(r[1]) for r in await session.execute(stmt)}


async def update_pipeline(deps: Deps, message: pb.Pipeline) -> Loaded:
    """Rename and replace the stages: listed ids stay (renamed, re-weighted,
    re-ordered), stages without an id are added, unlisted ones are removed, which
    open opportunities prevent. `is_default` set makes it the default."""
    name = message.name.strip()
    specs = _specs(message.stages)
    problems = check_pipeline(name, specs, "pipeline.")
    async with deps.db.transaction() as session:
        row = await Pipelines(session).get(message.id)
        current = await stages_of(session, row.id)
        plan, found = plan_stages([s.id for s in current], specs)
        problems += found
        if problems:
            raise InvalidArgument(problems)
        by_id = {s.id: s for s in current}
        in_use = await _open_deals_in(session, plan.remove)
        for stage_id in plan.remove:
            if in_use.get(stage_id):
                stage = by_id[stage_id]
                raise FailedPrecondition(
                    f'stage "{stage.name}" still has {in_use[stage_id]} open opportunities; '
                    "move them to another stage first",
                    reason="STAGE_IN_USE",
                    metadata={
                        "stage_id": stage.id,
                        "stage_name": stage.name,
                        "open_opportunities": str(in_use[stage_id]),
                    },
                )
        if name != row.name:
            await _refuse_taken(session, name, exclude=row.id)
            row.name = name
        for stage_id in plan.remove:
            await session.delete(by_id[stage_id])
        kept: list[StageRow] = []
        for position, spec in plan.keep:
            stage = by_id[spec.id]
            stage.name = spec.name
            stage.win_probability = spec.win_probability
            stage.position = position
            kept.append(stage)
        kept += _add_stages(session, row.id, plan.add)
        await _flush_named(session, name)
        if message.is_default and not row.is_default:
            await _make_default(session, row)
        return row, sorted(kept, key=lambda s: s.position)
