"""Sessions, roles, API keys, lockout and the rate limit, through the real edge."""

from __future__ import annotations

import dataclasses
import http.client
import json
import uuid

import pytest
from jetstream_probe import read_event  # type: ignore[import-not-found]
from real_mesh import PASSWORD, RunningMesh  # type: ignore[import-not-found]

from edge.envoy_edge import EdgeSettings, RateLimit, edge_bootstrap
from erp.auth.v1 import auth_pb2
from mesh.envoy import write_bootstrap
from mesh.pki import ensure_pki
from mesh.ports import free_ports

pytestmark = pytest.mark.mesh


async def _invited_member(running_mesh: RunningMesh, owner_token: str) -> str:
    """Invite a member, take the invitation from JetStream as the mailer would, accept it."""
    email = f"member-{uuid.uuid4().hex[:8]}@acme.test"
    invite = running_mesh.call("POST", "/v1/auth/users", {"email": email}, owner_token)
    assert invite.status == 200, invite
    assert invite.body["user"]["status"] == "USER_STATUS_INVITED"
    invited = auth_pb2.UserInvited()
    await read_event(
        running_mesh.nats_url,
        "erp.auth.*.user.invited",
        invited,
        match=lambda e: e.user.email == email,
    )
    accepted = running_mesh.call(
        "POST",
        "/v1/auth/invitations:accept",
        {"invitation_token": invited.invitation_token, "password": PASSWORD},
    )
    assert accepted.status == 200, accepted
    token: str = accepted.body["tokens"]["access_token"]
    return token


