"""Reading what a service published on JetStream, as a consumer would."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import nats
from google.protobuf.message import Message

from erp.common.v1 import event_pb2

M = TypeVar("M", bound=Message)


async def find_event(
    nats_url: str,
    subject: str,
    payload_type: type[M],
    match: Callable[[M], bool],
    wait_seconds: float = 10.0,
) -> tuple[event_pb2.EventEnvelope, M]:
    """The first event on `subject` (from the stream's start) whose payload matches."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(subject, ordered_consumer=True)
        try:
            while True:
                msg = await sub.next_msg(timeout=wait_seconds)
                envelope = event_pb2.EventEnvelope.FromString(msg.data)
                payload = payload_type()
                if envelope.payload.Unpack(payload) and match(payload):
                    return envelope, payload
        finally:
            await sub.unsubscribe()
    finally:
        await nc.close()
