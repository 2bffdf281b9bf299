"""Company RPCs: contract messages in, use cases called, messages out."""

from __future__ import annotations

from erp.crm.v1 import crm_service_pb2 as pb
from svc_crm import convert
from svc_crm.api.base import ApiBase, Ctx, required
from svc_crm.app import companies
from svc_crm.app.common import replayable


class CompaniesApi(ApiBase):
    async def CreateCompany(  # noqa: N802
        self, request: pb.CreateCompanyRequest, context: Ctx
    ) -> pb.CreateCompanyResponse:
        async def run() -> pb.CreateCompanyResponse:
            row = await companies.create_in(session, request.company, self.deps.now())
            return pb.CreateCompanyResponse(company=convert.company(row))

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, pb.CreateCompanyResponse, run)

    async def GetCompany(  # noqa: N802
        self, request: pb.GetCompanyRequest, context: Ctx
    ) -> pb.GetCompanyResponse:
        row = await companies.get(self.deps, required(request.id, "id"))
        return pb.GetCompanyResponse(company=convert.company(row))

    async def UpdateCompany(  # noqa: N802
        self, request: pb.UpdateCompanyRequest, context: Ctx
    ) -> pb.UpdateCompanyResponse:
        required(request.company.id, "company.id")
        row = await companies.update_company(
            self.deps, request.company, list(request.update_mask.paths)
        )
        return pb.UpdateCompanyResponse(company=convert.company(row))

    async def ArchiveCompany(  # noqa: N802
        self, request: pb.ArchiveCompanyRequest, context: Ctx
    ) -> pb.ArchiveCompanyResponse:
        row = await companies.set_archived(self.deps, required(request.id, "id"), True)
        return pb.ArchiveCompanyResponse(company=convert.company(row))

    async def RestoreCompany(  # noqa: N802
        self, request: pb.RestoreCompanyRequest, context: Ctx
    ) -> pb.RestoreCompanyResponse:
        row = await companies.set_archived(self.deps, required(request.id, "id"), False)
        return pb.RestoreCompanyResponse(company=convert.company(row))

    async def ListCompanies(  # noqa: N802
        self, request: pb.ListCompaniesRequest, context: Ctx
    ) -> pb.ListCompaniesResponse:
        rows, token = await companies.list_companies(
            self.deps,
            request.filter,
            request.order_by,
            request.page_size,
            request.page_token,
            request.show_archived,
        )
        return pb.ListCompaniesResponse(
            companies=[convert.company(r) for r in rows], next_page_token=token
        )
