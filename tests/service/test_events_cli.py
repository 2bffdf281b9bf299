"""`erp events ...` against a real JetStream: tail, consumer replay, dead letters.

Each test works in a domain (stream ERP_CLI<hex>) and consumer names of its own, so the
tests share the session's private NATS without seeing each other's events.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError
from processes import start_until_ready, stop  # type: ignore[import-not-found]
from sqlalchemy.ext.asyncio import AsyncSession

from erp.auth.v1 import auth_pb2
from erp.common.v1 import event_pb2
from mesh import events_cli, nats_server
from mesh.bus import DUPLICATE_WINDOW_SECONDS
from mesh.config import MeshPaths
from mesh.consumer import DLQ_STREAM, Consumer, On, dlq_subject, ensure_consumer, ensure_dlq_stream
from mesh.events import make_envelope, stream_name, subject_for
from mesh.ports import free_port, port_open

ERP = Path(sys.executable).parent / "erp"
OCCURRED = datetime(2025, 6, 1, 8, 0, 0, 123000, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


@pytest.fixture
async def domain(js: JetStreamContext) -> str:
    """A fresh domain with its stream, as the service's Bus.ensure_stream makes it."""
    name = unique("cli")
    await js.add_stream(
        StreamConfig(
            name=stream_name(name),
            subjects=[f"erp.{name}.>"],
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
    )
    return name


@pytest.fixture
def bare_nats_url() -> Iterator[str]:
    """A second private JetStream server with no streams at all (no ERP_DLQ)."""
    home = MeshPaths(Path(tempfile.mkdtemp(prefix="erp-nats-bare-", dir="/tmp"))).ensure()
    port = free_port()
    proc = start_until_ready(
        nats_server.nats_command(home, port), home.logs / "nats.log", lambda: port_open(port)
    )
    try:
        yield nats_server.url(port)
    finally:
        stop(proc)
        shutil.rmtree(home.home, ignore_errors=True)


def user_created(
    domain: str, tenant: str, user_id: str, verb: str = "user.created"
) -> event_pb2.EventEnvelope:
    payload = auth_pb2.UserCreated(user=auth_pb2.User(user_id=user_id, email=f"{user_id}@x.test"))
    envelope = make_envelope(
        f"{domain}.{verb}", payload, source="test", aggregate_id=user_id, tenant_id=tenant
    )
    envelope.occurred_at.FromDatetime(OCCURRED)
    return envelope


async def publish(js: JetStreamContext, envelope: event_pb2.EventEnvelope) -> int:
    ack = await js.publish(
        subject_for(envelope.event_type, envelope.tenant_id),
        envelope.SerializeToString(),
        headers={"Nats-Msg-Id": envelope.event_id},
    )
    return int(ack.seq)


def expected_line(envelope: event_pb2.EventEnvelope, user_id: str) -> str:
    return (
        f"2025-06-01T08:00:00.123Z  {envelope.event_type}  tenant={envelope.tenant_id}  "
        f"aggregate={user_id}  id={envelope.event_id}  "
        f'{{"user":{{"user_id":"{user_id}","email":"{user_id}@x.test"}}}}'
    )


async def dead_letter(
    js: JetStreamContext, consumer: str, envelope: event_pb2.EventEnvelope, seq: int, error: str
) -> int:
    """What ConsumerRunner._failed publishes for an event it gives up on."""
    await ensure_dlq_stream(js)
    subject = subject_for(envelope.event_type, envelope.tenant_id)
    ack = await js.publish(
        dlq_subject(consumer),
        envelope.SerializeToString(),
        headers={
            "Erp-Error": error,
            "Erp-Consumer": consumer,
            "Erp-Original-Subject": subject,
            "Erp-Original-Stream": stream_name(envelope.event_type.split(".")[0]),
            "Erp-Original-Seq": str(seq),
            "Erp-Deliveries": "5",
        },
    )
    return int(ack.seq)


# ---- tail --------------------------------------------------------------------------


async def test_tail_prints_only_the_tenant_and_type_asked_for(
    nats_url: str, js: JetStreamContext, domain: str
) -> None:
    out = io.StringIO()
    ready = asyncio.Event()
    tail = asyncio.create_task(
        events_cli.tail(
            nats_url,
            out,
            tenant="t1",
            event_type=f"{domain}.user.created",
            limit=2,
            ready=ready,
        )
    )
    await asyncio.wait_for(ready.wait(), 10)
    # Not asked for (published first: core NATS keeps one publisher's order).
    await publish(js, user_created(domain, "t2", "u-other-tenant"))
    await publish(js, user_created(domain, "t1", "u-other-type", verb="user.deactivated"))
    wanted = [user_created(domain, "t1", "u1"), user_created(domain, "t1", "u2")]
    for envelope in wanted:
        await publish(js, envelope)
    assert await asyncio.wait_for(tail, 10) == 2
    assert out.getvalue().splitlines() == [
        expected_line(wanted[0], "u1"),
        expected_line(wanted[1], "u2"),
    ]


async def test_tail_by_tenant_as_json(nats_url: str, js: JetStreamContext, domain: str) -> None:
    tenant = unique("t")
    out = io.StringIO()
    ready = asyncio.Event()
    tail = asyncio.create_task(
        events_cli.tail(nats_url, out, tenant=tenant, as_json=True, limit=2, ready=ready)
    )
    await asyncio.wait_for(ready.wait(), 10)
    await publish(js, user_created(domain, "someone-else", "u0"))
    first = user_created(domain, tenant, "u1")
    second = user_created(domain, tenant, "u2", verb="user.deactivated")
    await publish(js, first)
    await publish(js, second)
    assert await asyncio.wait_for(tail, 10) == 2
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event_id"] for e in lines] == [first.event_id, second.event_id]
    assert lines[0]["event_type"] == f"{domain}.user.created"
    assert lines[0]["tenant_id"] == tenant and lines[0]["aggregate_id"] == "u1"
    assert lines[0]["occurred_at"] == "2025-06-01T08:00:00.123Z"
    assert lines[0]["payload"] == {
        "@type": "type.googleapis.com/erp.auth.v1.UserCreated",
        "user": {"user_id": "u1", "email": "u1@x.test"},
    }


async def test_tail_everything_skips_the_dead_letters(
    nats_url: str, js: JetStreamContext, domain: str
) -> None:
    assert events_cli.tail_subject() == "erp.*.*.>"
    out = io.StringIO()
    ready, done = asyncio.Event(), asyncio.Event()
    tail = asyncio.create_task(events_cli.tail(nats_url, out, ready=ready, stop=done))
    await asyncio.wait_for(ready.wait(), 10)
    envelope = user_created(domain, "t1", "u1")
    await dead_letter(js, unique("c"), envelope, 1, "boom")
    await publish(js, envelope)
    for _ in range(100):
        if envelope.event_id in out.getvalue():
            break
        await asyncio.sleep(0.05)
    done.set()
    await asyncio.wait_for(tail, 10)
    lines = [line for line in out.getvalue().splitlines() if envelope.event_id in line]
    assert lines == [expected_line(envelope, "u1")]


def test_tail_subjects_and_bad_filters() -> None:
    assert events_cli.tail_subject(event_type="auth.user.created") == "erp.auth.*.user.created"
    assert events_cli.tail_subject("T", "auth.user.created") == "erp.auth.T.user.created"
    assert events_cli.tail_subject("T") == "erp.*.T.>"
    for tenant, kind in [("a.b", None), ("*", None), (None, "auth"), (None, "auth.>.x")]:
        with pytest.raises(events_cli.EventsError):
            events_cli.tail_subject(tenant, kind)


async def test_tail_from_the_command_line_stops_cleanly_on_ctrl_c(
    nats_url: str, js: JetStreamContext, domain: str
) -> None:
    tenant = unique("t")
    proc = await asyncio.create_subprocess_exec(
        str(ERP),
        "events",
        "tail",
        "--tenant",
        tenant,
        "--nats",
        nats_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        # The subscription is up some time after start: publish until a line comes.
        line = b""
        for i in range(100):
            envelope = user_created(domain, tenant, f"u{i}")
            await publish(js, envelope)
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), 0.2)
                break
            except TimeoutError:
                continue
        # The payload is decoded: the CLI imported the generated types by itself.
        assert f"tenant={tenant}" in line.decode() and '{"user":{"user_id":"u' in line.decode()
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
        err = (await proc.stderr.read()).decode()
        assert f"listening on erp.*.{tenant}.>" in err
        assert "Traceback" not in err
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# ---- dead letters ------------------------------------------------------------------


