"""What each tenant's plan allows, cached in every service for the interceptor.

The cache holds svc_billing's `Entitlements` per tenant. It is kept fresh by the
`billing.entitlements.changed` events (a plain NATS subscription: the cache lives in
memory, so it needs no durable consumer; after a reconnect it starts empty because
events may have been missed), and filled from billing's GetTenantEntitlements on a
miss. The hot path is a dict lookup: no network round trip.

When billing cannot be reached, the call is let through and not cached (a billing
outage must not stop the ERP); the next call asks again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from erp.billing.v1 import billing_pb2, billing_service_pb2, billing_service_pb2_grpc
from erp.common.v1 import event_pb2
from mesh.errors import QuotaExceeded

log = logging.getLogger("mesh.entitlements")
CHANGED_SUBJECT = "erp.billing.*.entitlements.changed"
TTL_SECONDS = 300.0  # a safety net only: events normally refresh sooner
UNKNOWN_TTL_SECONDS = 5.0
FETCH_TIMEOUT_SECONDS = 2.0
WARN_EVERY_SECONDS = 30.0

Fetch = Callable[[str], Awaitable[billing_pb2.Entitlements]]


@dataclass(frozen=True)
class Snapshot:
    tenant_id: str
    plan_id: str
    features: frozenset[str]
    limits: Mapping[str, int]  # absent = unlimited
    writes_allowed: bool
    version: int
    expires: float  # time.monotonic() after which it is asked again

    @classmethod
    def of(cls, message: billing_pb2.Entitlements, ttl: float) -> Snapshot:
        return cls(
            tenant_id=message.tenant_id,
            plan_id=message.plan_id,
            features=frozenset(message.features),
            limits=dict(message.limits),
            writes_allowed=message.writes_allowed,
            version=message.version,
            expires=time.monotonic() + ttl,
        )

    def limit(self, name: str) -> int | None:
        return self.limits.get(name)


_current: ContextVar[Snapshot | None] = ContextVar("erp_entitlements", default=None)


def current() -> Snapshot | None:
    """The caller's tenant's entitlements, as the interceptor saw them for this RPC."""
    return _current.get()


def set_current(snapshot: Snapshot | None) -> None:
    _current.set(snapshot)


def ensure_within_limit(name: str, used_after: int) -> None:
    """RESOURCE_EXHAUSTED (LIMIT_REACHED) when `used_after` passes the plan's limit.

    The owning service counts its own rows (exact); the limit comes from the cache.
    """
    snapshot = current()
    limit = snapshot.limit(name) if snapshot else None
    if limit is not None and used_after > limit:
        assert snapshot is not None
        raise QuotaExceeded(
            f"the {snapshot.plan_id} plan allows {limit} {name}; upgrade the plan or add "
            f"an add-on to get more",
            limit=name,
            metadata={"allowed": str(limit), "plan": snapshot.plan_id},
        )


class EntitlementCache:
    def __init__(self, fetch: Fetch | None = None, ttl: float = TTL_SECONDS) -> None:
        self.fetch = fetch  # None: nothing to ask (billing absent), every call passes
        self.ttl = ttl
        self._entries: dict[str, Snapshot] = {}
        self._inflight: dict[str, asyncio.Future[Snapshot | None]] = {}
        self._last_warning = float("-inf")

    def get(self, tenant_id: str) -> Snapshot | None:
        """The cached entry when still fresh (no I/O)."""
        entry = self._entries.get(tenant_id)
        if entry is not None and entry.expires > time.monotonic():
            return entry
        return None

    async def lookup(self, tenant_id: str) -> Snapshot | None:
        """Cached, or asked from billing once however many calls wait for it."""
        entry = self.get(tenant_id)
        if entry is not None or self.fetch is None:
            return entry
        pending = self._inflight.get(tenant_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Snapshot | None] = asyncio.get_running_loop().create_future()
        self._inflight[tenant_id] = future
        try:
            snapshot = await self._ask(tenant_id)
            future.set_result(snapshot)
            return snapshot
        finally:
            del self._inflight[tenant_id]

    async def _ask(self, tenant_id: str) -> Snapshot | None:
        assert self.fetch is not None
        try:
            message = await self.fetch(tenant_id)
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_warning >= WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning(
                    "entitlements unavailable; letting calls through",
                    extra={"error": str(exc) or type(exc).__name__},
                )
            return None
        self.apply(message)
        return self.get(tenant_id)

    def apply(self, message: billing_pb2.Entitlements) -> None:
        """Take a newer snapshot (events can arrive out of order with a fill)."""
        entry = self._entries.get(message.tenant_id)
        if entry is None or message.version >= entry.version:
            # Version 0 is billing's guess for a tenant it has not seen yet: ask again soon.
            ttl = self.ttl if message.version > 0 else min(self.ttl, UNKNOWN_TTL_SECONDS)
            self._entries[message.tenant_id] = Snapshot.of(message, ttl)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def remote_fetch(outbound: str) -> Fetch:
    """Ask billing through this service's sidecar (mTLS; billing admits every service)."""
    channel = grpc.aio.insecure_channel(outbound)
    stub = billing_service_pb2_grpc.BillingServiceStub(channel)

    async def fetch(tenant_id: str) -> billing_pb2.Entitlements:
        answer: billing_service_pb2.GetTenantEntitlementsResponse = (
            await stub.GetTenantEntitlements(
                billing_service_pb2.GetTenantEntitlementsRequest(tenant_id=tenant_id),
                timeout=FETCH_TIMEOUT_SECONDS,
            )
        )
        return answer.entitlements

    return fetch


async def follow_changes(cache: EntitlementCache, nc: NatsClient) -> None:
    """Apply every `billing.entitlements.changed` event to the cache as it is published."""

    async def on_message(msg: Msg) -> None:
        try:
            envelope = event_pb2.EventEnvelope.FromString(msg.data)
            changed = billing_pb2.EntitlementsChanged()
            if envelope.payload.Unpack(changed):
                cache.apply(changed.entitlements)
        except DecodeError:
            log.warning("undecodable entitlements event", extra={"subject": msg.subject})

    await nc.subscribe(CHANGED_SUBJECT, cb=on_message)
