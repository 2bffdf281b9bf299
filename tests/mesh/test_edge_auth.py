"""svc_auth through the real edge, as a browser (REST/JSON) and an integrator (gRPC) meet it."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from datetime import timedelta

import grpc
import jwt
import pytest
from real_mesh import PASSWORD, RunningMesh, grpcurl  # type: ignore[import-not-found]

from erp.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from mesh.db import Database

pytestmark = pytest.mark.mesh


def _violated_fields(body: dict[str, object]) -> set[str]:
    fields: set[str] = set()
    for detail in body.get("details", []):  # type: ignore[attr-defined]
        if detail.get("@type", "").endswith("google.rpc.BadRequest"):
            fields |= {v["field"] for v in detail.get("field_violations", [])}
    return fields


def test_signup_login_me(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup("Acme")
    assert owner["tenant"]["name"] == "Acme"
    assert owner["user"]["roles"] == ["owner"]
    login = running_mesh.call(
        "POST", "/v1/auth/login", {"email": owner["email"], "password": PASSWORD}
    )
    assert login.status == 200, login
    token = login.body["tokens"]["access_token"]
    me = running_mesh.call("GET", "/v1/auth/me", token=token)
    assert me.status == 200, me
    assert me.body["user"]["email"] == owner["email"]
    assert me.body["tenant_id"] == owner["tenant"]["tenant_id"]
    assert me.content_type.startswith("application/json")


def test_no_token_is_401_json(running_mesh: RunningMesh) -> None:
    reply = running_mesh.call("GET", "/v1/auth/me")
    assert reply.status == 401
    assert reply.content_type.startswith("application/json")
    assert reply.body["code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["perms"] = ["*"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_tampered_token_is_401(running_mesh: RunningMesh) -> None:
    token = running_mesh.signup()["tokens"]["access_token"]
    for bad in (_tamper(token), token[:-4] + "AAAA", "not.a.jwt"):
        reply = running_mesh.call("GET", "/v1/auth/me", token=bad)
        assert reply.status == 401, (bad, reply)
        assert reply.body["code"] == 16


async def test_expired_token_is_401(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    expired = await _expired_token_like(running_mesh, owner["tokens"]["access_token"])
    reply = running_mesh.call("GET", "/v1/auth/me", token=expired)
    assert reply.status == 401, reply
    assert reply.body["code"] == 16


async def _expired_token_like(running_mesh: RunningMesh, token: str) -> str:
    """The same claims, signed with svc_auth's real current key, expired an hour ago."""
    from svc_auth.keys import KeyStore, load_or_create_kek

    db = Database(running_mesh.database_url("auth"))
    try:
        store = KeyStore(db, load_or_create_kek(running_mesh.paths.certs), timedelta(minutes=15))
        await store.load()
        key = await store.current()
    finally:
        await db.close()
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    return jwt.encode(claims, key.private, algorithm="ES256", headers={"kid": key.kid})


