"""Pipelines, opportunities and deal report RPCs: contract messages in, use cases
called, messages out. No SQL and no rules here."""

from __future__ import annotations

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb
from mesh.values import required
from svc_crm import convert
from svc_crm.api.base import ApiBase, Ctx
from svc_crm.app import listing, opportunities, pipelines, reports
from svc_crm.app.common import replayable


class DealsApi(ApiBase):
    # --- pipelines -----------------------------------------------------------------------

    async def CreatePipeline(  # noqa: N802
        self, request: pb.CreatePipelineRequest, context: Ctx
    ) -> crm_pb2.Pipeline:
        async def run() -> crm_pb2.Pipeline:
            row, stages = await pipelines.create(
                self.deps, session, request.name, request.stages, request.is_default
            )
            return convert.pipeline(row, stages)

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, crm_pb2.Pipeline, run)

    async def GetPipeline(  # noqa: N802
        self, request: pb.GetPipelineRequest, context: Ctx
    ) -> crm_pb2.Pipeline:
        row, stages = await pipelines.get(self.deps, required(request.id, "id"))
        return convert.pipeline(row, stages)

    async def ListPipelines(  # noqa: N802
        self, request: pb.ListPipelinesRequest, context: Ctx
    ) -> pb.ListPipelinesResponse:
        found = await pipelines.list_all(self.deps)
        return pb.ListPipelinesResponse(
            pipelines=[convert.pipeline(row, stages) for row, stages in found]
        )

    async def UpdatePipeline(  # noqa: N802
        self, request: pb.UpdatePipelineRequest, context: Ctx
    ) -> crm_pb2.Pipeline:
        required(request.pipeline.id, "pipeline.id")
        row, stages = await pipelines.update_pipeline(self.deps, request.pipeline)
        return convert.pipeline(row, stages)

    # --- opportunities -------------------------------------------------------------------

    async def CreateOpportunity(  # noqa: N802
        self, request: pb.CreateOpportunityRequest, context: Ctx
    ) -> crm_pb2.Opportunity:
        async def run() -> crm_pb2.Opportunity:
            row = await opportunities.create(self.deps, session, request.opportunity)
            return convert.opportunity(row)

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, crm_pb2.Opportunity, run)

    async def GetOpportunity(  # noqa: N802
        self, request: pb.GetOpportunityRequest, context: Ctx
    ) -> crm_pb2.Opportunity:
        row = await opportunities.get(self.deps, required(request.id, "id"))
        return convert.opportunity(row)

    async def UpdateOpportunity(  # noqa: N802
        self, request: pb.UpdateOpportunityRequest, context: Ctx
    ) -> crm_pb2.Opportunity:
        required(request.opportunity.id, "opportunity.id")
        row = await opportunities.update_opportunity(
            self.deps, request.opportunity, list(request.update_mask.paths)
        )
        return convert.opportunity(row)

    async def ListOpportunities(  # noqa: N802
        self, request: pb.ListOpportunitiesRequest, context: Ctx
    ) -> pb.ListOpportunitiesResponse:
        rows, token = await listing.run(
            self.deps.db, listing.OPPORTUNITIES, listing.request_of(request)
        )
        return pb.ListOpportunitiesResponse(
            opportunities=[convert.opportunity(r) for r in rows], next_page_token=token
        )

    async def MoveOpportunity(  # noqa: N802
        self, request: pb.MoveOpportunityRequest, context: Ctx
    ) -> crm_pb2.Opportunity:
        row = await opportunities.move(
            self.deps, required(request.id, "id"), required(request.stage_id, "stage_id")
        )
        return convert.opportunity(row)

    async def WinOpportunity(  # noqa: N802
        self, request: pb.WinOpportunityRequest, context: Ctx
    ) -> crm_pb2.Opportunity:
        final = request.amount if request.HasField("amount") and request.amount.ByteSize() else None
        row = await opportunities.win(self.deps, required(request.id, "id"), final)
        return convert.opportunity(row)

    async def LoseOpportunity(  # noqa: N802
        self, request: pb.LoseOpportunityRequest, context: Ctx
    ) -> crm_pb2.Opportunity:
        row = await opportunities.lose(self.deps, required(request.id, "id"), request.reason)
        return convert.opportunity(row)

    async def ArchiveOpportunity(  # noqa: N802
        self, request: pb.ArchiveOpportunityRequest, context: Ctx
    ) -> crm_pb2.Opportunity:
        row = await opportunities.archive(self.deps, required(request.id, "id"))
        return convert.opportunity(row)

    # --- reports -------------------------------------------------------------------------

    async def GetPipelineReport(  # noqa: N802
        self, request: pb.GetPipelineReportRequest, context: Ctx
    ) -> pb.GetPipelineReportResponse:
        return await reports.pipeline_report(self.deps, request.pipeline_id)

    async def GetForecastReport(  # noqa: N802
        self, request: pb.GetForecastReportRequest, context: Ctx
    ) -> pb.GetForecastReportResponse:
        return await reports.forecast_report(
            self.deps, request.start_date, request.end_date, request.owner_id
        )

    async def GetWinRateReport(  # noqa: N802
        self, request: pb.GetWinRateReportRequest, context: Ctx
    ) -> pb.GetWinRateReportResponse:
        return await reports.win_rate_report(self.deps, request.start_date, request.end_date)
