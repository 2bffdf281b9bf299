"""`erp`: run the local mesh (up, up --detach, status, down, logs). Plain text output."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType

from mesh import process
from mesh.launcher import AlreadyRunning, Mesh, MeshError, PartStatus, healthy, tail_path
from mesh.topology import EDGE


def _say(line: str) -> None:
    print(line, flush=True)


def _progress(name: str, address: str, seconds: float) -> None:
    _say(f"✓ {name:<14} {address:<54} {seconds:.2f}s")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _endpoints(mesh: Mesh) -> str:
    ports = mesh.ports()
    edge = mesh.edge_url()
    rows = [
        ["what", "where"],
        ["REST", f"{edge}/v1/..."],
        ["gRPC (h2c)", edge.removeprefix("http://") + "  (grpcurl -plaintext)"],
        ["NATS", mesh.nats_url()],
        ["edge admin", f"http://127.0.0.1:{ports.get('edge.admin', 0)}"],
    ]
    rows += [
        [f"{s} admin", f"http://127.0.0.1:{ports.get(f'{s}.admin', 0)}"] for s in mesh.services
    ]
    rows += [["state", str(mesh.paths.home)], ["logs", str(mesh.paths.logs)]]
    return _table(rows)


def _start(mesh: Mesh) -> bool:
    try:
        mesh.start(progress=_progress)
    except AlreadyRunning as exc:
        _say(str(exc))
        return False
    except MeshError as exc:
        _say(f"✗ {exc}")
        return False
    except KeyboardInterrupt:
        _say("interrupted; stopped what had started")
        return False
    return True


def cmd_up(mesh: Mesh, detach: bool) -> int:
    stop = threading.Event()
    starting = True

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if starting:
            # Unwinds Mesh.start, which stops whatever it already started.
            raise KeyboardInterrupt

    # Handled from the start, so ^C while starting also stops what already runs.
    signal.signal(signal.SIGTERM, on_signal)
    if not detach:
        signal.signal(signal.SIGINT, on_signal)
    if not _start(mesh):
        return 1
    starting = False
    _say("")
    _say(_endpoints(mesh))
    if detach:
        _say("\nrunning in the background; `erp status`, `erp logs -f`, `erp down`")
        return 0
    _say("\nCtrl-C stops the mesh")
    while not stop.wait(1.0):
        down = [r.name for r in mesh.status() if not r.alive]
        if down:
            _say(f"✗ stopped unexpectedly: {', '.join(down)} (see `erp logs`)")
            break
    _say("stopping ...")
    mesh.stop()
    _say("stopped")
    return 0


def cmd_status(mesh: Mesh) -> int:
    rows: list[PartStatus] = mesh.status()
    table = [["process", "pid", "health", "address"]]
    table += [[r.name, str(r.pid or "-"), r.health, r.address] for r in rows]
    _say(_table(table))
    return 0 if healthy(rows) else 1


def cmd_down(mesh: Mesh) -> int:
    stopped = mesh.stop()
    _say(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    return 0


def cmd_logs(mesh: Mesh, name: str | None, follow: bool) -> int:
    names = [name] if name else mesh.part_names()
    unknown = [n for n in names if n not in mesh.part_names()]
    if unknown:
        _say(f"unknown process {unknown[0]}; one of: {', '.join(mesh.part_names())}")
        return 2
    offsets: dict[str, int] = {}
    for n in names:
        path = tail_path(mesh.paths, n)
        text = path.read_text(errors="replace") if path.exists() else ""
        if len(names) > 1:
            _say(f"==> {n} <==")
        sys.stdout.write(text if len(names) == 1 else process.log_tail(path, 40) + "\n")
        offsets[n] = len(text.encode())
    while follow:
        try:
            time.sleep(0.3)
        except KeyboardInterrupt:
            return 0
        for n in names:
            path = tail_path(mesh.paths, n)
            if not path.exists():
                continue
            with open(path, "rb") as handle:
                handle.seek(offsets[n])
                chunk = handle.read()
            offsets[n] += len(chunk)
            for line in chunk.decode(errors="replace").splitlines():
                _say(f"{n}: {line}" if len(names) > 1 else line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="erp", description="Run the ERP mesh on this machine.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start NATS, every service, its sidecar and the edge")
    up.add_argument("--detach", "-d", action="store_true", help="return once ready")
    sub.add_parser("status", help="one line per process; exit 1 if something is down")
    sub.add_parser("down", help="stop everything")
    logs = sub.add_parser("logs", help=f"show logs (nats, <service>, <service>-sidecar, {EDGE})")
    logs.add_argument("name", nargs="?")
    logs.add_argument("-f", "--follow", action="store_true")
    args = parser.parse_args(argv)

    mesh = Mesh()
    if args.command == "up":
        return cmd_up(mesh, args.detach)
    if args.command == "status":
        return cmd_status(mesh)
    if args.command == "down":
        return cmd_down(mesh)
    return cmd_logs(mesh, args.name, args.follow)


if __name__ == "__main__":
    sys.exit(main())
