"""OpenTelemetry for a service: one span per RPC (context taken from the caller's
`traceparent`), trace ids in logs, and trace context carried into events.

Spans are only made when something receives them: ERP_TRACE_CONSOLE=1 prints them
as JSON to the log (an OTLP exporter can be attached the same way by whoever
deploys the mesh; it is not a dependency here). Without an exporter the per-RPC
span would be pure cost, so logs then take the trace id from the caller's
`traceparent` header instead.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor


def configure(service: str) -> TracerProvider | None:
    """A tracer provider when an exporter is configured, else None (no spans)."""
    if os.environ.get("ERP_TRACE_CONSOLE") != "1":
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": f"svc_{service}"}))
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def server_interceptors(provider: TracerProvider | None) -> list[Any]:
    if provider is None:
        return []
    return [aio_server_interceptor(tracer_provider=provider)]  # type: ignore[no-untyped-call]


def current_trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def current_traceparent() -> str:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")
