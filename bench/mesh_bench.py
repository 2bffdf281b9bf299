"""Figures for the mesh: cold start of `erp up --detach`, RSS of every mesh process,
and GetMe throughput on each path a call can take, beside a bare echo ceiling."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

from bench import echo, load
from bench.http1 import Http1Connection
from erp.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from mesh import process
from mesh.config import MeshPaths
from mesh.launcher import Mesh
from mesh.pki import ensure_pki, mesh_channel
from mesh.ports import free_port

CONCURRENCY = 10
SECONDS = float(os.environ.get("ERP_BENCH_SECONDS", "5"))


def cold_start(home: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "erp"), "up", "--detach"], env=env, check=True
    )
    return time.perf_counter() - started


def mesh_rss_mib(paths: MeshPaths) -> dict[str, float]:
    sizes = {}
    for pid_file in sorted(paths.run.glob("*.pid")):
        record = process.read_pid(paths.run, pid_file.stem)
        if record is None:
            continue
        status = Path(f"/proc/{record.pid}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        sizes[pid_file.stem] = kib / 1024
    return sizes


def signup(edge_port: int) -> str:
    body = json.dumps(
        {"tenant_name": "Bench", "email": "bench@bench.test", "password": "correct horse battery"}
    ).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{edge_port}/v1/auth/signup", data=body)
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
        token: str = json.load(answer)["tokens"]["access_token"]
    return token


async def grpc_getme(name: str, channel: grpc.aio.Channel, token: str) -> load.Result:
    stub = auth_service_pb2_grpc.AuthServiceStub(channel)
    metadata = (("authorization", f"Bearer {token}"),)
    request = auth_service_pb2.GetMeRequest()

    async def call() -> object:
        return await stub.GetMe(request, metadata=metadata)

    await call()  # fail loudly before measuring if the path is broken
    return await load.run(name, call, concurrency=CONCURRENCY, seconds=SECONDS)


async def rest_load(
    name: str, edge_port: int, headers: dict[str, str], path: Callable[[], str]
) -> load.Result:
    """GETs of `path()` through the edge over keep-alive HTTP/1.1, one connection per
    caller; anything but 200 counts as an error."""
    idle = [Http1Connection("127.0.0.1", edge_port) for _ in range(CONCURRENCY)]

    async def call() -> object:
        connection = idle.pop()
        try:
            status, body = await connection.get(path(), headers)
        finally:
            idle.append(connection)
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        return body

    try:
        await call()  # fail loudly before measuring if the path is broken
        return await load.run(name, call, concurrency=CONCURRENCY, seconds=SECONDS)
    finally:
        for connection in idle:
            await connection.close()


async def rest_getme(edge_port: int, token: str) -> load.Result:
    headers = {"authorization": f"Bearer {token}"}
    return await rest_load("getme_edge_rest", edge_port, headers, lambda: "/v1/auth/me")


async def echo_ceiling(folder: Path) -> load.Result:
    socket = f"unix:{folder / 'echo.sock'}"
    server = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.echo", socket)
    try:
        async with grpc.aio.insecure_channel(socket) as channel:
            await channel.channel_ready()
            call_echo = echo.client(channel)

            async def call() -> object:
                return await call_echo(b"x" * 64)

            return await load.run("echo_ceiling", call, concurrency=CONCURRENCY, seconds=SECONDS)
    finally:
        server.terminate()
        await server.wait()


async def throughput(paths: MeshPaths, token: str) -> list[load.Result]:
    ports = Mesh(paths=paths).ports()
    results = [await echo_ceiling(paths.home)]
    paths_to_try: list[tuple[str, Callable[[], grpc.aio.Channel]]] = [
        ("getme_direct", lambda: grpc.aio.insecure_channel(f"unix:{paths.socket('auth')}")),
        (
            "getme_sidecar_mtls",
            lambda: mesh_channel(
                ensure_pki(paths, ["edge"])["edge"], "auth", ports["auth.inbound"]
            ),
        ),
        ("getme_edge_grpc", lambda: grpc.aio.insecure_channel(f"127.0.0.1:{ports['edge']}")),
    ]
    for name, open_channel in paths_to_try:
        async with open_channel() as channel:
            results.append(await grpc_getme(name, channel, token))
    results.append(await rest_getme(ports["edge"], token))
    return results


def write_figures(out: Path, benchmark: str, figures: dict[str, float]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{benchmark}.json"
    target.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return target


def ratio(results: dict[str, load.Result], a: str, b: str) -> float:
    return results[a].rps / results[b].rps if results[b].rps else 0.0


@contextmanager
def throwaway_home(**settings: str) -> Iterator[tuple[MeshPaths, dict[str, str]]]:
    """A temporary ERP_HOME for a measured mesh, with a free edge port and the edge's
    limiter out of the way, and SQLite files unless `settings` name a database (they
    may set any variable). The environment is also in force in this process meanwhile
    (in-process clients find the mesh's certificates by ERP_HOME; an in-process
    `Mesh` reads it), and put back afterwards. Yields the paths and the environment."""
    with tempfile.TemporaryDirectory(prefix="erp-bench-") as tmp:
        home = Path(tmp)
        env = {
            **os.environ,
            "ERP_HOME": str(home),
            "ERP_EDGE_PORT": str(free_port()),
            "ERP_EDGE_RATE_LIMIT": "1000000",  # measure the edge, not its limiter
            "ERP_EDGE_RATE_LIMIT_TOTAL": "1000000",
        }
        env.pop("ERP_DATABASE_URL", None)
        env.update(settings)
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            yield MeshPaths(home), env
        finally:
            os.environ.clear()
            os.environ.update(saved)


def main() -> None:
    # Figures go to the user's ERP_HOME; the measured mesh runs in a throwaway one.
    out = MeshPaths(Path(os.environ.get("ERP_HOME", "var")).resolve()).bench
    with throwaway_home() as (paths, env):
        edge_port = int(env["ERP_EDGE_PORT"])
        try:
            seconds = cold_start(paths.home, env)
            rss = mesh_rss_mib(paths)
            token = signup(edge_port)
            results = {r.name: r for r in asyncio.run(throughput(paths, token))}
        finally:
            subprocess.run([str(Path(sys.executable).parent / "erp"), "down"], env=env, check=False)
    print(f"cold start (erp up --detach until all healthy): {seconds:.2f} s   target <= 10 s")
    total = sum(rss.values())
    parts = ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
    print(f"RSS of all mesh processes: {total:.0f} MiB ({parts})   target <= 600 MiB")
    print(f"GetMe, {CONCURRENCY} concurrent callers, {SECONDS:.0f} s each:")
    for result in results.values():
        print("  " + result.line())
    direct = ratio(results, "getme_direct", "echo_ceiling")
    rest = ratio(results, "getme_edge_rest", "getme_direct")
    print(f"GetMe direct / echo ceiling: {direct:.2f}   target >= 0.5")
    print(f"REST through edge / direct:  {rest:.2f}   target >= 0.5")
    figures: dict[str, float] = {}
    for result in results.values():
        figures.update(result.figures())
    figures.update(
        {"ratio.direct_over_echo": round(direct, 3), "ratio.rest_over_direct": round(rest, 3)}
    )
    written = [
        write_figures(out, "rpc_throughput", figures),
        write_figures(
            out,
            "cold_start",
            {"cold_start_seconds": round(seconds, 3), "rss_total_mib": round(total, 1)}
            | {f"rss_mib.{k}": round(v, 1) for k, v in rss.items()},
        ),
    ]
    print("figures written to " + ", ".join(str(p) for p in written))
