"""The edge config, run for real: REST via the transcoder, JWT rules, JSON errors, 429.

The edge forwards over mTLS to a stand-in auth service's real sidecar.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from standin import Sidecar  # type: ignore[import-not-found]

from edge.envoy_edge import EdgeSettings, RateLimit, edge_bootstrap
from erp.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from mesh.envoy import write_bootstrap
from mesh.ports import free_ports


@dataclass
class Edge:
    port: int
    sidecar: Sidecar

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _start_edge(sidecar: Sidecar, run_envoy: Any, name: str, **kw: Any) -> Edge:
    port, admin = free_ports(2)
    settings = EdgeSettings(port=port, admin_port=admin, **kw)
    config = edge_bootstrap(settings, sidecar.certs["edge"], {"auth": sidecar.ports.inbound})
    run_envoy(write_bootstrap(sidecar.paths.envoy / f"{name}.json", config), admin)
    return Edge(port, sidecar)


@pytest.fixture
def edge(auth_sidecar: Sidecar, run_envoy: Any) -> Edge:
    return _start_edge(auth_sidecar, run_envoy, "edge", cors_origins=("http://app.example",))


def _call(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _json_error(url: str, status: int, code: int, **kw: Any) -> dict[str, Any]:
    got, headers, body = _call(url, **kw)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    data: dict[str, Any] = json.loads(body)
    assert data["code"] == code
    assert data["message"]
    return data


def test_public_rest_route_is_transcoded(edge: Edge) -> None:
    status, headers, body = _call(edge.url("/v1/auth/jwks"))
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["keys"][0]["kid"] == "standin-1"


def test_protected_route_needs_a_valid_token(edge: Edge) -> None:
    _json_error(edge.url("/v1/auth/me"), 401, 16)
    _json_error(edge.url("/v1/auth/me"), 401, 16, headers={"authorization": "Bearer x.y.z"})
    wrong_aud = edge.sidecar.service.token(aud="other")
    # Envoy answers a well-formed token for another audience with 403.
    _json_error(edge.url("/v1/auth/me"), 403, 7, headers={"authorization": f"Bearer {wrong_aud}"})
    expired = edge.sidecar.service.token(exp=1)
    _json_error(edge.url("/v1/auth/me"), 401, 16, headers={"authorization": f"Bearer {expired}"})
    token = edge.sidecar.service.token()
    status, _, body = _call(edge.url("/v1/auth/me"), headers={"authorization": f"Bearer {token}"})
    assert status == 200, body
    assert json.loads(body)["tenant_id"] == "t1"
    # forward: true - the service sees the token too, to verify it again.
    assert edge.sidecar.service.last_metadata["authorization"] == f"Bearer {token}"


def test_envoy_made_errors_are_json(edge: Edge) -> None:
    _json_error(edge.url("/v1/nowhere"), 404, 5)
    _json_error(edge.url("/v1/auth/jwks?nope=1"), 400, 3)
    bad_json = {
        "body": b'{"email": ',
        "method": "POST",
        "headers": {"content-type": "application/json"},
    }
    _json_error(edge.url("/v1/auth/signup"), 400, 3, **bad_json)


def test_service_errors_keep_their_grpc_code(edge: Edge) -> None:
    data = _json_error(
        edge.url("/v1/auth/signup"),
        400,
        3,
        body=b"{}",
        method="POST",
        headers={"content-type": "application/json"},
    )
    assert data["message"] == "email is required"


def test_cors_preflight_and_exposed_headers(edge: Edge) -> None:
    preflight = {"origin": "http://app.example", "access-control-request-method": "POST"}
    status, headers, _ = _call(edge.url("/v1/auth/signup"), method="OPTIONS", headers=preflight)
    assert status == 200
    assert headers["access-control-allow-origin"] == "http://app.example"
    status, headers, _ = _call(edge.url("/v1/auth/jwks"), headers={"origin": "http://app.example"})
    assert "grpc-status" in headers["access-control-expose-headers"]
    status, headers, _ = _call(edge.url("/v1/auth/jwks"), headers={"origin": "http://evil.example"})
    assert "access-control-allow-origin" not in {k.lower() for k in headers}


async def test_grpc_shares_the_port(edge: Edge) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{edge.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        auth = auth_service_pb2_grpc.AuthServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await auth.GetMe(auth_service_pb2.GetMeRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        token = (("authorization", f"Bearer {edge.sidecar.service.token()}"),)
        me = await auth.GetMe(auth_service_pb2.GetMeRequest(), metadata=token, timeout=5)
        assert me.tenant_id == "t1"


def test_grpcurl_lists_contract_services_via_reflection(edge: Edge) -> None:
    out = subprocess.run(
        [".venv/bin/grpcurl", "-plaintext", f"127.0.0.1:{edge.port}", "list"],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout.split()
    assert "erp.auth.v1.AuthService" in out


async def test_rate_limit_answers_429_and_resource_exhausted(edge: Edge, run_envoy: Any) -> None:
    # Its JWKS comes from the first edge, so the JWKS fetch spends none of its 2 tokens.
    tiny = _start_edge(
        edge.sidecar, run_envoy, "edge-tiny", rate_limit=RateLimit(2, 2, 60.0), jwks_port=edge.port
    )
    assert _call(tiny.url("/v1/auth/jwks"))[0] == 200
    assert _call(tiny.url("/v1/auth/jwks"))[0] == 200
    _json_error(tiny.url("/v1/auth/jwks"), 429, 8)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{tiny.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_dead_upstream_is_json_503(auth_sidecar: Sidecar, run_envoy: Any) -> None:
    from mesh.envoy import SidecarPorts

    # An edge whose auth sidecar port has nothing behind it.
    ghost = SidecarPorts(*free_ports(2))
    port, admin = free_ports(2)
    config = edge_bootstrap(
        EdgeSettings(port=port, admin_port=admin),
        auth_sidecar.certs["edge"],
        {"auth": ghost.inbound},
    )
    run_envoy(write_bootstrap(auth_sidecar.paths.envoy / "edge-dead.json", config), admin)
    _json_error(f"http://127.0.0.1:{port}/v1/auth/jwks", 503, 14)
