"""Helper processes a test starts (Envoy, NATS): started until ready, always stopped."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def start_until_ready(
    argv: list[str], log: Path, ready: Callable[[], bool], seconds: float = 15.0
) -> subprocess.Popen[bytes]:
    """Start `argv` with its output in `log`; return once `ready()` holds."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + seconds
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"{argv[0]} did not get ready:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
