"""The one server interceptor every service runs, in this order per RPC:

1. request context: correlation id (Envoy's x-request-id), trace id, calling sidecar;
2. authentication: the bearer token verified against svc_auth's keys;
3. authorization: the AccessRule the contract declares for the RPC: the permission,
   internal-only RPCs, and the tenant's entitlements (the plan's feature; writes
   refused while the tenant is suspended), read from the local entitlement cache;
4. error mapping: DomainError -> its gRPC code with google.rpc details; anything
   else -> INTERNAL with a correlation id (logged with its traceback, never sent).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc
from grpc.aio import ServicerContext

from mesh import contracts, metrics
from mesh.config import TRUST_DOMAIN
from mesh.context import Principal, RequestInfo, set_principal, set_request
from mesh.db import is_conflict
from mesh.entitlements import EntitlementCache, Snapshot, set_current
from mesh.errors import (
    STATUS_DETAILS_KEY,
    Aborted,
    DomainError,
    FailedPrecondition,
    PermissionDenied,
    Unauthenticated,
    internal_status,
    status_proto,
)
from mesh.ids import new_id
from mesh.permissions import grants
from mesh.tokens import TokenVerifier
from mesh.tracing import current_trace_id

log = logging.getLogger("mesh.rpc")
SERVICE_ID_PREFIX = f"spiffe://{TRUST_DOMAIN}/svc/"
EDGE_ID = f"{SERVICE_ID_PREFIX}edge"
SLOW_CALL_SECONDS = 1.0

Behavior = Callable[[Any, ServicerContext[Any, Any]], Awaitable[Any]]


def _bearer(metadata: Mapping[str, str]) -> str | None:
    value = metadata.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _peer_spiffe_id(xfcc: str) -> str:
    # x-forwarded-client-cert set by our sidecar: 'By=...;URI=spiffe://erp.local/svc/edge'
    for part in xfcc.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "uri":
            return value.strip().strip('"')
    return ""


def _trace_id(traceparent: str) -> str:
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 else ""


class MeshInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self,
        verifier: TokenVerifier,
        methods: Mapping[str, contracts.MethodContract],
        entitlements: EntitlementCache | None = None,
    ):
        self.verifier = verifier
        self.methods = methods
        self.entitlements = entitlements if entitlements is not None else EntitlementCache()
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or not method.startswith("/erp."):
            return handler  # health and reflection: infrastructure, no rule
        # The registered handler is the same object on every call: wrap it once.
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap_handler(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap_handler(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        contract = self.methods.get(method)
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._wrap(method, contract, handler.unary_unary))
        if handler.stream_unary is not None:
            # A client stream answers once, like a unary call: the same wrapper applies
            # (it hands the request iterator on untouched).
            return handler._replace(stream_unary=self._wrap(method, contract, handler.stream_unary))
        # Server streams need a generator wrapper: added when a contract first declares one.
        raise RuntimeError(f"{method}: server-streaming RPCs are not supported by the mesh yet")

    def _wrap(
        self, method: str, contract: contracts.MethodContract | None, behavior: Behavior
    ) -> Behavior:
        async def call(request: Any, context: ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
            correlation_id = metadata.get("x-request-id") or new_id()
            set_request(
                RequestInfo(
                    method=method,
                    correlation_id=correlation_id,
                    trace_id=current_trace_id() or _trace_id(metadata.get("traceparent", "")),
                    traceparent=metadata.get("traceparent", ""),
                    peer_service=_peer_spiffe_id(metadata.get("x-forwarded-client-cert", "")),
                )
            )
            set_principal(None)
            set_current(None)
            code = grpc.StatusCode.OK
            try:
                principal = await self._authenticate(contract, metadata)
                set_principal(principal)
                self._authorize(contract, principal, metadata)
                if principal is not None and contract is not None and contract.feature:
                    await self._entitle(contract, principal)
                return await behavior(request, context)
            except DomainError as error:
                code = error.code
                await _abort(context, error.code, error.message, error.details())
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception as error:
                if is_conflict(error):
                    # A deadlock or serialization failure between concurrent requests:
                    # nothing was written, and the same request again will succeed.
                    code = grpc.StatusCode.ABORTED
                    conflict = Aborted(
                        "the request collided with a concurrent one; retry it", reason="CONFLICT"
                    )
                    await _abort(context, code, conflict.message, conflict.details())
                    return None
                code = grpc.StatusCode.INTERNAL
                metrics.RPC_ERRORS.labels(method).inc()
                log.exception("unexpected error")  # the context stamps the correlation id
                status = internal_status(correlation_id)
                await _abort(context, code, status.message, list(status.details))
            finally:
                seconds = time.perf_counter() - started
                metrics.RPC_SECONDS.labels(method, code.name).observe(seconds)
                _log_call(code, seconds)

        return call

    async def _authenticate(
        self, contract: contracts.MethodContract | None, metadata: Mapping[str, str]
    ) -> Principal | None:
        if contract is not None and (contract.public or contract.internal):
            return None
        token = _bearer(metadata)
        if token is None:
            raise Unauthenticated("missing bearer token", reason="TOKEN_MISSING")
        return await self.verifier.verify(token)

    @staticmethod
    def _authorize(
        contract: contracts.MethodContract | None,
        principal: Principal | None,
        metadata: Mapping[str, str],
    ) -> None:
        if contract is None or not contract.declared:
            # A contract error (a test catches it); refuse rather than guess.
            raise PermissionDenied("this RPC declares no access rule", reason="NO_ACCESS_RULE")
        if contract.public:
            return
        if contract.internal:
            # Our sidecar sets this header from the verified client certificate
            # (SANITIZE_SET), so only another mesh service gets through, never the edge.
            peer = _peer_spiffe_id(metadata.get("x-forwarded-client-cert", ""))
            if not peer.startswith(SERVICE_ID_PREFIX) or peer == EDGE_ID:
                raise PermissionDenied("this RPC is for mesh services only", reason="INTERNAL_ONLY")
            return
        assert principal is not None
        if not grants(principal.permissions, contract.permission):
            raise PermissionDenied(
                f"permission {contract.permission} required",
                reason="PERMISSION_DENIED",
                metadata={"permission": contract.permission},
            )

    async def _entitle(self, contract: contracts.MethodContract, principal: Principal) -> None:
        cache = self.entitlements
        snapshot = cache.get(principal.tenant_id) or await cache.lookup(principal.tenant_id)
        if snapshot is None:
            return  # billing unreachable: let the call through (see mesh.entitlements)
        set_current(snapshot)
        _check_entitlement(contract, snapshot)


def _check_entitlement(contract: contracts.MethodContract, snapshot: Snapshot) -> None:
    if contract.feature not in snapshot.features:
        raise PermissionDenied(
            f"the {snapshot.plan_id} plan does not include the feature '{contract.feature}'; "
            "upgrade the plan to use it",
            reason="FEATURE_NOT_IN_PLAN",
            metadata={"feature": contract.feature, "plan": snapshot.plan_id},
        )
    if not snapshot.writes_allowed and not (contract.reads or contract.during_suspension):
        raise FailedPrecondition(
            "the tenant is suspended for an unpaid invoice: reading works, writing is "
            "refused until the overdue invoice is paid",
            reason="TENANT_SUSPENDED",
            metadata={"plan": snapshot.plan_id},
        )


def _log_call(code: grpc.StatusCode, seconds: float) -> None:
    """The sidecar's access log has every call; here only what the service knows
    more about: refusals (with the tenant and principal) and slow calls. OK calls
    are DEBUG: a formatted line per call would cost a quarter of the throughput."""
    if seconds >= SLOW_CALL_SECONDS:
        level = logging.WARNING
    elif code is not grpc.StatusCode.OK:
        level = logging.INFO
    else:
        level = logging.DEBUG
    if log.isEnabledFor(level):
        log.log(level, "rpc", extra={"code": code.name, "ms": round(seconds * 1000, 2)})


async def _abort(
    context: ServicerContext[Any, Any], code: grpc.StatusCode, message: str, details: list[Any]
) -> None:
    status = status_proto(code, message, details)
    await context.abort(
        code, message, trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),)
    )
