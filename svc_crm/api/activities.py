"""Activity and timeline RPCs: contract messages in, use cases called, messages out.
No SQL and no rules here."""

from __future__ import annotations

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb
from mesh.timestamps import from_timestamp, to_timestamp
from mesh.values import required
from svc_crm import convert
from svc_crm.api.base import ApiBase, Ctx
from svc_crm.app import activities, listing
from svc_crm.app.common import replayable


def _entry(entry: activities.Entry) -> crm_pb2.TimelineEntry:
    if entry.activity is not None:
        return crm_pb2.TimelineEntry(
            time=to_timestamp(entry.time), activity=convert.activity(entry.activity)
        )
    assert entry.change is not None
    return crm_pb2.TimelineEntry(time=to_timestamp(entry.time), change=convert.change(entry.change))


class ActivitiesApi(ApiBase):
    async def CreateActivity(  # noqa: N802
        self, request: pb.CreateActivityRequest, context: Ctx
    ) -> crm_pb2.Activity:
        async def run() -> crm_pb2.Activity:
            row = await activities.create(self.deps, session, request.activity)
            return convert.activity(row)

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, crm_pb2.Activity, run)

    async def UpdateActivity(  # noqa: N802
        self, request: pb.UpdateActivityRequest, context: Ctx
    ) -> crm_pb2.Activity:
        required(request.activity.id, "activity.id")
        row = await activities.update_activity(
            self.deps, request.activity, list(request.update_mask.paths)
        )
        return convert.activity(row)

    async def CompleteActivity(  # noqa: N802
        self, request: pb.CompleteActivityRequest, context: Ctx
    ) -> crm_pb2.Activity:
        when = (
            from_timestamp(request.complete_time, "complete_time")
            if request.HasField("complete_time")
            else None
        )
        row = await activities.complete(self.deps, required(request.id, "id"), when)
        return convert.activity(row)

    async def DeleteActivity(  # noqa: N802
        self, request: pb.DeleteActivityRequest, context: Ctx
    ) -> crm_pb2.Activity:
        row = await activities.delete(self.deps, required(request.id, "id"))
        return convert.activity(row)

    async def ListActivities(  # noqa: N802
        self, request: pb.ListActivitiesRequest, context: Ctx
    ) -> pb.ListActivitiesResponse:
        rows, token = await listing.run(
            self.deps.db, listing.ACTIVITIES, listing.request_of(request)
        )
        return pb.ListActivitiesResponse(
            activities=[convert.activity(r) for r in rows], next_page_token=token
        )

    async def GetTimeline(  # noqa: N802
        self, request: pb.GetTimelineRequest, context: Ctx
    ) -> pb.GetTimelineResponse:
        entries, token = await activities.timeline(
            self.deps, request.record, request.page_size, request.page_token
        )
        return pb.GetTimelineResponse(entries=[_entry(e) for e in entries], next_page_token=token)
