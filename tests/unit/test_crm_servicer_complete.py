"""Every RPC of erp.crm.v1.CrmService is served by svc_crm.api.CrmApi itself: none
falls through to the generated base class, which answers UNIMPLEMENTED."""

from __future__ import annotations

import inspect

import pytest

from erp.crm.v1 import crm_service_pb2, crm_service_pb2_grpc
from svc_crm.api import CrmApi
from svc_crm.api.base import ApiBase

SERVICE = crm_service_pb2.DESCRIPTOR.services_by_name["CrmService"]
RPCS = [method.name for method in SERVICE.methods]
GENERATED = crm_service_pb2_grpc.CrmServiceServicer


def owner_of(name: str) -> type:
    """The class of CrmApi's method resolution order that defines `name`."""
    for cls in CrmApi.__mro__:
        if name in vars(cls):
            return cls
    raise AssertionError(f"nothing defines {name}")


def test_the_contract_has_the_rpcs_we_count_on() -> None:
    # A guard against an empty or wrongly named service making the test below vacuous.
    assert len(RPCS) == 51
    assert {"CreateContact", "MergeContacts", "ImportContacts", "GetWinRateReport"} <= set(RPCS)
    assert [m.name for m in SERVICE.methods if m.client_streaming] == ["ImportContacts"]
    assert not [m.name for m in SERVICE.methods if m.server_streaming]


@pytest.mark.parametrize("rpc", RPCS)
def test_rpc_is_implemented_by_the_servicer(rpc: str) -> None:
    owner = owner_of(rpc)
    assert owner is not GENERATED, f"{rpc} falls through to the generated UNIMPLEMENTED stub"
    assert issubclass(owner, ApiBase), f"{rpc} is defined by {owner.__qualname__}"
    assert owner.__module__.startswith("svc_crm.api."), owner.__module__
    method = getattr(CrmApi, rpc)
    assert method is not getattr(GENERATED, rpc)
    assert inspect.iscoroutinefunction(method), f"{rpc} is not async (grpc.aio)"
    # (self, request or request_iterator, context): what grpc.aio calls it with.
    assert len(inspect.signature(method).parameters) == 3, rpc


def test_the_servicer_adds_no_rpc_outside_the_contract() -> None:
    """A public CamelCase method the contract lacks is a typo of an RPC name."""
    extra = {
        name
        for cls in CrmApi.__mro__
        if issubclass(cls, ApiBase)
        for name in vars(cls)
        if name[:1].isupper()
    } - set(RPCS)
    assert extra == set()
