"""Client-side helpers for the svc_auth service tests: sign-ups, bearer metadata,
and reading google.rpc details out of a failed call."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from erp.auth.v1 import auth_service_pb2 as pb
from erp.auth.v1 import auth_service_pb2_grpc

PASSWORD = "correct horse battery staple"
Stub = auth_service_pb2_grpc.AuthServiceStub


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def signup(
    stub: Stub, email: str | None = None, tenant: str = "Acme Ltd"
) -> pb.SignupResponse:
    response: pb.SignupResponse = await stub.Signup(
        pb.SignupRequest(
            tenant_name=tenant, email=email or unique_email("owner"), password=PASSWORD
        )
    )
    return response


def status_details(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError("no grpc-status-details-bin in the trailers")


def bad_fields(error: grpc.aio.AioRpcError) -> set[str]:
    """The field names of the google.rpc.BadRequest detail."""
    for detail in status_details(error).details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return {v.field for v in bad.field_violations}
    raise AssertionError("no BadRequest detail")


def reason(error: grpc.aio.AioRpcError) -> str:
    for detail in status_details(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


def retry_seconds(error: grpc.aio.AioRpcError) -> int:
    for detail in status_details(error).details:
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(retry):
            return int(retry.retry_delay.seconds)
    raise AssertionError("no RetryInfo detail")


async def fails(call: Any, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    """Await `call`, expect it to fail with `code`, return the error."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        assert error.code() == code, f"{error.code()}: {error.details()}"
        return error
    raise AssertionError(f"expected {code}")
