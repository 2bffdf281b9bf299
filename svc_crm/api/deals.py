"""Pipelines, opportunities and deal report RPCs: contract messages in, use cases
called, messages out. No SQL and no rules here."""

from __future__ import annotations

from erp.crm.v1 import crm_service_pb2 as pb
from svc_crm import convert
from svc_crm.api.base import ApiBase, Ctx, required
from svc_crm.app import opportunities, pipelines, reports
from svc_crm.app.common import replayable


class DealsApi(ApiBase):
    # --- pipelines -----------------------------------------------------------------------

    async def CreatePipeline(  # noqa: N802
        self, request: pb.CreatePipelineRequest, context: Ctx
    ) -> pb.CreatePipelineResponse:
        async def run() -> pb.CreatePipelineResponse:
            row, stages = await pipelines.create(
                self.deps, session, request.name, request.stages, request.is_default
            )
            return pb.CreatePipelineResponse(pipeline=convert.pipeline(row, stages))

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, pb.CreatePipelineResponse, run)

    async def GetPipeline(  # noqa: N802
        self, request: pb.GetPipelineRequest, context: Ctx
    ) -> pb.GetPipelineResponse:
        row, stages = await pipelines.get(self.deps, required(request.id, "id"))
        return pb.GetPipelineResponse(pipeline=convert.pipeline(row, stages))

    async def ListPipelines(  # noqa: N802
        self, request: pb.ListPipelinesRequest, context: Ctx
    ) -> pb.ListPipelinesResponse:
        found = await pipelines.list_all(self.deps)
        return pb.ListPipelinesResponse(
            pipelines=[convert.pipeline(row, stages) for row, stages in found]
        )

    async def UpdatePipeline(  # noqa: N802
        self, request: pb.UpdatePipelineRequest, context: Ctx
    ) -> pb.UpdatePipelineResponse:
        required(request.pipeline.id, "pipeline.id")
        row, stages = await pipelines.update_pipeline(self.deps, request.pipeline)
        return pb.UpdatePipelineResponse(pipeline=convert.pipeline(row, stages))

    # --- opportunities -------------------------------------------------------------------

    async def CreateOpportunity(  # noqa: N802
        self, request: pb.CreateOpportunityRequest, context: Ctx
    ) -> pb.CreateOpportunityResponse:
        async def run() -> pb.CreateOpportunityResponse:
            row = await opportunities.create(self.deps, session, request.opportunity)
            return pb.CreateOpportunityResponse(opportunity=convert.opportunity(row))

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, pb.CreateOpportunityResponse, run)

    async def GetOpportunity(  # noqa: N802
        self, request: pb.GetOpportunityRequest, context: Ctx
    ) -> pb.GetOpportunityResponse:
        row = await opportunities.get(self.deps, required(request.id, "id"))
        return pb.GetOpportunityResponse(opportunity=convert.opportunity(row))

    async def UpdateOpportunity(  # noqa: N802
        self, request: pb.UpdateOpportunityRequest, context: Ctx
    ) -> pb.UpdateOpportunityResponse:
        required(request.opportunity.id, "opportunity.id")
        row = await opportunities.update_opportunity(
            self.deps, request.opportunity, list(request.update_mask.paths)
        )
        return pb.UpdateOpportunityResponse(opportunity=convert.opportunity(row))

    async def ListOpportunities(  # noqa: N802
        self, request: pb.ListOpportunitiesRequest, context: Ctx
    ) -> pb.ListOpportunitiesResponse:
        rows, token = await opportunities.list_opportunities(
            self.deps,
            request.filter,
            request.order_by,
            request.page_size,
            request.page_token,
            request.show_archived,
        )
        return pb.ListOpportunitiesResponse(
            opportunities=[convert.opportunity(r) for r in rows], next_page_token=token
        )

    async def MoveOpportunity(  # noqa: N802
        self, request: pb.MoveOpportunityRequest, context: Ctx
    ) -> pb.MoveOpportunityResponse:
        row = await opportunities.move(
            self.deps, required(request.id, "id"), required(request.stage_id, "stage_id")
        )
        return pb.MoveOpportunityResponse(opportunity=convert.opportunity(row))

    async def WinOpportunity(  # noqa: N802
        self, request: pb.WinOpportunityRequest, context: Ctx
    ) -> pb.WinOpportunityResponse:
        final = request.amount if request.HasField("amount") and request.amount.ByteSize() else None
        row = await opportunities.win(self.deps, required(request.id, "id"), final)
        return pb.WinOpportunityResponse(opportunity=convert.opportunity(row))

    async def LoseOpportunity(  # noqa: N802
        self, request: pb.LoseOpportunityRequest, context: Ctx
    ) -> pb.LoseOpportunityResponse:
        row = await opportunities.lose(self.deps, required(request.id, "id"), request.reason)
        return pb.LoseOpportunityResponse(opportunity=convert.opportunity(row))

    async def ArchiveOpportunity(  # noqa: N802
        self, request: pb.ArchiveOpportunityRequest, context: Ctx
    ) -> pb.ArchiveOpportunityResponse:
        row = await opportunities.archive(self.deps, required(request.id, "id"))
        return pb.ArchiveOpportunityResponse(opportunity=convert.opportunity(row))

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
