"""Free TCP ports on 127.0.0.1 and the record of which part got which.

Nothing assumes a fixed port is free (the box may run other brokers); the mesh
asks the kernel for free ports and writes them to run/ports.json so `erp status`,
tests and operators can find the edge, sidecar and admin listeners.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from mesh.config import MeshPaths

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port the kernel considers free now (a tiny race remains until it is bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = HOST) -> list[int]:
    """`count` distinct free ports: all sockets stay open until every port is chosen."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def port_open(port: int, host: str = HOST, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ports_file(paths: MeshPaths) -> Path:
    return paths.run / "ports.json"


def save_ports(paths: MeshPaths, ports: dict[str, int]) -> None:
    """Write the record atomically so a concurrent reader never sees half a file."""
    target = ports_file(paths)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)


def load_ports(paths: MeshPaths) -> dict[str, int]:
    """The last record, or {} when the mesh never started here."""
    try:
        data = json.loads(ports_file(paths).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in data.items()}