async def test_member_calling_an_admin_rpc_is_403(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    member = await _invited_member(running_mesh, owner["tokens"]["access_token"])
    me = running_mesh.call("GET", "/v1/auth/me", token=member)
    assert me.status == 200 and me.body["user"]["roles"] == ["member"]
    reply = running_mesh.call("POST", "/v1/auth/users", {"email": "x@acme.test"}, member)
    assert reply.status == 403, reply
    assert reply.body["code"] == 7
    assert running_mesh.call("GET", "/v1/auth/audit-events", token=member).status == 403


async def test_events_published_for_signup(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup("Evented")
    tenant_id = owner["tenant"]["tenant_id"]
    created = auth_pb2.TenantCreated()
    envelope = await read_event(
        running_mesh.nats_url,
        f"erp.auth.{tenant_id}.tenant.created",
        created,
        match=lambda e: e.tenant.tenant_id == tenant_id,
    )
    assert envelope.event_type == "auth.tenant.created"
    assert envelope.tenant_id == tenant_id and envelope.source == "auth"
    assert created.owner_user_id == owner["user"]["user_id"]


def test_refresh_rotates_and_reuse_revokes_the_family(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    first = owner["tokens"]["refresh_token"]
    rotated = running_mesh.call("POST", "/v1/auth/refresh", {"refresh_token": first})
    assert rotated.status == 200, rotated
    second = rotated.body["tokens"]["refresh_token"]
    assert second != first
    reused = running_mesh.call("POST", "/v1/auth/refresh", {"refresh_token": first})
    assert reused.status == 401, reused
    # the reuse revoked the whole family: the newest token is dead too
    after = running_mesh.call("POST", "/v1/auth/refresh", {"refresh_token": second})
    assert after.status == 401, after


def test_logout_ends_the_session(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    refresh = owner["tokens"]["refresh_token"]
    assert running_mesh.call("POST", "/v1/auth/logout", {"refresh_token": refresh}).status == 200
    assert running_mesh.call("POST", "/v1/auth/refresh", {"refresh_token": refresh}).status == 401


def test_lockout_after_repeated_failures(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    wrong = {"email": owner["email"], "password": "wrong password 123"}
    statuses = [running_mesh.call("POST", "/v1/auth/login", wrong).status for _ in range(5)]
    # the 5th failure (the default threshold) locks the account and says so
    assert statuses == [401, 401, 401, 401, 429]
    locked = running_mesh.call(
        "POST", "/v1/auth/login", {"email": owner["email"], "password": PASSWORD}
    )
    assert locked.status == 429, locked
    assert locked.body["code"] == 8
    audit = running_mesh.call("GET", "/v1/auth/audit-events", token=owner["tokens"]["access_token"])
    kinds = [e["kind"] for e in audit.body["events"]]
    assert "AUDIT_EVENT_KIND_LOCKED_OUT" in kinds and "AUDIT_EVENT_KIND_LOGIN_FAILED" in kinds


def test_api_key_works_and_can_be_revoked(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    token = owner["tokens"]["access_token"]
    created = running_mesh.call(
        "POST",
        "/v1/auth/api-keys",
        {"name": "exporter", "permissions": ["auth.users.read", "auth.self.read"]},
        token,
    )
    assert created.status == 200, created
    secret = created.body["secret"]
    key_id = created.body["api_key"]["api_key_id"]
    listed = running_mesh.call("GET", "/v1/auth/api-keys", token=token)
    assert secret not in str(listed.body)
    exchanged = running_mesh.call("POST", "/v1/auth/token", {"api_key": secret})
    assert exchanged.status == 200, exchanged
    machine = exchanged.body["tokens"]["access_token"]
    users = running_mesh.call("GET", "/v1/auth/users", token=machine)
    assert users.status == 200 and users.body["users"]
    # the key's scope holds: it cannot invite
    assert running_mesh.call("POST", "/v1/auth/users", {"email": "a@b.test"}, machine).status == 403
    revoked = running_mesh.call("POST", f"/v1/auth/api-keys/{key_id}:revoke", {}, token)
    assert revoked.status == 200, revoked
    assert running_mesh.call("POST", "/v1/auth/token", {"api_key": secret}).status == 401


def _limited_edge(
    running_mesh: RunningMesh, run_envoy: object, per_client: RateLimit, total: RateLimit
) -> int:
    """A second edge over the same sidecars with tiny buckets: the limiter, not the app."""
    port, admin = free_ports(2)
    settings = dataclasses.replace(
        EdgeSettings.from_env(admin_port=admin, port=port),
        rate_limit=per_client,
        total_rate_limit=total,
        jwks_port=running_mesh.edge_port,  # its own buckets are too small to feed jwt_authn
    )
    certs = ensure_pki(running_mesh.paths, ["edge"])["edge"]
    inbound = {"auth": running_mesh.ports["auth.inbound"]}
    config = write_bootstrap(
        running_mesh.paths.envoy / f"edge-limited-{port}.json",
        edge_bootstrap(settings, certs, inbound),
    )
    run_envoy(config, admin)  # type: ignore[operator]
    return port


def _get_jwks_from(port: int, source: str) -> tuple[int, str, dict[str, object]]:
    """GET from a chosen loopback address, as a distinct client would."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request("GET", "/v1/auth/jwks")
        answer = connection.getresponse()
        return answer.status, answer.getheader("content-type") or "", json.loads(answer.read())
    finally:
        connection.close()


def test_rate_limit_is_per_client_and_answers_429_json(
    running_mesh: RunningMesh, run_envoy: object
) -> None:
    port = _limited_edge(
        running_mesh, run_envoy, per_client=RateLimit(2, 2, 60.0), total=RateLimit(100, 100, 60.0)
    )
    first = [_get_jwks_from(port, "127.0.0.1") for _ in range(3)]
    assert [status for status, _, _ in first] == [200, 200, 429]
    _, content_type, body = first[-1]
    assert content_type.startswith("application/json") and body["code"] == 8
    # another client is not punished for the first one's burst
    other = [_get_jwks_from(port, "127.0.0.2")[0] for _ in range(3)]
    assert other == [200, 200, 429]


def test_rate_limit_caps_the_whole_edge(running_mesh: RunningMesh, run_envoy: object) -> None:
    port = _limited_edge(
        running_mesh, run_envoy, per_client=RateLimit(100, 100, 60.0), total=RateLimit(3, 3, 60.0)
    )
    statuses = [_get_jwks_from(port, f"127.0.0.{n}")[0] for n in (1, 2, 3, 4, 5)]
    assert statuses == [200, 200, 200, 429, 429]
