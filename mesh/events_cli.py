"""`erp events ...`: watch the event bus, re-feed a durable consumer, work the dead letters.

Each command is an async function taking a NATS URL and a text stream to write to, so
tests call them directly and `mesh.cli` only parses arguments:

- `tail`: a core NATS subscription (nothing is stored or acknowledged) that prints
  each event as it is published.
- `replay`: deletes a durable consumer and re-creates it with the same config but a
  start sequence or start time. The consuming service re-binds by itself; its inbox
  skips events it already handled, so only the others are handled again.
- `dlq_list` / `dlq_replay`: read `ERP_DLQ`; a replay re-publishes the original
  envelope to its original subject with a new `Nats-Msg-Id` (the original one would be
  dropped as a duplicate inside the stream's de-duplication window) and then deletes
  it from the DLQ.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import importlib
import json
import pkgutil
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import nats
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, ConsumerInfo, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

import erp
from erp.common.v1 import event_pb2
from mesh.consumer import DLQ_PREFIX, DLQ_STREAM

CONNECT_SECONDS = 5.0
REPLAY_ATTEMPTS = 5
POLL_SECONDS = 0.25
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


class EventsError(Exception):
    """A command cannot do what was asked; the message says why (the CLI exits 2)."""


# ---- shared ------------------------------------------------------------------------

_types_loaded = False


def load_event_types() -> None:
    """Import every generated `erp.*_pb2` module, so Any payloads can be decoded."""
    global _types_loaded
    if _types_loaded:
        return
    for module in pkgutil.walk_packages(erp.__path__, prefix="erp."):
        if module.name.endswith("_pb2"):
            importlib.import_module(module.name)
    _types_loaded = True


async def connect(url: str, *, keep_reconnecting: bool = False) -> Client:
    """Connect, or raise EventsError naming the URL (never hangs on a dead server)."""

    async def quiet(error: Exception) -> None:
        return None

    try:
        return await asyncio.wait_for(
            nats.connect(
                url,
                name="erp-events",
                connect_timeout=2,
                allow_reconnect=keep_reconnecting,
                max_reconnect_attempts=-1 if keep_reconnecting else 1,
                reconnect_time_wait=1 if keep_reconnecting else 0.2,
                error_cb=quiet,
            ),
            CONNECT_SECONDS,
        )
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        raise EventsError(f"cannot reach NATS at {url}: {reason}") from exc


def _timestamp(when: datetime | None) -> str:
    if when is None:
        return "-"
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _occurred(envelope: event_pb2.EventEnvelope) -> str:
    if not envelope.HasField("occurred_at"):
        return "-"
    return _timestamp(envelope.occurred_at.ToDatetime(tzinfo=UTC))


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def payload_dict(envelope: event_pb2.EventEnvelope) -> dict[str, Any]:
    """The payload as proto JSON (with its "@type"); raw bytes when the type is unknown."""
    if not envelope.HasField("payload"):
        return {}
    try:
        return json_format.MessageToDict(envelope.payload, preserving_proto_field_name=True)
    except (TypeError, json_format.Error, DecodeError):
        return {
            "@type": envelope.payload.type_url,
            "value_base64": base64.b64encode(envelope.payload.value).decode(),
        }


def envelope_dict(envelope: event_pb2.EventEnvelope) -> dict[str, Any]:
    bare = event_pb2.EventEnvelope()
    bare.CopyFrom(envelope)
    bare.ClearField("payload")
    result = json_format.MessageToDict(bare, preserving_proto_field_name=True)
    if envelope.HasField("payload"):
        result["payload"] = payload_dict(envelope)
    return result


def event_line(envelope: event_pb2.EventEnvelope) -> str:
    """One `tail` line: time, type, tenant, aggregate, event id, payload."""
    payload = {k: v for k, v in payload_dict(envelope).items() if k != "@type"}
    return (
        f"{_occurred(envelope)}  {envelope.event_type}  tenant={envelope.tenant_id}  "
        f"aggregate={envelope.aggregate_id}  id={envelope.event_id}  {_compact(payload)}"
    )


def _decode(data: bytes | None) -> event_pb2.EventEnvelope | None:
    try:
        return event_pb2.EventEnvelope.FromString(data or b"")
    except DecodeError:
        return None


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _say(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


# ---- tail --------------------------------------------------------------------------


def tail_subject(tenant: str | None = None, event_type: str | None = None) -> str:
    """The subject pattern for the filters (subjects: erp.<domain>.<tenant>.<agg>.<verb>)."""
    if tenant is not None and not _TOKEN.fullmatch(tenant):
        raise EventsError(f"bad tenant id {tenant!r}: letters, digits, '-' and '_' only")
    where = tenant or "*"
    if event_type is None:
        return f"erp.*.{where}.>"
    parts = event_type.split(".")
    if len(parts) < 3 or not all(_TOKEN.fullmatch(p) for p in parts):
        raise EventsError(
            f"bad event type {event_type!r}: expected <domain>.<aggregate>.<verb>, "
            "e.g. auth.user.created"
        )
    if parts[0] == "dlq":
        raise EventsError("the dlq is not a domain: use `erp events dlq`")
    return ".".join(["erp", parts[0], where, *parts[1:]])


async def tail(
    url: str,
    out: TextIO,
    *,
    tenant: str | None = None,
    event_type: str | None = None,
    as_json: bool = False,
    limit: int | None = None,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> int:
    """Print events as they are published until `limit` events, `stop`, or cancellation.

    `ready` is set once the subscription is in place (events published after that are
    seen). Returns how many events were printed.
    """
    subject = tail_subject(tenant, event_type)
    load_event_types()
    nc = await connect(url, keep_reconnecting=True)
    printed = 0
    try:
        sub = await nc.subscribe(subject)
        await nc.flush()
        if ready is not None:
            ready.set()
        while limit is None or printed < limit:
            if stop is not None and stop.is_set():
                break
            try:
                msg = await sub.next_msg(timeout=POLL_SECONDS)
            except NatsTimeoutError:
                continue
            if msg.subject.split(".")[1] == "dlq":  # erp.dlq.> shares the prefix
                continue
            envelope = _decode(msg.data)
            if envelope is None:
                line = (
                    _compact({"subject": msg.subject, "error": "not an event envelope"})
                    if as_json
                    else f"?  {msg.subject}  not an event envelope ({len(msg.data)} bytes)"
                )
            else:
                line = _compact(envelope_dict(envelope)) if as_json else event_line(envelope)
            _say(out, line)
            printed += 1
    finally:
        with contextlib.suppress(Exception):
            await nc.close()
    return printed


# ---- replay a durable consumer -----------------------------------------------------


def parse_since(text: str) -> int | datetime:
    """A stream sequence number (digits) or an RFC 3339 time with a zone."""
    text = text.strip()
    if text.isdigit():
        seq = int(text)
        if seq < 1:
            raise EventsError("--since: stream sequences start at 1")
        return seq
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise EventsError(
            f"--since {text!r}: give a stream sequence number or an RFC 3339 time "
            "such as 2025-06-01T08:00:00Z"
        ) from None
    if when.tzinfo is None:
        raise EventsError(f"--since {text!r}: give the time zone (Z or +hh:mm)")
    return when.astimezone(UTC)


async def _all_streams(js: JetStreamContext) -> list[str]:
    names: list[str] = []
    while True:
        page = await js.streams_info(offset=len(names))
        if not page:
            return names
        names += [s.config.name for s in page if s.config.name]


async def find_stream(js: JetStreamContext, consumer: str, stream: str | None = None) -> str:
    """The stream holding the durable consumer `consumer` (checked when given)."""
    if stream is not None:
        try:
            await js.consumer_info(stream, consumer)
        except NotFoundError:
            raise EventsError(f"no consumer {consumer!r} on stream {stream}") from None
        return stream
    found = []
    for name in await _all_streams(js):
        with contextlib.suppress(NotFoundError):
            await js.consumer_info(name, consumer)
            found.append(name)
    if not found:
        raise EventsError(f"no consumer {consumer!r} on any stream")
    if len(found) > 1:
        raise EventsError(f"consumer {consumer!r} is on {', '.join(found)}: pass --stream")
    return found[0]


def _restart_config(config: ConsumerConfig, since: int | datetime) -> ConsumerConfig:
    if isinstance(since, int):
        policy, seq, when = DeliverPolicy.BY_START_SEQUENCE, since, None
    else:
        policy, seq, when = DeliverPolicy.BY_START_TIME, None, since
    fresh = dataclasses.replace(
        config, deliver_policy=policy, opt_start_seq=seq, opt_start_time=when
    )
    if fresh.filter_subjects:
        fresh.filter_subject = None
    return fresh


@dataclass(frozen=True)
class Replayed:
    stream: str
    consumer: str
    pending: int
    attempts: int


async def replay(
    url: str,
    out: TextIO,
    consumer: str,
    since: int | datetime,
    *,
    stream: str | None = None,
) -> Replayed:
    """Re-create durable `consumer` so it delivers again from `since` (seq or time)."""
    nc = await connect(url)
    try:
        js = nc.jetstream()
        stream = await find_stream(js, consumer, stream)
        old: ConsumerInfo = await js.consumer_info(stream, consumer)
        if not old.config.durable_name:
            raise EventsError(f"consumer {consumer!r} on {stream} is not durable")
        config = _restart_config(old.config, since)
        info: ConsumerInfo | None = None
        attempts = 0
        # The consuming service re-creates a missing consumer (from the start, keeping
        # any existing one): if it wins the race, delete its version and try again.
        while info is None:
            attempts += 1
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(stream, consumer)
            try:
                info = await js.add_consumer(stream, config)
            except NotFoundError:
                raise EventsError(f"stream {stream} went away") from None
            except APIError as exc:
                # Re-created meanwhile: 400, or 500 "deliver policy can not be updated".
                if attempts >= REPLAY_ATTEMPTS:
                    raise EventsError(
                        f"could not re-create {consumer!r} on {stream} after {attempts} "
                        f"attempts: {exc.description or exc}; its service re-creates it "
                        "from the start of the stream (its inbox skips what it handled)"
                    ) from exc
                await asyncio.sleep(0.05 * attempts)
        info = await js.consumer_info(stream, consumer)
        start = f"stream seq {since}" if isinstance(since, int) else _timestamp(since)
        filters = config.filter_subjects or [config.filter_subject or ">"]
        _say(out, f"consumer {consumer} on {stream}: deleted and re-created from {start}")
        _say(out, f"  subjects: {', '.join(filters)}")
        floor = old.ack_floor.stream_seq if old.ack_floor is not None else 0
        _say(out, f"  it had acknowledged up to stream seq {floor}")
        _say(
            out,
            f"  pending now: {info.num_pending} event(s); the service re-binds by itself and "
            "its inbox skips the events it already handled",
        )
        return Replayed(stream, consumer, int(info.num_pending or 0), attempts)
    finally:
        await nc.close()


# ---- dead letters ------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    consumer: str
    original_subject: str
    original_stream: str
    original_seq: str
    deliveries: str
    error: str
    time: datetime | None
    data: bytes
    envelope: event_pb2.EventEnvelope | None

    @property
    def event_type(self) -> str:
        return self.envelope.event_type if self.envelope is not None else "?"

    @property
    def event_id(self) -> str:
        return self.envelope.event_id if self.envelope is not None else ""


def _dead_letter(msg: Any) -> DeadLetter:
    headers: dict[str, str] = msg.headers or {}
    subject: str = msg.subject or ""
    return DeadLetter(
        seq=int(msg.seq),
        consumer=headers.get("Erp-Consumer") or subject.removeprefix(f"{DLQ_PREFIX}."),
        original_subject=headers.get("Erp-Original-Subject", ""),
        original_stream=headers.get("Erp-Original-Stream", ""),
        original_seq=headers.get("Erp-Original-Seq", ""),
        deliveries=headers.get("Erp-Deliveries", ""),
        error=headers.get("Erp-Error", ""),
        time=msg.time,
        data=msg.data or b"",
        envelope=_decode(msg.data),
    )


async def dead_letters(
    js: JetStreamContext, *, consumer: str | None = None, seqs: Sequence[int] = ()
) -> list[DeadLetter]:
    """The DLQ's messages (all, those of `consumer`, or the sequences `seqs`)."""
    try:
        state = (await js.stream_info(DLQ_STREAM)).state
    except NotFoundError:
        if seqs:
            raise EventsError(f"there is no {DLQ_STREAM} stream") from None
        return []
    found: list[DeadLetter] = []
    if seqs:
        for seq in seqs:
            try:
                letter = _dead_letter(await js.get_msg(DLQ_STREAM, seq=seq))
            except NotFoundError:
                raise EventsError(f"no dead-lettered event at {DLQ_STREAM} seq {seq}") from None
            if consumer is not None and letter.consumer != consumer:
                raise EventsError(
                    f"{DLQ_STREAM} seq {seq} is {letter.consumer}'s, not {consumer}'s"
                )
            found.append(letter)
        return found
    subject = f"{DLQ_PREFIX}.{consumer}" if consumer else f"{DLQ_PREFIX}.>"
    seq, last = state.first_seq, state.last_seq
    while state.messages and seq <= last:
        try:
            msg = await js.get_msg(DLQ_STREAM, seq=seq, subject=subject, next=True)
        except NotFoundError:
            break
        letter = _dead_letter(msg)
        if letter.seq > last:  # dead-lettered after we started: next time
            break
        found.append(letter)
        seq = letter.seq + 1
    return found


