"""Companies: create, update by field mask, archive and restore, list."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from erp.crm.v1 import crm_pb2 as pb
from mesh.errors import FieldViolation, Violations
from mesh.ids import new_id
from svc_crm import convert, events
from svc_crm.app import custom_fields
from svc_crm.app.common import Deps, actor_id, remember_change
from svc_crm.app.masks import changed_paths
from svc_crm.domain.people import (
    check_phone,
    check_tags,
    check_text,
    clean_tags,
    fold,
    search_words,
)
from svc_crm.domain.records import RecordType
from svc_crm.store import Companies, CompanyRow

COMPANY_FIELDS = ("name", "domain", "phone", "industry", "owner_id", "tags", "custom_fields")
NAME_MAX = 200
_DOMAIN = re.compile(r"^(?=.{3,200}$)([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$")


def check_company(
    message: pb.Company, paths: Sequence[str] = COMPANY_FIELDS
) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    if "name" in paths:
        found += check_text(message.name, "company.name", NAME_MAX, required=True)
    if (
        "domain" in paths
        and message.domain
        and not _DOMAIN.fullmatch(message.domain.strip().lower())
    ):
        found.append(FieldViolation("company.domain", "a domain such as example.com"))
    if "phone" in paths:
        found += check_phone(message.phone, "company.phone")
    if "industry" in paths:
        found += check_text(message.industry, "company.industry", 100)
    if "owner_id" in paths:
        found += check_text(message.owner_id, "company.owner_id", 64)
    if "tags" in paths:
        found += check_tags(message.tags, "company.tags")
    return found


NAME_KEY_MAX = 200  # the column; folding can lengthen a name ("ß" becomes "ss")


def name_key(name: str) -> str:
    """What two company names are compared by (lead conversion reuses a company)."""
    return fold(name.strip())[:NAME_KEY_MAX]


def named(name: str, now: datetime, **fields: Any) -> CompanyRow:
    """A new company row (also made by lead conversion); `fields` override the blanks."""
    values: dict[str, Any] = {
        "domain": "",
        "phone": "",
        "industry": "",
        "owner_id": actor_id(),
        "tags": [],
        "custom": {},
        **fields,
    }
    row = CompanyRow(
        id=new_id(),
        name=name.strip(),
        name_key=name_key(name),
        archived=False,
        created_at=now,
        updated_at=now,
        **values,
    )
    row.search_text = search_words(row.name)
    return row


async def create_in(session: AsyncSession, message: pb.Company, now: datetime) -> CompanyRow:
    problems = Violations(check_company(message))
    definitions = await custom_fields.definitions(session, RecordType.COMPANY)
    custom, found = custom_fields.apply(
        definitions, {}, message.custom_fields, creating=True, field="company.custom_fields"
    )
    problems.extend(found)
    problems.raise_if_any()
    row = Companies(session).add(
        named(
            message.name,
            now,
            domain=message.domain.strip().lower(),
            phone=message.phone.strip(),
            industry=message.industry.strip(),
            owner_id=message.owner_id or actor_id(),
            tags=clean_tags(message.tags),
            custom=custom,
        )
    )
    remember_change(session, RecordType.COMPANY, row.id, "created", now)
    await events.publish(session, pb.CompanyCreated(company=convert.company(row)), row.id)
    return row


async def get(deps: Deps, company_id: str) -> CompanyRow:
    found: CompanyRow = await Companies.read(deps.db, company_id)
    return found


async def update_company(deps: Deps, message: pb.Company, mask: Sequence[str]) -> CompanyRow:
    paths = changed_paths(message, mask, COMPANY_FIELDS, "company.")
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Companies(session).get(message.id, lock=True)
        problems = Violations(check_company(message, [p.split(".")[0] for p in paths]))
        custom_given = [p for p in paths if p.startswith("custom_fields")]
        custom = row.custom
        if custom_given:
            definitions = await custom_fields.definitions(session, RecordType.COMPANY)
            custom, found = custom_fields.apply_paths(
                definitions, row.custom, message.custom_fields, custom_given, "company."
            )
            problems.extend(found)
        problems.raise_if_any()
        for path in paths:
            if path == "name":
                row.name, row.name_key = message.name.strip(), name_key(message.name)
                row.search_text = search_words(row.name)
            elif path == "domain":
                row.domain = message.domain.strip().lower()
            elif path == "tags":
                row.tags = clean_tags(message.tags)
            elif path.startswith("custom_fields"):
                row.custom = custom
            elif path == "owner_id":
                row.owner_id = message.owner_id or actor_id()
            else:
                setattr(row, path, getattr(message, path).strip())
        row.updated_at = now
        remember_change(
            session, RecordType.COMPANY, row.id, "updated", now, "Changed: " + ", ".join(paths)
        )
        await events.publish(
            session,
            pb.CompanyUpdated(company=convert.company(row), changed_fields=list(paths)),
            row.id,
        )
        return row


async def set_archived(deps: Deps, company_id: str, archived: bool) -> CompanyRow:
    now = deps.now()
    async with deps.db.transaction() as session:
        row = await Companies(session).get(company_id, lock=True)
        if row.archived == archived:
            return row
        row.archived = archived
        row.updated_at = now
        remember_change(
            session, RecordType.COMPANY, row.id, "archived" if archived else "restored", now
        )
        message = convert.company(row)
        payload = (
            pb.CompanyArchived(company=message)
            if archived
            else pb.CompanyUpdated(company=message, changed_fields=["archived"])
        )
        await events.publish(session, payload, row.id)
        return row