def test_bad_input_is_400_naming_the_fields(running_mesh: RunningMesh) -> None:
    reply = running_mesh.call(
        "POST", "/v1/auth/signup", {"tenant_name": "Acme", "email": "", "password": "short"}
    )
    assert reply.status == 400, reply
    assert reply.body["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert {"email", "password"} <= _violated_fields(reply.body)


def test_wrong_json_type_is_400_json(running_mesh: RunningMesh) -> None:
    reply = running_mesh.call(
        "POST", "/v1/auth/signup", '{"tenant_name": "Acme", "email": {"not": "a string"}}'
    )
    assert reply.status == 400, reply
    assert reply.content_type.startswith("application/json")
    assert reply.body["code"] == 3
    assert "email" in reply.body["message"]


def test_edge_serves_the_openapi_document(running_mesh: RunningMesh) -> None:
    reply = running_mesh.call("GET", "/openapi.json")
    assert reply.status == 200 and reply.content_type.startswith("application/json")
    assert reply.body["openapi"].startswith("3.")
    assert "/v1/auth/signup" in reply.body["paths"]


def test_unknown_path_is_404_json(running_mesh: RunningMesh) -> None:
    reply = running_mesh.call("GET", "/v1/auth/nothing-here")
    assert reply.status == 404
    assert reply.content_type.startswith("application/json")


def test_duplicate_signup_email_is_409(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    again = running_mesh.call(
        "POST",
        "/v1/auth/signup",
        {"tenant_name": "Other", "email": owner["email"], "password": PASSWORD},
    )
    assert again.status == 409, again
    assert again.body["code"] == grpc.StatusCode.ALREADY_EXISTS.value[0]


def test_tenant_isolation_other_tenants_ids_are_404(running_mesh: RunningMesh) -> None:
    alice = running_mesh.signup("Alpha")
    bob = running_mesh.signup("Beta")
    token = alice["tokens"]["access_token"]
    bob_user = bob["user"]["user_id"]
    bob_token = bob["tokens"]["access_token"]
    bob_roles = running_mesh.call("GET", "/v1/auth/roles", token=bob_token).body["roles"]
    bob_role = bob_roles[0]["role_id"]
    key = running_mesh.call(
        "POST", "/v1/auth/api-keys", {"name": "ci", "permissions": ["auth.self.read"]}, bob_token
    )
    assert key.status == 200, key
    bob_key = key.body["api_key"]["api_key_id"]
    attempts = [
        ("GET", f"/v1/auth/users/{bob_user}", None),
        ("POST", f"/v1/auth/users/{bob_user}:deactivate", {}),
        ("POST", f"/v1/auth/users/{bob_user}:setRoles", {"roles": ["viewer"]}),
        ("GET", f"/v1/auth/roles/{bob_role}", None),
        ("DELETE", f"/v1/auth/roles/{bob_role}", None),
        ("POST", f"/v1/auth/api-keys/{bob_key}:revoke", {}),
    ]
    for method, path, body in attempts:
        reply = running_mesh.call(method, path, body, token)
        assert reply.status == 404, (path, reply)
    # and Bob's data is untouched
    still = running_mesh.call("GET", f"/v1/auth/users/{bob_user}", token=bob_token)
    assert still.body["user"]["status"] == "USER_STATUS_ACTIVE"


async def test_grpc_through_the_edge(running_mesh: RunningMesh) -> None:
    token = running_mesh.signup()["tokens"]["access_token"]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running_mesh.edge_port}") as channel:
        stub = auth_service_pb2_grpc.AuthServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetMe(auth_service_pb2.GetMeRequest())
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
        metadata = (("authorization", f"Bearer {token}"),)
        me = await stub.GetMe(auth_service_pb2.GetMeRequest(), metadata=metadata)
    assert list(me.user.roles) == ["owner"]


def test_grpcurl_lists_every_contract_service(running_mesh: RunningMesh) -> None:
    from mesh import contracts

    out = grpcurl("-plaintext", f"127.0.0.1:{running_mesh.edge_port}", "list")
    assert out.returncode == 0, out.stderr
    listed = set(out.stdout.split())
    assert set(contracts.service_names()) <= listed


def test_grpcurl_getme_with_token(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    out = grpcurl(
        "-plaintext",
        "-H",
        f"authorization: Bearer {owner['tokens']['access_token']}",
        f"127.0.0.1:{running_mesh.edge_port}",
        "erp.auth.v1.AuthService/GetMe",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["user"]["email"] == owner["email"]


def test_edge_and_sidecar_keep_json_access_logs(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    assert running_mesh.call("GET", "/v1/auth/me", token=owner["tokens"]["access_token"]).status
    assert running_mesh.call("GET", "/v1/auth/me").status == 401

    def lines(part: str) -> list[dict[str, str]]:
        text = (running_mesh.paths.logs / f"{part}.log").read_text()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    import time

    deadline = time.monotonic() + 10  # Envoy flushes its access log every few seconds
    while True:
        edge = [e for e in lines("edge") if e["path"] == "/v1/auth/me"]
        sidecar = [e for e in lines("auth-sidecar") if e["grpc_path"].endswith("/GetMe")]
        if {200, 401} <= {e["status"] for e in edge} and sidecar:
            break
        assert time.monotonic() < deadline, (edge, sidecar)
        time.sleep(0.2)
    assert any(e["grpc_path"] == "/erp.auth.v1.AuthService/GetMe" for e in edge)
    assert sidecar[-1]["caller"] == "spiffe://erp.local/svc/edge"  # who called, verified
    assert all(e["request_id"] for e in edge)


def test_service_exposes_prometheus_metrics(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    running_mesh.call("GET", "/v1/auth/me", token=owner["tokens"]["access_token"])
    url = f"http://127.0.0.1:{running_mesh.ports['auth.metrics']}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - loopback
        text = reply.read().decode()
    getme = [
        line
        for line in text.splitlines()
        if line.startswith("erp_rpc_duration_seconds_count")
        and 'method="/erp.auth.v1.AuthService/GetMe"' in line
        and 'code="OK"' in line
    ]
    assert getme and float(getme[0].rsplit(" ", 1)[1]) >= 1
