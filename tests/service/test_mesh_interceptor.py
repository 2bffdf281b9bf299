"""The mesh interceptor on a real grpc.aio server: authentication, the contract's
access rule, and error mapping (never a traceback to the client)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from google.rpc import error_details_pb2, status_pb2
from jwt.algorithms import ECAlgorithm

from erp.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from mesh import contracts
from mesh.errors import STATUS_DETAILS_KEY, InvalidArgument
from mesh.interceptor import MeshInterceptor
from mesh.tokens import AUDIENCE, ISSUER, JwksKeys, TokenVerifier

PRIVATE = ec.generate_private_key(ec.SECP256R1())


async def _jwks() -> dict[str, Any]:
    jwk = json.loads(ECAlgorithm.to_jwk(PRIVATE.public_key()))
    jwk.update(kid="k1", alg="ES256")
    return {"keys": [jwk]}


def _token(perms: list[str]) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u1", "tid": "t1", "perms": perms}
    claims.update(iat=now, exp=now + 300)
    return jwt.encode(claims, PRIVATE, algorithm="ES256", headers={"kid": "k1"})


class Servicer(auth_service_pb2_grpc.AuthServiceServicer):
    """Stands in for a service's servicer; each RPC misbehaves in its own way."""

    async def GetMe(self, request: Any, context: Any) -> auth_service_pb2.GetMeResponse:
        return auth_service_pb2.GetMeResponse(tenant_id="t1")

    async def GetTenant(self, request: Any, context: Any) -> Any:
        raise RuntimeError("database exploded at /secret/path.py line 3")

    async def GetUser(self, request: Any, context: Any) -> Any:
        raise InvalidArgument.one("user_id", "must be a UUID")

    async def GetJwks(self, request: Any, context: Any) -> auth_service_pb2.GetJwksResponse:
        return auth_service_pb2.GetJwksResponse()


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[auth_service_pb2_grpc.AuthServiceStub]:
    verifier = TokenVerifier(JwksKeys(_jwks))
    server = grpc.aio.server(interceptors=[MeshInterceptor(verifier, contracts.methods())])
    auth_service_pb2_grpc.add_AuthServiceServicer_to_server(Servicer(), server)
    address = f"unix:{tmp_path / 'svc.sock'}"
    server.add_insecure_port(address)
    await server.start()
    async with grpc.aio.insecure_channel(address) as channel:
        yield auth_service_pb2_grpc.AuthServiceStub(channel)
    await server.stop(None)


def _details(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    raw = dict(error.trailing_metadata() or ())[STATUS_DETAILS_KEY]
    return status_pb2.Status.FromString(raw)


def _auth(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def test_public_rpc_needs_no_token(stub: auth_service_pb2_grpc.AuthServiceStub) -> None:
    await stub.GetJwks(auth_service_pb2.GetJwksRequest())


async def test_missing_token_is_unauthenticated(
    stub: auth_service_pb2_grpc.AuthServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMe(auth_service_pb2.GetMeRequest())
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_permission_from_contract_is_enforced(
    stub: auth_service_pb2_grpc.AuthServiceStub,
) -> None:
    answer = await stub.GetMe(
        auth_service_pb2.GetMeRequest(), metadata=_auth(_token(["auth.self.read"]))
    )
    assert answer.tenant_id == "t1"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=_auth(_token(["crm.*.*"])))
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "auth.self.read" in (caught.value.details() or "")


async def test_domain_error_carries_field_violations(
    stub: auth_service_pb2_grpc.AuthServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetUser(auth_service_pb2.GetUserRequest(), metadata=_auth(_token(["*"])))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert _details(caught.value).details[0].Unpack(bad)
    assert bad.field_violations[0].field == "user_id"


async def test_unexpected_error_is_internal_with_correlation_id_and_no_traceback(
    stub: auth_service_pb2_grpc.AuthServiceStub, caplog: pytest.LogCaptureFixture
) -> None:
    from mesh.logs import stamp_context

    stamp_context()
    metadata = [*_auth(_token(["*"])), ("x-request-id", "req-42")]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetTenant(auth_service_pb2.GetTenantRequest(), metadata=metadata)
    error = caught.value
    assert error.code() is grpc.StatusCode.INTERNAL
    assert "req-42" in (error.details() or "")
    assert "exploded" not in (error.details() or "") and "Traceback" not in (error.details() or "")
    info = error_details_pb2.RequestInfo()
    assert _details(error).details[0].Unpack(info)
    assert info.request_id == "req-42"
    # the traceback is in the service's log, under the same correlation id
    logged = next(r for r in caplog.records if r.msg == "unexpected error")
    assert logged.correlation_id == "req-42" and logged.exc_info  # type: ignore[attr-defined]


async def test_refusals_are_logged_as_json_lines_with_their_context(
    stub: auth_service_pb2_grpc.AuthServiceStub, caplog: pytest.LogCaptureFixture
) -> None:
    from mesh.logs import JsonFormatter, stamp_context

    stamp_context()  # as mesh.logs.configure does in every service process
    caplog.set_level("DEBUG", logger="mesh.rpc")  # OK calls are DEBUG, refusals INFO
    metadata = [*_auth(_token(["auth.self.read"])), ("x-request-id", "req-log-1")]
    await stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.GetMe(auth_service_pb2.GetMeRequest())
    lines = [json.loads(JsonFormatter("test").format(r)) for r in caplog.records if r.msg == "rpc"]
    ok, refused = lines[-2], lines[-1]
    assert ok["method"] == "/erp.auth.v1.AuthService/GetMe" and ok["code"] == "OK"
    assert ok["correlation_id"] == "req-log-1" and ok["tenant_id"] == "t1"
    assert refused["code"] == "UNAUTHENTICATED" and "tenant_id" not in refused
    assert [r.levelname for r in caplog.records if r.msg == "rpc"][-2:] == ["DEBUG", "INFO"]
