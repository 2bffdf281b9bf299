"""The one server interceptor every service runs, in this order per RPC:

1. request context: correlation id (Envoy's x-request-id), trace id, calling sidecar;
2. authentication: the bearer token verified against svc_auth's keys;
3. authorization: the AccessRule the contract declares for the RPC;
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
from mesh.context import Principal, RequestInfo, set_principal, set_request
from mesh.errors import (
    STATUS_DETAILS_KEY,
    DomainError,
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
    def __init__(self, verifier: TokenVerifier, methods: Mapping[str, contracts.MethodContract]):
        self.verifier = verifier
        self.methods = methods

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or not method.startswith("/erp."):
            return handler  # health and reflection: infrastructure, no rule
        contract = self.methods.get(method)
        if handler.unary_unary is not None:
            return handler._replace(unary_unary=self._wrap(method, contract, handler.unary_unary))
        return handler  # streaming RPCs get wrapped when the contracts first declare one

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
            code = grpc.StatusCode.OK
            try:
                principal = await self._authenticate(contract, metadata)
                set_principal(principal)
                self._authorize(contract, principal)
                return await behavior(request, context)
            except DomainError as error:
                code = error.code
                await _abort(context, error.code, error.message, error.details())
            except (asyncio.CancelledError, grpc.aio.AbortError):
                raise
            except Exception:
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
        if contract is not None and contract.public:
            return None
        token = _bearer(metadata)
        if token is None:
            raise Unauthenticated("missing bearer token", reason="TOKEN_MISSING")
        return await self.verifier.verify(token)

    @staticmethod
    def _authorize(contract: contracts.MethodContract | None, principal: Principal | None) -> None:
        if contract is None or not contract.declared:
            # A contract error (a test catches it); refuse rather than guess.
            raise PermissionDenied("this RPC declares no access rule", reason="NO_ACCESS_RULE")
        if contract.public:
            return
        assert principal is not None
        if not grants(principal.permissions, contract.permission):
            raise PermissionDenied(
                f"permission {contract.permission} required",
                reason="PERMISSION_DENIED",
                metadata={"permission": contract.permission},
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
