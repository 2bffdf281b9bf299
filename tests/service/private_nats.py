"""A JetStream server of one test's own, which the test may kill and start again.

It keeps one port and one store directory for its whole life, so a restarted server
comes back with the same streams, consumers and de-duplication state, the way a
crashed broker comes back in production.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from processes import start_until_ready, stop  # type: ignore[import-not-found]

from mesh import nats_server
from mesh.config import MeshPaths
from mesh.ports import free_port, port_open


class PrivateNats:
    """nats-server from the wheel on a fixed free port with its own JetStream store."""

    def __init__(self) -> None:
        self.paths = MeshPaths(Path(tempfile.mkdtemp(prefix="erp-nats-own-", dir="/tmp"))).ensure()
        self.port = free_port()
        self.url = nats_server.url(self.port)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.proc is None, "already running"
        self.starts += 1
        self.proc = start_until_ready(
            nats_server.nats_command(self.paths, self.port),
            self.paths.logs / f"nats-{self.starts}.log",
            lambda: port_open(self.port),
        )

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients, nothing flushed by the server itself."""
        assert self.proc is not None, "not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def log(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.paths.logs.glob("nats-*.log"))
        )

    def close(self) -> None:
        """Stop the server if it runs and remove its store (safe to call twice)."""
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
        shutil.rmtree(self.paths.home, ignore_errors=True)