async def test_dlq_list_shows_the_error(nats_url: str, js: JetStreamContext, domain: str) -> None:
    consumer = unique("c")
    envelope = user_created(domain, "t1", "u1")
    seq = await publish(js, envelope)
    dlq_seq = await dead_letter(js, consumer, envelope, seq, "ValueError: no such plan")
    out = io.StringIO()
    letters = await events_cli.dlq_list(nats_url, out, consumer=consumer)
    assert [(d.seq, d.event_id, d.error) for d in letters] == [
        (dlq_seq, envelope.event_id, "ValueError: no such plan")
    ]
    header, row = out.getvalue().splitlines()
    assert header.split() == [
        "seq", "consumer", "subject", "type", "event", "id", "tries", "time", "error"
    ]  # fmt: skip
    assert row.split()[:6] == [
        str(dlq_seq),
        consumer,
        f"erp.{domain}.t1.user.created",
        f"{domain}.user.created",
        envelope.event_id,
        "5",
    ]
    assert row.endswith("ValueError: no such plan")
    # Everyone's: ours is among them.
    everyone = await events_cli.dlq_list(nats_url, io.StringIO())
    assert dlq_seq in [d.seq for d in everyone]

    none = io.StringIO()
    assert await events_cli.dlq_list(nats_url, none, consumer=unique("nobody")) == []
    assert none.getvalue().startswith("no dead-lettered events")


