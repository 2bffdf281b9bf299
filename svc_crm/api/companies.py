"""Company RPCs: contract messages in, use cases called, messages out."""

from __future__ import annotations

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb
from mesh.values import required
from svc_crm import convert
from svc_crm.api.base import ApiBase, Ctx
from svc_crm.app import companies, listing
from svc_crm.app.common import replayable


class CompaniesApi(ApiBase):
    async def CreateCompany(  # noqa: N802
        self, request: pb.CreateCompanyRequest, context: Ctx
    ) -> crm_pb2.Company:
        async def run() -> crm_pb2.Company:
            row = await companies.create_in(session, request.company, self.deps.now())
            return convert.company(row)

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, crm_pb2.Company, run)

    async def GetCompany(  # noqa: N802
        self, request: pb.GetCompanyRequest, context: Ctx
    ) -> crm_pb2.Company:
        row = await companies.get(self.deps, required(request.id, "id"))
        return convert.company(row)

    async def UpdateCompany(  # noqa: N802
        self, request: pb.UpdateCompanyRequest, context: Ctx
    ) -> crm_pb2.Company:
        required(request.company.id, "company.id")
        row = await companies.update_company(
            self.deps, request.company, list(request.update_mask.paths)
        )
        return convert.company(row)

    async def ArchiveCompany(  # noqa: N802
        self, request: pb.ArchiveCompanyRequest, context: Ctx
    ) -> crm_pb2.Company:
        row = await companies.set_archived(self.deps, required(request.id, "id"), True)
        return convert.company(row)

    async def RestoreCompany(  # noqa: N802
        self, request: pb.RestoreCompanyRequest, context: Ctx
    ) -> crm_pb2.Company:
        row = await companies.set_archived(self.deps, required(request.id, "id"), False)
        return convert.company(row)

    async def ListCompanies(  # noqa: N802
        self, request: pb.ListCompaniesRequest, context: Ctx
    ) -> pb.ListCompaniesResponse:
        rows, token = await listing.run(
            self.deps.db, listing.COMPANIES, listing.request_of(request)
        )
        return pb.ListCompaniesResponse(
            companies=[convert.company(r) for r in rows], next_page_token=token
        )
