"""The connection to NATS JetStream: connects in the background, keeps retrying,
and tells the service when it is first connected (health waits for that)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError

from mesh.events import stream_name

log = logging.getLogger("mesh.bus")
DUPLICATE_WINDOW_SECONDS = 120.0
ERROR_LOG_EVERY_SECONDS = 30.0


class Bus:
    def __init__(self, url: str, domain: str) -> None:
        self.url = url
        self.domain = domain
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._on_ready: list[Callable[[], None]] = []
        self._on_reconnected: list[Callable[[], None]] = []
        self._last_error_log = float("-inf")

    def on_ready(self, callback: Callable[[], None]) -> None:
        self._on_ready.append(callback)

    def on_reconnected(self, callback: Callable[[], None]) -> None:
        """Called after each reconnect (messages sent meanwhile were missed)."""
        self._on_reconnected.append(callback)

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_forever(), name="nats-connect")

    async def _connect_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                self.nc = await nats.connect(
                    self.url,
                    name=f"svc_{self.domain}",
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    connect_timeout=2,
                    error_cb=self._error,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                )
                self.js = self.nc.jetstream()
                await self.ensure_stream(self.domain)
                break
            except Exception as exc:  # keep trying: the service must come up without NATS
                log.warning("nats not reachable yet", extra={"url": self.url, "error": str(exc)})
                if self.nc is not None:
                    await self.nc.close()
                    self.nc = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        log.info("connected to nats", extra={"url": self.url})
        self.ready.set()
        for callback in self._on_ready:
            callback()

    # nats-py prints tracebacks unless given callbacks; one JSON log line each instead.
    async def _error(self, error: Exception) -> None:
        # While NATS is away this fires on every reconnect try: say it every 30 s at most.
        now = asyncio.get_running_loop().time()
        if now - self._last_error_log >= ERROR_LOG_EVERY_SECONDS:
            self._last_error_log = now
            log.warning("nats error", extra={"error": str(error) or type(error).__name__})

    async def _disconnected(self) -> None:
        log.warning("nats disconnected; events wait in the outbox", extra={"url": self.url})

    async def _reconnected(self) -> None:
        log.info("nats reconnected", extra={"url": self.url})
        # The server may have come back without its store (a new node): recreate.
        try:
            await self.ensure_stream(self.domain)
        except Exception as exc:
            log.warning("stream not ensured after reconnect", extra={"error": str(exc)})
        for callback in self._on_reconnected:
            callback()

    async def ensure_stream(self, domain: str) -> None:
        """Create the domain's stream, or leave it as it is (idempotent)."""
        assert self.js is not None
        config = StreamConfig(
            name=stream_name(domain),
            subjects=[f"erp.{domain}.>"],
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
        try:
            await self.js.add_stream(config)
        except BadRequestError:
            await self.js.update_stream(config)

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected and self.js is not None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()