async def test_dlq_list_without_a_dlq_stream(bare_nats_url: str) -> None:
    out = io.StringIO()
    assert await events_cli.dlq_list(bare_nats_url, out) == []
    assert out.getvalue() == "no dead-lettered events\n"
    done, failed = await events_cli.dlq_replay(bare_nats_url, io.StringIO())
    assert done == [] and failed == []


async def test_dlq_replay_republishes_with_a_new_msg_id(
    nats_url: str, js: JetStreamContext, domain: str
) -> None:
    consumer = unique("c")
    envelope = user_created(domain, "t1", "u1")
    seq = await publish(js, envelope)
    dlq_seq = await dead_letter(js, consumer, envelope, seq, "boom")
    out = io.StringIO()
    done, failed = await events_cli.dlq_replay(nats_url, out, consumer=consumer)
    assert failed == []
    [again] = done
    subject = f"erp.{domain}.t1.user.created"
    assert again.subject == subject and again.stream == stream_name(domain)
    assert again.msg_id == f"{envelope.event_id}.replay.{dlq_seq}"
    # In the domain stream again, as a new message with the new id and the same envelope.
    assert again.stream_seq == seq + 1
    msg = await js.get_msg(stream_name(domain), seq=again.stream_seq)
    assert msg.subject == subject
    assert msg.headers["Nats-Msg-Id"] == again.msg_id
    assert event_pb2.EventEnvelope.FromString(msg.data) == envelope
    # ... and gone from the DLQ.
    with pytest.raises(NotFoundError):
        await js.get_msg(DLQ_STREAM, seq=dlq_seq)
    assert out.getvalue() == (
        f"replayed dlq #{dlq_seq} {envelope.event_type} id={envelope.event_id} "
        f"→ {subject} ({stream_name(domain)} seq {again.stream_seq})\n"
    )
    nothing = io.StringIO()
    await events_cli.dlq_list(nats_url, nothing, consumer=consumer)
    assert nothing.getvalue() == f"no dead-lettered events for {consumer}\n"


async def test_dlq_replay_of_chosen_sequences_leaves_the_others(
    nats_url: str, js: JetStreamContext, domain: str
) -> None:
    consumer = unique("c")
    first, second = user_created(domain, "t1", "u1"), user_created(domain, "t1", "u2")
    dlq_first = await dead_letter(js, consumer, first, await publish(js, first), "e1")
    dlq_second = await dead_letter(js, consumer, second, await publish(js, second), "e2")
    done, _ = await events_cli.dlq_replay(nats_url, io.StringIO(), seqs=[dlq_second])
    assert [d.dlq_seq for d in done] == [dlq_second]
    left = await events_cli.dlq_list(nats_url, io.StringIO(), consumer=consumer)
    assert [d.seq for d in left] == [dlq_first]
    with pytest.raises(events_cli.EventsError, match="no dead-lettered event"):
        await events_cli.dlq_replay(nats_url, io.StringIO(), seqs=[dlq_second])
    with pytest.raises(events_cli.EventsError, match="not"):
        await events_cli.dlq_replay(nats_url, io.StringIO(), consumer="other", seqs=[dlq_first])


