"""Group commit: requests that contend for one lock are handled together.

When many requests of one key (a tenant's ledger, say) all need the same row lock,
each transaction waits for the one before it to take the lock, write and commit;
throughput is then one lock hand-over, one commit and every statement per request.
A `Batcher` instead queues the requests of one key, and a worker hands all that are
waiting to one `handle(session, items)` call in ONE transaction: the handler locks
once, reads what they share once, and can write all of them in a few statements.

The handler answers each item with a result or an exception (that item's caller
gets it; the others go on), so it must check everything before it writes. If the
handler raises or the commit fails, every item of the batch gets that error, as if
each had run alone and failed. Each item keeps its caller's context (`Item.context`)
for what must be done in it: who acts, the request's correlation and trace ids.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from mesh.db import Database

I = TypeVar("I")  # noqa: E741 - the item type
R = TypeVar("R")

BATCH_MAX = 100  # items per transaction: bounds how long one batch holds the lock


@dataclass
class Item(Generic[I, R]):
    value: I
    context: contextvars.Context  # the caller's: run its per-item work in it
    done: asyncio.Future[R] = field(repr=False)


Handler = Callable[[AsyncSession, Sequence[Item[I, R]]], Coroutine[Any, Any, list[R | Exception]]]


@dataclass
class _Queue(Generic[I, R]):
    items: list[Item[I, R]] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None


class Batcher(Generic[I, R]):
    def __init__(self, db: Database, handle: Handler[I, R], batch_max: int = BATCH_MAX):
        self.db = db
        self.handle = handle
        self.batch_max = batch_max
        self._queues: dict[str, _Queue[I, R]] = {}

    async def run(self, key: str, value: I) -> R:
        """`value` handled in a transaction shared with the other items of `key`
        waiting now; its result once that transaction has committed."""
        loop = asyncio.get_running_loop()
        item: Item[I, R] = Item(value, contextvars.copy_context(), loop.create_future())
        queue = self._queues.setdefault(key, _Queue())
        queue.items.append(item)
        if queue.worker is None:
            queue.worker = asyncio.create_task(self._drain(key, queue))
        return await item.done

    async def _drain(self, key: str, queue: _Queue[I, R]) -> None:
        try:
            while queue.items:
                batch = queue.items[: self.batch_max]
                del queue.items[: self.batch_max]
                await self._run_batch(batch)
        finally:
            queue.worker = None
            if queue.items:  # arrived after the loop's last look
                queue.worker = asyncio.create_task(self._drain(key, queue))
            else:
                self._queues.pop(key, None)

    async def _run_batch(self, batch: list[Item[I, R]]) -> None:
        try:
            async with self.db.transaction() as session:
                # In (a copy of) the first caller's context: the key's tenant and a
                # principal, as any of the batch's requests would have them.
                answers = await asyncio.create_task(
                    self.handle(session, batch), context=batch[0].context.copy()
                )
        except Exception as error:  # the transaction as a whole failed
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(error)
            return
        for item, answer in zip(batch, answers, strict=True):
            if item.done.done():
                continue  # its caller gave up (deadline, cancellation)
            if isinstance(answer, Exception):
                item.done.set_exception(answer)
            else:
                item.done.set_result(answer)
