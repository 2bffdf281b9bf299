"""A closed-loop load generator: C concurrent callers for D seconds, then req/s and
latency percentiles. The same loop drives every path so the figures compare."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        return (
            f"{self.name:<34} {self.rps:>9,.0f} req/s   p50 {self.p50_ms:6.2f} ms"
            f"   p99 {self.p99_ms:6.2f} ms   errors {self.errors}"
        )

    def figures(self) -> dict[str, float]:
        return {
            f"{self.name}.rps": round(self.rps, 1),
            f"{self.name}.p50_ms": round(self.p50_ms, 3),
            f"{self.name}.p99_ms": round(self.p99_ms, 3),
            f"{self.name}.errors": self.errors,
        }


async def run(
    name: str,
    call: Callable[[], Awaitable[object]],
    *,
    concurrency: int = 10,
    seconds: float = 5.0,
    warmup_seconds: float = 1.0,
) -> Result:
    latencies: list[float] = []
    errors = 0
    recording = False
    deadline = 0.0

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await call()
            except Exception:
                errors += 1
                continue
            if recording:
                latencies.append(time.perf_counter() - started)

    deadline = time.perf_counter() + warmup_seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    recording = True
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if not latencies:
        return Result(name, 0, elapsed, 0.0, 0.0, errors)
    cuts = statistics.quantiles(latencies, n=100)
    return Result(name, len(latencies), elapsed, cuts[49] * 1000, cuts[98] * 1000, errors)