# ---- replaying a durable consumer --------------------------------------------------


async def _ignore(session: AsyncSession, envelope: event_pb2.EventEnvelope, m: Message) -> None:
    return None


async def durable(js: JetStreamContext, domain: str) -> Consumer:
    """A consumer as a service declares it, created the way the service creates it."""
    consumer = Consumer(
        unique(f"{domain}-c"), [On(f"{domain}.user.created", auth_pb2.UserCreated, _ignore)]
    )
    await ensure_consumer(js, consumer)
    return consumer


async def drain(js: JetStreamContext, consumer: Consumer) -> list[int]:
    """Fetch and ack everything it has pending; the stream sequences fetched."""
    sub = await js.pull_subscribe_bind(durable=consumer.name, stream=consumer.stream)
    seqs: list[int] = []
    try:
        while True:
            try:
                msgs = await sub.fetch(100, timeout=0.5)
            except TimeoutError:
                return seqs
            for msg in msgs:
                seqs.append(msg.metadata.sequence.stream)
                await msg.ack()
    finally:
        await sub.unsubscribe()


async def test_replay_since_a_sequence(nats_url: str, js: JetStreamContext, domain: str) -> None:
    consumer = await durable(js, domain)
    seqs = [await publish(js, user_created(domain, "t1", f"u{i}")) for i in range(5)]
    assert await drain(js, consumer) == seqs
    out = io.StringIO()
    done = await events_cli.replay(nats_url, out, consumer.name, seqs[2])
    assert (done.stream, done.pending) == (consumer.stream, 3)
    info = await js.consumer_info(consumer.stream, consumer.name)
    assert info.config.deliver_policy == DeliverPolicy.BY_START_SEQUENCE
    assert info.config.opt_start_seq == seqs[2]
    # Otherwise the same consumer.
    assert info.config.durable_name == consumer.name
    assert info.config.filter_subjects == consumer.filter_subjects()
    assert info.config.ack_policy == AckPolicy.EXPLICIT and info.config.max_ack_pending == 10_000
    assert await drain(js, consumer) == seqs[2:]
    text = out.getvalue()
    assert f"consumer {consumer.name} on {consumer.stream}: deleted and re-created" in text
    assert f"from stream seq {seqs[2]}" in text and "pending now: 3 event(s)" in text


