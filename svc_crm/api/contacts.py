"""Contacts, custom fields and import RPCs: contract messages in, use cases called,
messages out. No SQL and no rules here."""

from __future__ import annotations

from erp.crm.v1 import crm_pb2
from erp.crm.v1 import crm_service_pb2 as pb
from mesh.values import required
from svc_crm import convert
from svc_crm.api.base import ApiBase, Ctx
from svc_crm.app import contacts, custom_fields, imports, listing
from svc_crm.app.common import replayable


class ContactsApi(ApiBase):
    # --- custom fields -------------------------------------------------------------------

    async def DefineCustomField(  # noqa: N802
        self, request: pb.DefineCustomFieldRequest, context: Ctx
    ) -> crm_pb2.CustomFieldDefinition:
        async def run() -> crm_pb2.CustomFieldDefinition:
            row = await custom_fields.define(self.deps, session, request.field)
            return convert.custom_field(row)

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, crm_pb2.CustomFieldDefinition, run)

    async def ListCustomFields(  # noqa: N802
        self, request: pb.ListCustomFieldsRequest, context: Ctx
    ) -> pb.ListCustomFieldsResponse:
        rows = await custom_fields.list_defined(
            self.deps, request.record_kind, request.show_archived
        )
        return pb.ListCustomFieldsResponse(fields=[convert.custom_field(r) for r in rows])

    async def ArchiveCustomField(  # noqa: N802
        self, request: pb.ArchiveCustomFieldRequest, context: Ctx
    ) -> crm_pb2.CustomFieldDefinition:
        row = await custom_fields.archive(self.deps, required(request.id, "id"))
        return convert.custom_field(row)

    # --- contacts ------------------------------------------------------------------------

    async def CreateContact(  # noqa: N802
        self, request: pb.CreateContactRequest, context: Ctx
    ) -> crm_pb2.Contact:
        async def run() -> crm_pb2.Contact:
            row = await contacts.create(
                self.deps, session, request.contact, request.allow_duplicate
            )
            return convert.contact(row)

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, crm_pb2.Contact, run)

    async def GetContact(  # noqa: N802
        self, request: pb.GetContactRequest, context: Ctx
    ) -> crm_pb2.Contact:
        values = await contacts.get(self.deps, required(request.id, "id"))
        return convert.contact_of(values)

    async def UpdateContact(  # noqa: N802
        self, request: pb.UpdateContactRequest, context: Ctx
    ) -> crm_pb2.Contact:
        required(request.contact.id, "contact.id")
        row = await contacts.update_contact(
            self.deps, request.contact, list(request.update_mask.paths), request.allow_duplicate
        )
        return convert.contact(row)

    async def ArchiveContact(  # noqa: N802
        self, request: pb.ArchiveContactRequest, context: Ctx
    ) -> crm_pb2.Contact:
        row = await contacts.set_archived(self.deps, required(request.id, "id"), True)
        return convert.contact(row)

    async def RestoreContact(  # noqa: N802
        self, request: pb.RestoreContactRequest, context: Ctx
    ) -> crm_pb2.Contact:
        row = await contacts.set_archived(self.deps, required(request.id, "id"), False)
        return convert.contact(row)

    async def ListContacts(  # noqa: N802
        self, request: pb.ListContactsRequest, context: Ctx
    ) -> pb.ListContactsResponse:
        rows, token = await listing.run(self.deps.db, listing.CONTACTS, listing.request_of(request))
        return pb.ListContactsResponse(
            contacts=[convert.contact(r) for r in rows], next_page_token=token
        )

    async def SearchContacts(  # noqa: N802
        self, request: pb.SearchContactsRequest, context: Ctx
    ) -> pb.SearchContactsResponse:
        rows, token = await contacts.search(
            self.deps, request.query, request.page_size, request.page_token
        )
        return pb.SearchContactsResponse(
            contacts=[convert.contact(r) for r in rows], next_page_token=token
        )

    async def MergeContacts(  # noqa: N802
        self, request: pb.MergeContactsRequest, context: Ctx
    ) -> pb.MergeContactsResponse:
        survivor = required(request.survivor_id, "survivor_id")
        merged = required(request.merged_id, "merged_id")

        async def run() -> pb.MergeContactsResponse:
            row, activities, deals = await contacts.merge(self.deps, session, survivor, merged)
            return pb.MergeContactsResponse(
                contact=convert.contact(row),
                moved_activities=activities,
                moved_opportunities=deals,
            )

        async with self.deps.db.transaction() as session:
            return await replayable(session, request, pb.MergeContactsResponse, run)

    # --- import --------------------------------------------------------------------------

    async def ImportContacts(  # noqa: N802
        self, request_iterator: object, context: Ctx
    ) -> pb.ImportContactsResponse:
        return await imports.run(self.deps, request_iterator)  # type: ignore[arg-type]

    async def GetImport(  # noqa: N802
        self, request: pb.GetImportRequest, context: Ctx
    ) -> pb.GetImportResponse:
        return await imports.status(self.deps, required(request.import_id, "import_id"))
