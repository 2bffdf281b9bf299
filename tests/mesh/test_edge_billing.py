"""svc_billing through the real edge: the trial that signup starts (over NATS only),
the billing routes, and plan features enforced by every service's interceptor."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from real_mesh import Reply, RunningMesh, eventually, grpcurl  # type: ignore[import-not-found]

pytestmark = pytest.mark.mesh


def _error_info(body: dict[str, Any]) -> dict[str, Any]:
    for detail in body.get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return dict(detail)
    raise AssertionError(f"no ErrorInfo in {body}")


def _trialing(running_mesh: RunningMesh, token: str) -> Reply:
    return eventually(
        lambda: running_mesh.call("GET", "/v1/billing/subscription", token=token),
        lambda r: r.status == 200,
    )


def test_signup_starts_a_business_trial_over_the_event_bus(running_mesh: RunningMesh) -> None:
    owner = running_mesh.signup()
    token = owner["tokens"]["access_token"]
    sub = _trialing(running_mesh, token).body["subscription"]
    assert sub["tenant_id"] == owner["tenant"]["tenant_id"]
    assert sub["plan_id"] == "business"
    assert sub["status"] == "SUBSCRIPTION_STATUS_TRIALING"
    assert sub["trial_end"] == sub["current_period_end"]

    entitlements = running_mesh.call("GET", "/v1/billing/entitlements", token=token)
    assert entitlements.status == 200, entitlements
    assert {"core", "api", "crm", "ai"} <= set(entitlements.body["entitlements"]["features"])

    usage = running_mesh.call("GET", "/v1/billing/usage", token=token)
    assert usage.status == 200, usage
    seats = {m["metric"]: m for m in usage.body["metrics"]}["users"]
    assert seats["value"] == "1" and seats["limit"] == "50"  # int64 is a string in JSON

    invoices = running_mesh.call("GET", "/v1/billing/invoices", token=token)
    assert invoices.status == 200 and invoices.body.get("invoices", []) == [], invoices


def test_plans_are_public(running_mesh: RunningMesh) -> None:
    plans = running_mesh.call("GET", "/v1/billing/plans")
    assert plans.status == 200, plans
    assert [p["plan_id"] for p in plans.body["plans"]] == ["free", "starter", "business"]


def test_a_feature_outside_the_plan_is_403_naming_it_until_the_upgrade(
    running_mesh: RunningMesh,
) -> None:
    token = running_mesh.signup()["tokens"]["access_token"]
    _trialing(running_mesh, token)
    key = {"name": "ci", "permissions": ["auth.self.read"]}
    downgrade = running_mesh.call(
        "POST", "/v1/billing/subscription:change-plan", {"plan_id": "free"}, token=token
    )
    assert downgrade.status == 200, downgrade
    refused = eventually(
        lambda: running_mesh.call("POST", "/v1/auth/api-keys", key, token=token),
        lambda r: r.status != 200,
    )
    assert refused.status == 403, refused
    assert "'api'" in refused.body["message"]
    info = _error_info(refused.body)
    assert info["reason"] == "FEATURE_NOT_IN_PLAN"
    assert info["metadata"] == {"feature": "api", "plan": "free"}
    # Reads of the core keep working on Free.
    assert running_mesh.call("GET", "/v1/auth/me", token=token).status == 200

    upgrade = running_mesh.call(
        "POST", "/v1/billing/subscription:change-plan", {"plan_id": "starter"}, token=token
    )
    assert upgrade.status == 200, upgrade
    created = eventually(
        lambda: running_mesh.call(
            "POST", "/v1/auth/api-keys", key | {"name": f"ci-{uuid.uuid4().hex[:6]}"}, token=token
        ),
        lambda r: r.status == 200,
    )
    assert created.body["api_key"]["name"].startswith("ci-")


def test_a_downgrade_below_usage_is_refused_with_the_reason(running_mesh: RunningMesh) -> None:
    token = running_mesh.signup()["tokens"]["access_token"]
    _trialing(running_mesh, token)
    for n in range(3):
        invited = running_mesh.call(
            "POST",
            "/v1/auth/users",
            {"email": f"u{n}-{uuid.uuid4().hex[:8]}@acme.test"},
            token=token,
        )
        assert invited.status == 200, invited
    eventually(  # billing counts seats from auth.user.created
        lambda: running_mesh.call("GET", "/v1/billing/usage", token=token),
        lambda r: {m["metric"]: m.get("value") for m in r.body["metrics"]}["users"] == "4",
    )
    refused = running_mesh.call(
        "POST", "/v1/billing/subscription:change-plan", {"plan_id": "free"}, token=token
    )
    assert refused.status == 400, refused  # FAILED_PRECONDITION
    assert "the plan allows 3 users but 4 are in use" in refused.body["message"]
    info = _error_info(refused.body)
    assert info["reason"] == "DOWNGRADE_BELOW_USAGE"
    assert info["metadata"]["limit"] == "users"
    sub = running_mesh.call("GET", "/v1/billing/subscription", token=token).body
    assert sub["subscription"]["plan_id"] == "business"


def test_internal_entitlements_rpc_is_not_reachable_from_outside(
    running_mesh: RunningMesh,
) -> None:
    owner = running_mesh.signup()
    token = owner["tokens"]["access_token"]
    out = grpcurl(
        "-plaintext",
        "-H",
        f"authorization: Bearer {token}",
        "-d",
        json.dumps({"tenant_id": owner["tenant"]["tenant_id"]}),
        f"127.0.0.1:{running_mesh.edge_port}",
        "erp.billing.v1.BillingService/GetTenantEntitlements",
    )
    assert out.returncode != 0
    assert "PermissionDenied" in out.stderr and "mesh services only" in out.stderr


def test_grpcurl_reads_the_subscription(running_mesh: RunningMesh) -> None:
    token = running_mesh.signup()["tokens"]["access_token"]
    _trialing(running_mesh, token)
    out = grpcurl(
        "-plaintext",
        "-H",
        f"authorization: Bearer {token}",
        f"127.0.0.1:{running_mesh.edge_port}",
        "erp.billing.v1.BillingService/GetSubscription",
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["subscription"]["plan_id"] == "business"