async def test_replay_wins_the_race_with_the_service_re_creating_the_consumer(
    nats_url: str, js: JetStreamContext, domain: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer = await durable(js, domain)
    seqs = [await publish(js, user_created(domain, "t1", f"u{i}")) for i in range(3)]
    assert await drain(js, consumer) == seqs
    delete = JetStreamContext.delete_consumer
    raced = []

    async def delete_then_service_recreates(self: JetStreamContext, stream: str, name: str) -> bool:
        deleted = await delete(self, stream, name)
        if not raced:  # the first time only, the service gets in between
            raced.append(name)
            await ensure_consumer(js, consumer)
        return bool(deleted)

    monkeypatch.setattr(JetStreamContext, "delete_consumer", delete_then_service_recreates)
    done = await events_cli.replay(nats_url, io.StringIO(), consumer.name, seqs[1])
    assert raced == [consumer.name] and done.attempts == 2 and done.pending == 2
    info = await js.consumer_info(consumer.stream, consumer.name)
    assert info.config.deliver_policy == DeliverPolicy.BY_START_SEQUENCE
    assert await drain(js, consumer) == seqs[1:]


async def test_the_service_re_binds_to_a_replayed_consumer(
    nats_url: str, js: JetStreamContext, domain: str
) -> None:
    consumer = await durable(js, domain)
    seqs = [await publish(js, user_created(domain, "t1", f"u{i}")) for i in range(3)]
    assert await drain(js, consumer) == seqs
    await events_cli.replay(nats_url, io.StringIO(), consumer.name, seqs[1])
    # What ConsumerRunner._consume runs when it (re-)binds: must keep the replayed position.
    await ensure_consumer(js, consumer)
    info = await js.consumer_info(consumer.stream, consumer.name)
    assert info.config.deliver_policy == DeliverPolicy.BY_START_SEQUENCE
    assert await drain(js, consumer) == seqs[1:]


async def test_replay_since_a_time(nats_url: str, js: JetStreamContext, domain: str) -> None:
    consumer = await durable(js, domain)
    before = [await publish(js, user_created(domain, "t1", f"u{i}")) for i in range(2)]
    await asyncio.sleep(0.1)
    since = datetime.now(UTC)
    await asyncio.sleep(0.1)
    after = [await publish(js, user_created(domain, "t1", f"v{i}")) for i in range(2)]
    assert await drain(js, consumer) == before + after
    text = since.isoformat().replace("+00:00", "Z")
    done = await events_cli.replay(
        nats_url, io.StringIO(), consumer.name, events_cli.parse_since(text), stream=consumer.stream
    )
    assert done.pending == 2
    info = await js.consumer_info(consumer.stream, consumer.name)
    assert info.config.deliver_policy == DeliverPolicy.BY_START_TIME
    assert await drain(js, consumer) == after


async def test_replay_of_an_unknown_consumer(
    nats_url: str, js: JetStreamContext, domain: str
) -> None:
    with pytest.raises(events_cli.EventsError, match="no consumer 'nosuch' on any stream"):
        await events_cli.replay(nats_url, io.StringIO(), "nosuch", 1)
    stream = stream_name(domain)
    with pytest.raises(events_cli.EventsError, match=f"no consumer 'nosuch' on stream {stream}"):
        await events_cli.replay(nats_url, io.StringIO(), "nosuch", 1, stream=stream)


def test_parse_since() -> None:
    assert events_cli.parse_since("42") == 42
    assert events_cli.parse_since("2025-06-01T08:00:00Z") == datetime(2025, 6, 1, 8, tzinfo=UTC)
    assert events_cli.parse_since("2025-06-01T10:00:00+02:00") == datetime(
        2025, 6, 1, 8, tzinfo=UTC
    )
    for bad in ["0", "yesterday", "2025-06-01T08:00:00"]:
        with pytest.raises(events_cli.EventsError):
            events_cli.parse_since(bad)


# ---- the `erp` command -------------------------------------------------------------


def _erp(*args: str, nats_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ERP_NATS_URL"}
    if nats_url is not None:
        env["ERP_NATS_URL"] = nats_url
    return subprocess.run(
        [str(ERP), "events", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_erp_events_dlq_command(nats_url: str, js: JetStreamContext, domain: str) -> None:
    consumer = unique("c")
    envelope = user_created(domain, "t1", "u1")
    dlq_seq = await dead_letter(js, consumer, envelope, await publish(js, envelope), "KeyError: x")
    listed = await asyncio.to_thread(_erp, "dlq", "--consumer", consumer, nats_url=nats_url)
    assert listed.returncode == 0, listed.stderr
    assert envelope.event_id in listed.stdout and "KeyError: x" in listed.stdout
    listed = await asyncio.to_thread(_erp, "dlq", "list", "--consumer", consumer, nats_url=nats_url)
    assert listed.returncode == 0 and envelope.event_id in listed.stdout
    replayed = await asyncio.to_thread(
        _erp, "dlq", "replay", str(dlq_seq), "--consumer", consumer, nats_url=nats_url
    )
    assert replayed.returncode == 0, replayed.stderr
    assert f"replayed dlq #{dlq_seq}" in replayed.stdout
    unknown = await asyncio.to_thread(_erp, "replay", "nosuch", "--since", "1", nats_url=nats_url)
    assert unknown.returncode == 2
    assert unknown.stderr == "✗ no consumer 'nosuch' on any stream\n"


def test_erp_events_without_nats(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ERP_NATS_URL"}
    env["ERP_HOME"] = str(tmp_path)
    done = subprocess.run(
        [str(ERP), "events", "dlq"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "the mesh is not running" in done.stderr and "ERP_NATS_URL" in done.stderr
    assert "Traceback" not in done.stderr
