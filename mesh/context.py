"""Who is calling, for which tenant, within which request: set once per RPC by the
mesh interceptor and read anywhere below it (repositories, event envelopes, logs)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from mesh.errors import Unauthenticated


@dataclass(frozen=True)
class Principal:
    """The verified caller, from the access token's claims."""

    subject: str  # user id, or API key id for machine clients
    tenant_id: str
    kind: str  # "user" | "api_key"
    permissions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    session_id: str = ""
    token: str = field(default="", repr=False)  # forwarded on calls to other services


@dataclass(frozen=True)
class RequestInfo:
    method: str
    correlation_id: str
    trace_id: str = ""
    traceparent: str = ""  # the caller's W3C header, carried into events
    peer_service: str = ""  # SPIFFE id of the calling sidecar, when known
    causation_id: str = ""  # the event being handled, when an event consumer is the caller
    acting_service: str = ""  # a service acting on its own (a consumer, a scheduler)


_principal: ContextVar[Principal | None] = ContextVar("erp_principal", default=None)
_request: ContextVar[RequestInfo | None] = ContextVar("erp_request", default=None)
# Set by trusted service code (consumers, signup) that acts for a tenant with no caller token.
_tenant_override: ContextVar[str | None] = ContextVar("erp_tenant_override", default=None)


def current_principal() -> Principal | None:
    return _principal.get()


def require_principal() -> Principal:
    principal = _principal.get()
    if principal is None:
        raise Unauthenticated("sign in first", reason="UNAUTHENTICATED")
    return principal


def current_tenant() -> str:
    """The tenant every query of this request is scoped to."""
    override = _tenant_override.get()
    if override:
        return override
    return require_principal().tenant_id


def current_request() -> RequestInfo | None:
    return _request.get()


def actor_id(fallback: str) -> str:
    """Who is acting: the caller's user or key id, else the acting service's name,
    else `fallback` (the service itself)."""
    principal = _principal.get()
    if principal is not None:
        return principal.subject
    request = _request.get()
    return request.acting_service if request and request.acting_service else fallback


def set_principal(principal: Principal | None) -> None:
    _principal.set(principal)


def set_request(info: RequestInfo) -> None:
    _request.set(info)


class acting_for_tenant:  # noqa: N801 - used like a function: `with acting_for_tenant(t):`
    """Scope work to a tenant without a caller token (signup, event consumers)."""

    def __init__(self, tenant_id: str) -> None:
        self._tenant_id = tenant_id
        self._token: object | None = None

    def __enter__(self) -> None:
        self._token = _tenant_override.set(self._tenant_id)

    def __exit__(self, *exc: object) -> None:
        _tenant_override.reset(self._token)  # type: ignore[arg-type]
