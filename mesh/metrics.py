"""Prometheus metrics every service exposes (on ERP_METRICS_PORT when set)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

RPC_SECONDS = Histogram(
    "erp_rpc_duration_seconds",
    "Time spent serving an RPC",
    ["method", "code"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RPC_ERRORS = Counter("erp_rpc_internal_errors_total", "RPCs that failed with INTERNAL", ["method"])


def serve(port: int | None) -> None:
    if port:
        start_http_server(port, addr="127.0.0.1")
