"""Readiness probes the launcher and `erp status` share; each answers a short word."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh.ports import port_open


def envoy_ready(admin_port: int, timeout: float = 0.5) -> bool:
    """Envoy's admin /ready answers `LIVE` once its listeners are up."""
    url = f"http://127.0.0.1:{admin_port}/ready"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - local http
            return bool(reply.read().decode().strip() == "LIVE")
    except (OSError, urllib.error.URLError):
        return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - local http
            return bool(reply.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def grpc_health(socket: Path, timeout: float = 1.0) -> str:
    """Overall health of a service on its unix socket: SERVING, NOT_SERVING, ... or DOWN."""
    if not socket.exists():
        return "DOWN"
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return "DOWN"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def tcp_health(port: int, host: str = "127.0.0.1") -> str:
    return "OPEN" if port_open(port, host) else "DOWN"
