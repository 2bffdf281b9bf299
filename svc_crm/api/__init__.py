"""The CrmService servicer, one part per area; each part translates contract
messages to use-case calls and back, with no SQL and no rules."""

from __future__ import annotations

from erp.crm.v1 import crm_service_pb2_grpc
from svc_crm.api.activities import ActivitiesApi
from svc_crm.api.companies import CompaniesApi
from svc_crm.api.contacts import ContactsApi
from svc_crm.api.deals import DealsApi
from svc_crm.api.leads import LeadsApi


class CrmApi(
    ContactsApi,
    CompaniesApi,
    LeadsApi,
    DealsApi,
    ActivitiesApi,
    crm_service_pb2_grpc.CrmServiceServicer,
):
    """Every RPC of erp.crm.v1.CrmService (the generated base answers UNIMPLEMENTED
    for any the parts lack, which a test forbids)."""
