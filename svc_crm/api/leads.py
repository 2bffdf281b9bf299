"""Leads and web form RPCs: contract messages in, use cases called, messages out.
No SQL and no rules here."""

from __future__ import annotations

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb
from mesh.values import required
from svc_crm import convert
from svc_crm.api.base import ApiBase, Ctx
from svc_crm.app import leads, listing, web_forms
from svc_crm.app.common import replayable


class LeadsApi(ApiBase):
    # --- leads ---------------------------------------------------------------------------

    async def CreateLead(  # noqa: N802
        self, request: pb.CreateLeadRequest, context: Ctx
    ) -> crm_pb2.Lead:
        async def run() -> crm_pb2.Lead:
            row = await leads.create(self.deps, session, request.lead)
            return convert.lead(row)

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, crm_pb2.Lead, run)

    async def GetLead(  # noqa: N802
        self, request: pb.GetLeadRequest, context: Ctx
    ) -> crm_pb2.Lead:
        row = await leads.get(self.deps, required(request.id, "id"))
        return convert.lead(row)

    async def UpdateLead(  # noqa: N802
        self, request: pb.UpdateLeadRequest, context: Ctx
    ) -> crm_pb2.Lead:
        required(request.lead.id, "lead.id")
        row = await leads.update_lead(self.deps, request.lead, list(request.update_mask.paths))
        return convert.lead(row)

    async def ListLeads(  # noqa: N802
        self, request: pb.ListLeadsRequest, context: Ctx
    ) -> pb.ListLeadsResponse:
        rows, token = await listing.run(self.deps.db, listing.LEADS, listing.request_of(request))
        return pb.ListLeadsResponse(leads=[convert.lead(r) for r in rows], next_page_token=token)

    async def QualifyLead(  # noqa: N802
        self, request: pb.QualifyLeadRequest, context: Ctx
    ) -> crm_pb2.Lead:
        row = await leads.qualify(self.deps, required(request.id, "id"))
        return convert.lead(row)

    async def DisqualifyLead(  # noqa: N802
        self, request: pb.DisqualifyLeadRequest, context: Ctx
    ) -> crm_pb2.Lead:
        row = await leads.disqualify(self.deps, required(request.id, "id"), request.reason)
        return convert.lead(row)

    async def ConvertLead(  # noqa: N802
        self, request: pb.ConvertLeadRequest, context: Ctx
    ) -> pb.ConvertLeadResponse:
        required(request.id, "id")

        async def run() -> pb.ConvertLeadResponse:
            done = await leads.convert_lead(self.deps, session, request)
            return pb.ConvertLeadResponse(
                lead=convert.lead(done.lead),
                contact=convert.contact(done.contact),
                company=convert.company(done.company) if done.company else None,
                opportunity=convert.opportunity(done.opportunity) if done.opportunity else None,
            )

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, pb.ConvertLeadResponse, run)

    # --- web forms -----------------------------------------------------------------------

    async def CreateWebForm(  # noqa: N802
        self, request: pb.CreateWebFormRequest, context: Ctx
    ) -> crm_pb2.WebForm:
        async def run() -> crm_pb2.WebForm:
            row = await web_forms.create(self.deps, session, request)
            return convert.web_form(row)

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, crm_pb2.WebForm, run)

    async def ListWebForms(  # noqa: N802
        self, request: pb.ListWebFormsRequest, context: Ctx
    ) -> pb.ListWebFormsResponse:
        rows = await web_forms.list_forms(self.deps)
        return pb.ListWebFormsResponse(web_forms=[convert.web_form(r) for r in rows])

    async def UpdateWebForm(  # noqa: N802
        self, request: pb.UpdateWebFormRequest, context: Ctx
    ) -> crm_pb2.WebForm:
        required(request.web_form.id, "web_form.id")
        row = await web_forms.update_form(
            self.deps, request.web_form, list(request.update_mask.paths)
        )
        return convert.web_form(row)

    async def SubmitWebForm(  # noqa: N802
        self, request: pb.SubmitWebFormRequest, context: Ctx
    ) -> pb.SubmitWebFormResponse:
        submission = await web_forms.submit(self.deps, request)
        return pb.SubmitWebFormResponse(submission_id=submission)
