"""Reading what a service published on JetStream, as a consumer would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import nats
from google.protobuf.message import Message
from nats.js.errors import NotFoundError

from erp.common.v1 import event_pb2


async def read_event(
    nats_url: str,
    subject: str,
    payload: Message,
    *,
    match: Callable[[Any], bool],
    within: float = 15.0,
) -> event_pb2.EventEnvelope:
    """The first event on JetStream under `subject` whose payload satisfies `match`.

    Reads the stream from its start (an ordered consumer), so it does not matter
    whether the relay published before or after we subscribed.
    """
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        deadline = asyncio.get_running_loop().time() + within
        while True:
            try:
                sub = await js.subscribe(subject, ordered_consumer=True)
                break
            except NotFoundError:  # the service has not created the stream yet
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.1)
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no matching event on {subject}")
            msg = await sub.next_msg(timeout=left)
            envelope = event_pb2.EventEnvelope.FromString(msg.data)
            envelope.payload.Unpack(payload)
            if match(payload):
                return envelope
    finally:
        await nc.close()