async def dlq_list(url: str, out: TextIO, *, consumer: str | None = None) -> list[DeadLetter]:
    nc = await connect(url)
    try:
        letters = await dead_letters(nc.jetstream(), consumer=consumer)
    finally:
        await nc.close()
    if not letters:
        _say(out, "no dead-lettered events" + (f" for {consumer}" if consumer else ""))
        return letters
    rows = [["seq", "consumer", "subject", "type", "event id", "tries", "time", "error"]]
    rows += [
        [
            str(d.seq),
            d.consumer,
            d.original_subject,
            d.event_type,
            d.event_id,
            d.deliveries,
            _timestamp(d.time),
            d.error,
        ]
        for d in letters
    ]
    _say(out, _table(rows))
    return letters


@dataclass(frozen=True)
class Republished:
    dlq_seq: int
    subject: str
    msg_id: str
    stream: str
    stream_seq: int


async def dlq_replay(
    url: str, out: TextIO, *, consumer: str | None = None, seqs: Sequence[int] = ()
) -> tuple[list[Republished], list[int]]:
    """Re-publish dead letters to their original subjects, then drop them from the DLQ.

    Returns (republished, DLQ sequences that failed and stay in the DLQ).
    """
    nc = await connect(url)
    done: list[Republished] = []
    failed: list[int] = []
    try:
        js = nc.jetstream()
        letters = await dead_letters(js, consumer=consumer, seqs=seqs)
        if not letters:
            _say(out, "no dead-lettered events" + (f" for {consumer}" if consumer else ""))
        for d in letters:
            label = f"dlq #{d.seq} {d.event_type} id={d.event_id or '?'}"
            if not d.original_subject:
                _say(out, f"✗ {label}: no Erp-Original-Subject header; left in the DLQ")
                failed.append(d.seq)
                continue
            # A new Nats-Msg-Id: the event id alone is a duplicate for the stream's
            # de-duplication window. Consumers de-duplicate on the envelope's event_id.
            msg_id = f"{d.event_id or 'unknown'}.replay.{d.seq}"
            try:
                ack = await js.publish(d.original_subject, d.data, headers={"Nats-Msg-Id": msg_id})
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                _say(out, f"✗ {label} → {d.original_subject}: {reason}; left in the DLQ")
                failed.append(d.seq)
                continue
            await js.delete_msg(DLQ_STREAM, d.seq)
            again = " (already re-published before)" if ack.duplicate else ""
            _say(
                out,
                f"replayed {label} → {d.original_subject} ({ack.stream} seq {ack.seq}){again}",
            )
            done.append(Republished(d.seq, d.original_subject, msg_id, ack.stream, ack.seq))
    finally:
        await nc.close()
    return done, failed
