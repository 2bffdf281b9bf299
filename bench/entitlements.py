"""What the entitlement check costs GetMe: svc_auth in its own process (bench.auth_server,
on a private NATS and a SQLite file), GetMe direct on its unix socket as in
bench.mesh_bench, with the interceptor's cache `unused` (fetch None: no check) and
`warm` (the tenant's plan cached: a dict lookup and a feature test), alternating
rounds (ABBA) so drift in the machine's load falls on both. Beside it, the check
alone, timed in process: microseconds per call either way.

`python -m bench.entitlements` runs it alone (ERP_BENCH_ROUNDS, ERP_BENCH_SECONDS).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc

from bench import load, support
from bench.auth_server import plan_of
from erp.auth.v1 import auth_service_pb2, auth_service_pb2_grpc
from mesh import contracts
from mesh.config import MeshPaths
from mesh.context import Principal
from mesh.entitlements import EntitlementCache
from mesh.interceptor import MeshInterceptor
from mesh.tokens import TokenVerifier

CONCURRENCY = 10
SECONDS = float(os.environ.get("ERP_BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("ERP_BENCH_ROUNDS", "6"))
MODES = ("unused", "warm")
GETME = "/erp.auth.v1.AuthService/GetMe"
TARGET_PERCENT = 5.0
CHECKS = 200_000


class AuthProcess:
    """bench.auth_server as a child process, steered over its stdin."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, home: Path, database_url: str, nats_url: str) -> AuthProcess:
        log = (home / "auth.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.auth_server",
            str(home),
            database_url,
            nats_url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
        log.close()
        self = cls(proc)
        await self._expect("ready")
        return self

    async def _expect(self, word: str) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout=30)
        if line.decode().strip() != word:
            raise RuntimeError(f"bench.auth_server said {line!r}, expected {word!r}")

    async def mode(self, mode: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{mode}\n".encode())
        await self.proc.stdin.drain()
        await self._expect(f"ok {mode}")

    async def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.write(b"quit\n")
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


async def signup(stub: auth_service_pb2_grpc.AuthServiceStub) -> str:
    answer = await stub.Signup(
        auth_service_pb2.SignupRequest(
            tenant_name="Bench", email="bench@bench.test", password="correct horse battery"
        )
    )
    token: str = answer.tokens.access_token
    return token


async def rounds(home: Path, database_url: str, nats_url: str) -> dict[str, list[load.Result]]:
    server = await AuthProcess.start(home, database_url, nats_url)
    results: dict[str, list[load.Result]] = {mode: [] for mode in MODES}
    try:
        async with grpc.aio.insecure_channel(f"unix:{MeshPaths(home).socket('auth')}") as channel:
            stub = auth_service_pb2_grpc.AuthServiceStub(channel)
            token = await signup(stub)
            metadata = (("authorization", f"Bearer {token}"),)
            request = auth_service_pb2.GetMeRequest()

            async def call() -> object:
                return await stub.GetMe(request, metadata=metadata)

            for n in range(ROUNDS):
                order = MODES if n % 2 == 0 else MODES[::-1]
                for mode in order:
                    await server.mode(mode)
                    await call()  # fail loudly; in `warm` this fills the cache
                    result = await load.run(
                        f"getme_direct_{mode}", call, concurrency=CONCURRENCY, seconds=SECONDS
                    )
                    results[mode].append(result)
    finally:
        await server.stop()
    return results


async def check_cost() -> dict[str, float]:
    """Microseconds of the interceptor's entitlement step per call, in process."""
    contract = contracts.methods()[GETME]
    principal = Principal(subject="u", tenant_id="t", kind="user", permissions=("*",))
    costs = {}
    for mode in MODES:
        cache = EntitlementCache(plan_of if mode == "warm" else None)
        interceptor = MeshInterceptor(TokenVerifier(None), {GETME: contract}, cache)  # type: ignore[arg-type]
        await interceptor._entitle(contract, principal)
        started = time.perf_counter()
        for _ in range(CHECKS):
            await interceptor._entitle(contract, principal)
        costs[mode] = (time.perf_counter() - started) / CHECKS * 1e6
    return costs


def total_rps(results: list[load.Result]) -> float:
    return sum(r.requests for r in results) / sum(r.seconds for r in results)


def main() -> None:
    with (
        support.private_nats() as nats_url,
        support.database("sqlite") as database_url,
        tempfile.TemporaryDirectory(prefix="erp-bench-", dir="/tmp") as tmp,
    ):
        results = asyncio.run(rounds(Path(tmp), database_url, nats_url))
    costs = asyncio.run(check_cost())
    unused, warm = total_rps(results["unused"]), total_rps(results["warm"])
    overhead = (1 - warm / unused) * 100
    pairs = [
        (1 - w.rps / u.rps) * 100 for u, w in zip(results["unused"], results["warm"], strict=True)
    ]
    median_pair = statistics.median(pairs)
    per_request_us = 1e6 / unused
    print(
        f"Entitlement check on GetMe direct (svc_auth process, unix socket), {CONCURRENCY} "
        f"concurrent callers, {ROUNDS} alternating rounds of {SECONDS:.0f} s per mode; "
        f"{support.load_average()}:"
    )
    for mode in MODES:
        rps = [r.rps for r in results[mode]]
        p99 = statistics.median(r.p99_ms for r in results[mode])
        label = (
            "cache unused (fetch None, no check)" if mode == "unused" else "cache warm (hot path)"
        )
        print(
            f"  {label:<38} {total_rps(results[mode]):>9,.0f} req/s   median p99 {p99:6.2f} ms"
            f"   rounds {', '.join(f'{x:,.0f}' for x in rps)}"
        )
    print(
        f"  overhead of the warm check: {overhead:+.1f} % (median of round pairs "
        f"{median_pair:+.1f} %)   target <= {TARGET_PERCENT:.0f} %"
    )
    print(
        f"  the check alone, in process: {costs['warm']:.2f} us warm vs "
        f"{costs['unused']:.2f} us unused per call = "
        f"{(costs['warm'] - costs['unused']) / per_request_us * 100:.2f} % of a request "
        f"at {unused:,.0f} req/s"
    )
    figures: dict[str, float] = {
        "getme_direct_unused.rps": round(unused, 1),
        "getme_direct_warm.rps": round(warm, 1),
        "overhead_percent": round(overhead, 2),
        "overhead_percent_median_pair": round(median_pair, 2),
        "check_us.unused": round(costs["unused"], 3),
        "check_us.warm": round(costs["warm"], 3),
        "rounds": ROUNDS,
        "seconds_per_round": SECONDS,
    }
    for mode in MODES:
        for n, r in enumerate(results[mode]):
            figures[f"round{n}.{mode}.rps"] = round(r.rps, 1)
            figures[f"round{n}.{mode}.p99_ms"] = round(r.p99_ms, 3)
    written = support.write_figures("entitlements", figures)
    print(f"figures written to {written}")


if __name__ == "__main__":
    main()
