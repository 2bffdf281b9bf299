"""Custom field definitions per record kind, and applying a request's values to a
record through them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import struct_pb2
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from erp.crm.v1 import crm_pb2 as pb
from mesh.errors import AlreadyExists, FieldViolation, InvalidArgument
from mesh.ids import new_id
from svc_crm import convert
from svc_crm.app.common import Deps
from svc_crm.domain.custom_fields import Definition, FieldType, check_definition, merge_values
from svc_crm.domain.records import RecordType
from svc_crm.store import CustomFieldRow, CustomFields


def _definition(row: CustomFieldRow) -> Definition:
    return Definition(row.key, row.label, FieldType(row.type), tuple(row.choices), row.required)


async def definitions(session: AsyncSession, kind: RecordType) -> dict[str, Definition]:
    rows = await CustomFields(session).of_kind(kind.value)
    return {r.key: _definition(r) for r in rows}


def plain(values: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain Python values. Unlike MessageToDict it never fails: a number
    JSON cannot carry (NaN, Infinity, which gRPC clients can send) stays a float for
    the rules to refuse, instead of raising here (a 500)."""
    return {key: _plain_value(value) for key, value in values.fields.items()}


def _plain_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return plain(value.struct_value)
    if kind == "list_value":
        return [_plain_value(v) for v in value.list_value.values]
    return None  # null_value, or no kind at all


def apply(
    defined: Mapping[str, Definition],
    current: Mapping[str, Any],
    given: struct_pb2.Struct,
    *,
    creating: bool,
    field: str,
) -> tuple[dict[str, Any], list[FieldViolation]]:
    if not defined and not given.fields:  # the common case, and every import row's
        return dict(current), []
    return merge_values(defined, current, plain(given), creating=creating, field=field)


def apply_paths(
    defined: Mapping[str, Definition],
    current: Mapping[str, Any],
    given: struct_pb2.Struct,
    paths: Sequence[str],
    prefix: str,
) -> tuple[dict[str, Any], list[FieldViolation]]:
    """Update-mask semantics: `custom_fields` applies every given key;
    `custom_fields.<key>` sets that key, or clears it when the request lacks it."""
    values = plain(given)
    chosen: dict[str, Any] = {}
    for path in paths:
        if path == "custom_fields":
            chosen.update(values)
        else:
            key = path.split(".", 1)[1]
            chosen[key] = values.get(key)
    return merge_values(defined, current, chosen, creating=False, field=f"{prefix}custom_fields")


async def define(
    deps: Deps, session: AsyncSession, message: pb.CustomFieldDefinition
) -> CustomFieldRow:
    kind = convert.record_type(message.record_kind, "field.record_kind")
    if message.type not in convert.FIELD_TYPE_OF:
        raise InvalidArgument.one("field.type", "text, number, date or choice is required")
    wanted = Definition(
        message.key,
        message.label,
        convert.FIELD_TYPE_OF[message.type],
        tuple(message.choices),
        message.required,
    )
    existing = await CustomFields(session).of_kind(kind.value, archived=True)
    problems = check_definition(wanted, [r.key for r in existing])
    if problems:
        raise InvalidArgument(problems)
    row = CustomFields(session).add(
        CustomFieldRow(
            id=new_id(),
            record_kind=kind.value,
            key=wanted.key,
            label=wanted.label.strip(),
            type=wanted.type.value,
            choices=list(wanted.choices),
            required=wanted.required,
            archived=False,
            created_at=deps.now(),
        )
    )
    try:
        await session.flush()
    except IntegrityError:
        raise AlreadyExists(f'"{wanted.key}" is already defined', reason="FIELD_EXISTS") from None
    return row


async def list_defined(deps: Deps, kind: int, archived: bool) -> list[CustomFieldRow]:
    async with deps.db.sessions() as session:
        repo = CustomFields(session)
        if kind == pb.RECORD_KIND_UNSPECIFIED:
            stmt = repo.scoped()
            if not archived:
                stmt = stmt.where(CustomFieldRow.archived.is_(False))
            return await repo.all(stmt.order_by(CustomFieldRow.record_kind, CustomFieldRow.key))
        return await repo.of_kind(convert.record_type(kind, "record_kind").value, archived=archived)


async def archive(deps: Deps, field_id: str) -> CustomFieldRow:
    async with deps.db.transaction() as session:
        row = await CustomFields(session).get(field_id)
        row.archived = True
        return row
