"""`erp`: run the local mesh (up, up --detach, status, down, logs) and work its events
(events tail, events replay, events dlq). Plain text output."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
import time
from types import FrameType

from mesh import events_cli, nats_server, process
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


REPLAY_HELP = """\
Delete the durable consumer and re-create it with the same config, delivering again
from a stream sequence number or an RFC 3339 time. The service that owns the consumer
re-binds by itself. Its inbox skips events it already handled, so a replay re-handles
only the events that were NOT handled: ones that were dead-lettered, or that the
handler skipped before a bug fix. It never applies an event twice.
"""

DLQ_REPLAY_HELP = """\
Re-publish dead-lettered events to their original subject (all of them, those of
--consumer, or the DLQ sequences given), then delete them from ERP_DLQ. Each goes out
with a new Nats-Msg-Id <event id>.replay.<dlq seq>, since the broker drops a re-used id
inside its 2-minute de-duplication window. Consumers de-duplicate on the event id, so
those that already handled the event see no second effect.
"""


def _nats_url(given: str | None) -> str:
    """--nats, else ERP_NATS_URL, else the NATS of the mesh `erp up` started."""
    if given:
        return given
    external = nats_server.external_url()
    if external is not None:
        return external
    mesh = Mesh()
    if "nats" not in mesh.running() or not mesh.ports().get("nats"):
        raise events_cli.EventsError(
            "the mesh is not running (`erp up -d`); or set ERP_NATS_URL or pass --nats URL"
        )
    return mesh.nats_url()


def cmd_events(args: argparse.Namespace) -> int:
    out = sys.stdout
    try:
        url = _nats_url(getattr(args, "nats", None) or None)
        if args.events_command == "tail":
            if not args.json:
                subject = events_cli.tail_subject(args.tenant, args.type)
                print(f"listening on {subject} (Ctrl-C stops)", file=sys.stderr, flush=True)
            asyncio.run(
                events_cli.tail(
                    url, out, tenant=args.tenant, event_type=args.type, as_json=args.json
                )
            )
            return 0
        if args.events_command == "replay":
            since = events_cli.parse_since(args.since)
            asyncio.run(events_cli.replay(url, out, args.consumer, since, stream=args.stream))
            return 0
        consumer = getattr(args, "consumer", None)
        if getattr(args, "dlq_command", None) == "replay":
            _, failed = asyncio.run(
                events_cli.dlq_replay(url, out, consumer=consumer, seqs=args.seq)
            )
            return 1 if failed else 0
        asyncio.run(events_cli.dlq_list(url, out, consumer=consumer))
        return 0
    except events_cli.EventsError as exc:
        print(f"✗ {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 0


def _events_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # --nats is accepted anywhere after `events`; SUPPRESS keeps a later default from
    # overwriting a value given earlier on the line.
    nats = argparse.ArgumentParser(add_help=False)
    nats.add_argument(
        "--nats",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="NATS to use (default: ERP_NATS_URL, else the running mesh's)",
    )
    raw = argparse.RawDescriptionHelpFormatter
    events = sub.add_parser(
        "events", parents=[nats], help="watch events, replay a consumer, work the dead letters"
    )
    what = events.add_subparsers(dest="events_command", required=True)
    tail = what.add_parser(
        "tail",
        parents=[nats],
        help="print events live as they are published (Ctrl-C stops)",
        description="Print events live, one line each: time, type, tenant, aggregate id, "
        "event id, payload as JSON. Only events published from now on.",
    )
    tail.add_argument("--tenant", metavar="T", help="only this tenant's events")
    tail.add_argument("--type", metavar="X", help="only this event type, e.g. auth.user.created")
    tail.add_argument("--json", action="store_true", help="each whole envelope as one JSON line")
    replay = what.add_parser(
        "replay",
        parents=[nats],
        help="re-feed a durable consumer from a stream sequence or a time",
        description=REPLAY_HELP,
        formatter_class=raw,
    )
    replay.add_argument("consumer", help="durable consumer name, e.g. billing-from-auth")
    replay.add_argument(
        "--since",
        required=True,
        metavar="SEQ|TIME",
        help="stream sequence number, or RFC 3339 time such as 2025-06-01T08:00:00Z",
    )
    replay.add_argument("--stream", metavar="ERP_X", help="its stream (default: searched)")
    dlq = what.add_parser(
        "dlq",
        parents=[nats],
        help="list (default) or replay dead-lettered events",
        description="List dead-lettered events (ERP_DLQ), or replay them.",
    )
    consumer_help = "only this consumer's dead letters"
    dlq.add_argument("--consumer", metavar="C", help=consumer_help)
    dlq_what = dlq.add_subparsers(dest="dlq_command")
    dlq_list = dlq_what.add_parser("list", parents=[nats], help="list dead-lettered events")
    dlq_list.add_argument("--consumer", metavar="C", default=argparse.SUPPRESS, help=consumer_help)
    dlq_replay = dlq_what.add_parser(
        "replay",
        parents=[nats],
        help="re-publish dead-lettered events and drop them from the DLQ",
        description=DLQ_REPLAY_HELP,
        formatter_class=raw,
    )
    dlq_replay.add_argument(
        "--consumer", metavar="C", default=argparse.SUPPRESS, help=consumer_help
    )
    dlq_replay.add_argument("seq", nargs="*", type=int, help="DLQ sequences (default: all)")


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
    _events_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "events":
        return cmd_events(args)

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
