"""The entitlement cache every service's interceptor reads: newest snapshot wins,
billing's guess for an unknown tenant is short-lived, one fetch serves concurrent
misses, an unreachable billing lets calls through uncached, and limits refuse with
the limit named."""

from __future__ import annotations

import asyncio

import pytest
from google.rpc import error_details_pb2

from erp.billing.v1 import billing_pb2
from mesh import entitlements
from mesh.entitlements import EntitlementCache, Snapshot
from mesh.errors import QuotaExceeded


def snapshot(
    version: int, features: tuple[str, ...] = ("core",), **limits: int
) -> billing_pb2.Entitlements:
    return billing_pb2.Entitlements(
        tenant_id="t1",
        plan_id="starter",
        features=list(features),
        limits=limits,
        writes_allowed=True,
        version=version,
    )


def test_an_older_snapshot_never_replaces_a_newer_one() -> None:
    cache = EntitlementCache()
    cache.apply(snapshot(2, ("core", "crm")))
    cache.apply(snapshot(1, ("core",)))  # a late fill racing an event
    found = cache.get("t1")
    assert found is not None and found.features == {"core", "crm"} and found.version == 2
    cache.apply(snapshot(3, ("core",)))
    latest = cache.get("t1")
    assert latest is not None and latest.version == 3


def test_billings_guess_for_an_unknown_tenant_is_kept_briefly() -> None:
    cache = EntitlementCache(ttl=300)
    cache.apply(snapshot(0))
    guess = cache.get("t1")
    assert guess is not None
    cache.apply(snapshot(1))
    real = cache.get("t1")
    assert real is not None
    # The real snapshot lives for the full TTL, the guess for UNKNOWN_TTL_SECONDS.
    assert real.expires - guess.expires > 300 - entitlements.UNKNOWN_TTL_SECONDS - 1


async def test_concurrent_misses_share_one_fetch() -> None:
    calls = 0
    release = asyncio.Event()

    async def fetch(tenant_id: str) -> billing_pb2.Entitlements:
        nonlocal calls
        calls += 1
        await release.wait()
        return snapshot(5, ("core", "api"))

    cache = EntitlementCache(fetch)
    waiting = [asyncio.create_task(cache.lookup("t1")) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    found = await asyncio.gather(*waiting)
    assert calls == 1
    assert all(f is not None and "api" in f.features for f in found)


async def test_unreachable_billing_lets_the_call_through_and_caches_nothing() -> None:
    async def fetch(tenant_id: str) -> billing_pb2.Entitlements:
        raise ConnectionError("billing is down")

    cache = EntitlementCache(fetch)
    assert await cache.lookup("t1") is None
    assert len(cache) == 0


def test_a_limit_reached_names_the_limit() -> None:
    entitlements.set_current(Snapshot.of(snapshot(1, users=3), ttl=60))
    try:
        entitlements.ensure_within_limit("users", 3)  # at the limit: allowed
        entitlements.ensure_within_limit("contacts", 10**9)  # absent: unlimited
        with pytest.raises(QuotaExceeded) as raised:
            entitlements.ensure_within_limit("users", 4)
    finally:
        entitlements.set_current(None)
    error = raised.value
    assert error.reason == "LIMIT_REACHED"
    assert error.metadata == {"limit": "users", "allowed": "3", "plan": "starter"}
    quota = error_details_pb2.QuotaFailure()
    assert any(d.Unpack(quota) for d in error.details())
    assert quota.violations[0].subject == "users"


def test_no_entitlements_known_means_no_limit_to_enforce() -> None:
    entitlements.set_current(None)
    entitlements.ensure_within_limit("users", 10**6)
