"""Events carry who, where and which trace: the envelope every consumer relies on."""

from __future__ import annotations

from auth_client import PASSWORD, unique_email  # type: ignore[import-not-found]
from auth_harness import Auth  # type: ignore[import-not-found]
from jetstream_probe import read_event  # type: ignore[import-not-found]

from erp.auth.v1 import auth_pb2
from erp.auth.v1 import auth_service_pb2 as pb
from erp.common.v1 import event_pb2

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_signup_events_carry_tenant_actor_correlation_and_trace(auth: Auth) -> None:
    email = unique_email("traced")
    metadata = (("traceparent", TRACEPARENT), ("x-request-id", "req-trace-1"))
    up = await auth.stub.Signup(
        pb.SignupRequest(tenant_name="Traced", email=email, password=PASSWORD), metadata=metadata
    )
    tenant_id = up.tenant.tenant_id
    created = auth_pb2.UserCreated()
    envelope = await read_event(
        auth.nats_url,
        f"erp.auth.{tenant_id}.user.created",
        created,
        match=lambda e: e.user.email == email,
    )
    assert envelope.event_type == "auth.user.created"
    assert envelope.tenant_id == tenant_id and envelope.source == "auth"
    assert envelope.aggregate_id == up.user.user_id
    assert envelope.correlation_id == "req-trace-1"
    assert envelope.traceparent == TRACEPARENT
    assert envelope.actor.kind == event_pb2.ACTOR_KIND_ANONYMOUS
    assert envelope.schema_version == 1 and envelope.event_id
