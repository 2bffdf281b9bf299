"""The caller's tenant and its security log."""

from __future__ import annotations

from mesh.context import current_tenant
from svc_auth.app.common import Deps
from svc_auth.store import AuditLog, AuditRow, TenantRow, Tenants


async def get(deps: Deps) -> TenantRow:
    async with deps.db.sessions() as session:
        return await Tenants(session).get(current_tenant())


async def audit_page(deps: Deps, after: str, limit: int) -> list[AuditRow]:
    """Newest first."""
    async with deps.db.sessions() as session:
        return await AuditLog(session).page(after, limit, newest_first=True)
