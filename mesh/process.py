"""Pid files and process helpers for the mesh's long-running parts.

A pid file records the pid *and* the exact argv it was started with: a pid whose
/proc cmdline differs (the kernel reused it) or that is gone counts as stale, so a
crashed mesh never blocks the next start and `erp down` never signals a stranger.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PidRecord:
    pid: int
    argv: list[str]


def pid_path(run: Path, name: str) -> Path:
    return run / f"{name}.pid"


def write_pid(run: Path, name: str, pid: int, argv: list[str]) -> None:
    target = pid_path(run, name)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": pid, "argv": argv}) + "\n")
    os.replace(tmp, target)


def read_pid(run: Path, name: str) -> PidRecord | None:
    try:
        data = json.loads(pid_path(run, name).read_text())
        return PidRecord(pid=int(data["pid"]), argv=[str(a) for a in data["argv"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_pid(run: Path, name: str) -> None:
    pid_path(run, name).unlink(missing_ok=True)


def cmdline(pid: int) -> list[str] | None:
    """argv of a live process, None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return None
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_running(record: PidRecord) -> bool:
    """True when the pid is alive and still runs the command we started."""
    return cmdline(record.pid) == record.argv


def live_record(run: Path, name: str) -> PidRecord | None:
    """The record of `name` if its process runs; a stale pid file is removed."""
    record = read_pid(run, name)
    if record is None:
        remove_pid(run, name)  # unreadable or absent: nothing to keep
        return None
    if is_running(record):
        return record
    remove_pid(run, name)
    return None


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a part in its own session (it survives the CLI, ignores the terminal's ^C)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: its parent (or init) reaps it


def _gone(record: PidRecord) -> bool:
    """Exited (or a zombie), or the pid now runs another command. A process that is
    still exiting has an empty cmdline but holds its ports: not gone yet."""
    argv = cmdline(record.pid)
    return argv is None or (argv != [] and argv != record.argv)


def wait_gone(record: PidRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(record.pid)
        if _gone(record):
            return True
        time.sleep(0.02)
    return False


def terminate(record: PidRecord, timeout: float = 10.0) -> bool:
    """SIGTERM, wait up to `timeout`, then SIGKILL. True when it ended on SIGTERM."""
    if not is_running(record):
        return True
    try:
        os.kill(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    if wait_gone(record, timeout):
        return True
    try:
        os.kill(record.pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    wait_gone(record, 5.0)
    return False


def log_tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
