"""The local mesh: NATS, every service with its sidecar Envoy, and the edge.

`Mesh` is what `erp up/down/status` and the mesh tests drive. Each part runs in its
own session with its log in logs/<part>.log and a pid file in run/, so a detached
mesh outlives the CLI and any later `erp` command can find and stop it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.envoy_edge import JWKS_PATH, EdgeSettings, edge_bootstrap
from mesh import nats_server, process
from mesh.config import DEFAULT_EDGE_PORT, SERVICES, MeshPaths, database_url, mesh_paths
from mesh.envoy.common import envoy_command, write_bootstrap
from mesh.envoy.sidecar import SidecarPorts, sidecar_bootstrap
from mesh.pki import ensure_pki
from mesh.ports import free_port, free_ports, load_ports, port_open, save_ports
from mesh.probes import envoy_ready, grpc_health, http_ok, tcp_health
from mesh.topology import EDGE


class MeshError(RuntimeError):
    """The mesh could not start (the message names the part and its log tail)."""


class AlreadyRunning(MeshError):
    """Some part of a mesh already runs under this ERP_HOME."""


@dataclass(frozen=True)
class PartStatus:
    """One row of `erp status`."""

    name: str
    pid: int | None
    alive: bool
    health: str
    address: str


@dataclass
class _Part:
    name: str
    argv: list[str]
    env: dict[str, str]
    address: str
    ready: Callable[[], bool]


# Progress callback: (part name, address, seconds it took to become ready).
Progress = Callable[[str, str, float], None]


def _quiet(name: str, address: str, seconds: float) -> None:
    pass


def _serving(socket: Path) -> Callable[[], bool]:
    return lambda: grpc_health(socket) == "SERVING"


def _live(admin_port: int) -> Callable[[], bool]:
    return lambda: envoy_ready(admin_port)


@dataclass
class Mesh:
    """The mesh under one ERP_HOME.

    `edge_port`: None = ERP_EDGE_PORT, else 8080 when free, else any free port;
    0 = any free port (tests).
    """

    paths: MeshPaths = field(default_factory=mesh_paths)
    services: tuple[str, ...] = SERVICES
    edge_port: int | None = None
    start_timeout: float = 60.0
    stop_timeout: float = 10.0
    # How a service process is started; tests substitute a stand-in.
    service_argv: Callable[[str], list[str]] = field(
        default=lambda name: [sys.executable, "-m", f"svc_{name}"]
    )
    # Processes this object started: stop() signals them even in the instant after
    # exec when /proc/<pid>/cmdline is not yet filled in (so the pid file check fails).
    _children: dict[str, subprocess.Popen[bytes]] = field(
        default_factory=dict, init=False, repr=False
    )

    def part_names(self) -> list[str]:
        """Start order; stop is the reverse."""
        names = ["nats"] if nats_server.external_url() is None else []
        for service in self.services:
            names += [service, f"{service}-sidecar"]
        return [*names, EDGE]

    # ---- state on disk -------------------------------------------------------------

    def running(self) -> list[str]:
        """Parts whose pid file names a live process (stale pid files are removed)."""
        return [n for n in self.part_names() if process.live_record(self.paths.run, n)]

    def ports(self) -> dict[str, int]:
        return load_ports(self.paths)

    def nats_url(self) -> str:
        return self.nats_url_for(self.ports())

    def edge_url(self) -> str:
        ports = self.ports()
        host = os.environ.get("ERP_EDGE_ADDRESS", "127.0.0.1")
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{host}:{ports.get('edge', 0)}"

    # ---- start ---------------------------------------------------------------------

    def _choose_edge_port(self) -> int:
        if self.edge_port == 0:
            return free_port()
        if self.edge_port is not None:
            return self.edge_port
        wanted = os.environ.get("ERP_EDGE_PORT")
        if wanted:
            return int(wanted)
        # The documented default, unless something else on this box already holds it.
        return DEFAULT_EDGE_PORT if not port_open(DEFAULT_EDGE_PORT) else free_port()

    def _allocate(self) -> dict[str, int]:
        names: list[str] = ["edge.admin"]
        if nats_server.external_url() is None:
            names.append("nats")
        for s in self.services:
            names += [f"{s}.inbound", f"{s}.admin", f"{s}.metrics"]
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        ports["edge"] = self._choose_edge_port()
        if port_open(ports["edge"]):
            raise MeshError(f"edge port {ports['edge']} is in use; set ERP_EDGE_PORT")
        return ports

    def _plan(self, ports: dict[str, int]) -> list[_Part]:
        paths = self.paths
        certs = ensure_pki(paths, [*self.services, EDGE])
        base_env = {k: v for k, v in os.environ.items() if k != "ERP_GRPC_PORT"}
        base_env["ERP_HOME"] = str(paths.home)
        parts: list[_Part] = []
        if nats_server.external_url() is None:
            port = ports["nats"]
            parts.append(
                _Part(
                    "nats",
                    nats_server.nats_command(paths, port),
                    base_env,
                    nats_server.url(port),
                    lambda: port_open(port),
                )
            )
        nats_url = self.nats_url_for(ports)
        inbound = {s: ports[f"{s}.inbound"] for s in self.services}
        for service in self.services:
            socket = paths.socket(service)
            env = {
                **base_env,
                "ERP_SOCKET": str(socket),
                "ERP_DATABASE_URL": database_url(service, paths.home),
                "ERP_NATS_URL": nats_url,
                "ERP_OUTBOUND": f"unix:{paths.outbound_socket(service)}",
                "ERP_METRICS_PORT": str(ports[f"{service}.metrics"]),
            }
            parts.append(
                _Part(
                    service,
                    self.service_argv(service),
                    env,
                    f"unix:{socket}",
                    _serving(socket),
                )
            )
            sp = SidecarPorts(ports[f"{service}.inbound"], ports[f"{service}.admin"])
            outbound = paths.outbound_socket(service)
            config = write_bootstrap(
                paths.envoy / f"{service}-sidecar.json",
                sidecar_bootstrap(service, socket, outbound, sp, certs, inbound, self.services),
            )
            parts.append(
                _Part(
                    f"{service}-sidecar",
                    envoy_command(config),
                    base_env,
                    f"in 127.0.0.1:{sp.inbound} out unix:{outbound} admin :{sp.admin}",
                    _live(sp.admin),
                )
            )
        settings = EdgeSettings.from_env(admin_port=ports["edge.admin"], port=ports["edge"])
        config = write_bootstrap(
            paths.envoy / "edge.json", edge_bootstrap(settings, certs[EDGE], inbound)
        )
        jwks = f"http://{settings.local_host}:{settings.port}{JWKS_PATH}"
        parts.append(
            _Part(
                EDGE,
                envoy_command(config),
                base_env,
                f"http://{settings.address}:{settings.port} admin :{settings.admin_port}",
                lambda: envoy_ready(settings.admin_port) and http_ok(jwks),
            )
        )
        return parts

    @staticmethod
    def nats_url_for(ports: dict[str, int]) -> str:
        return nats_server.external_url() or nats_server.url(ports.get("nats", 0))

    def _wait_ready(self, part: _Part, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not part.ready():
            if proc.poll() is not None:
                raise MeshError(
                    f"{part.name} exited ({proc.returncode}) while starting:\n"
                    f"{self._tail(part.name)}"
                )
            if time.monotonic() > deadline:
                raise MeshError(
                    f"{part.name} not ready after {self.start_timeout:.0f}s:\n"
                    f"{self._tail(part.name)}"
                )
            time.sleep(0.05)

    def _tail(self, name: str) -> str:
        return process.log_tail(self.paths.logs / f"{name}.log")

    def start(self, progress: Progress = _quiet) -> dict[str, int]:
        """Start every part in order and wait until each is ready; returns the ports.

        Parts run in their own sessions, so they keep running after the caller exits
        (detached) until `stop()`. On failure, whatever started is stopped again.
        """
        self.paths.ensure()
        already = self.running()
        if already:
            raise AlreadyRunning(f"already running: {', '.join(already)} (erp down first)")
        ports = self._allocate()
        parts = self._plan(ports)
        save_ports(self.paths, ports)
        for service in self.services:
            # No process of ours runs (checked above), so a socket file is a leftover.
            self.paths.socket(service).unlink(missing_ok=True)
            self.paths.outbound_socket(service).unlink(missing_ok=True)
        try:
            for part in parts:
                began = time.monotonic()
                proc = process.spawn(part.argv, part.env, self.paths.logs / f"{part.name}.log")
                process.write_pid(self.paths.run, part.name, proc.pid, part.argv)
                self._children[part.name] = proc
                self._wait_ready(part, proc)
                progress(part.name, part.address, time.monotonic() - began)
        except BaseException:
            self.stop()
            raise
        return ports

    # ---- stop / status -------------------------------------------------------------

    def stop(self) -> list[str]:
        """SIGTERM every part in reverse start order (SIGKILL after the timeout)."""
        stopped = []
        for name in reversed(self.part_names()):
            record = process.live_record(self.paths.run, name)
            child = self._children.pop(name, None)
            if record is not None:
                process.terminate(record, self.stop_timeout)
                stopped.append(name)
            elif child is not None and child.poll() is None:
                _stop_child(child, self.stop_timeout)
                stopped.append(name)
            process.remove_pid(self.paths.run, name)
        return stopped

    def status(self) -> list[PartStatus]:
        ports = self.ports()
        rows = []
        for name in self.part_names():
            record = process.live_record(self.paths.run, name)
            alive = record is not None
            health, address = self._probe(name, ports, alive)
            rows.append(PartStatus(name, record.pid if record else None, alive, health, address))
        return rows

    def _probe(self, name: str, ports: dict[str, int], alive: bool) -> tuple[str, str]:
        if name == "nats":
            port = ports.get("nats", 0)
            return (tcp_health(port) if alive else "DOWN"), nats_server.url(port)
        if name == EDGE:
            admin = ports.get("edge.admin", 0)
            health = "LIVE" if alive and envoy_ready(admin) else "DOWN"
            return health, f"{self.edge_url()} admin :{admin}"
        if name.endswith("-sidecar"):
            service = name.removesuffix("-sidecar")
            admin = ports.get(f"{service}.admin", 0)
            health = "LIVE" if alive and envoy_ready(admin) else "DOWN"
            return health, (
                f"in 127.0.0.1:{ports.get(f'{service}.inbound', 0)} "
                f"out unix:{self.paths.outbound_socket(service)} admin :{admin}"
            )
        socket = self.paths.socket(name)
        return (grpc_health(socket) if alive else "DOWN"), f"unix:{socket}"


def _stop_child(child: subprocess.Popen[bytes], timeout: float) -> None:
    child.terminate()
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def healthy(rows: list[PartStatus]) -> bool:
    return all(r.alive and r.health in ("OPEN", "LIVE", "SERVING") for r in rows)


def tail_path(paths: MeshPaths, name: str) -> Path:
    return paths.logs / f"{name}.log"
