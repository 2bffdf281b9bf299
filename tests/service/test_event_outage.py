"""NATS dies while users are being invited: nothing is lost, nothing counts twice.

svc_auth and svc_billing run in process against a JetStream server of the test's own.
A third of the way through a run of invitations the server is killed (SIGKILL);
invitations go on (writes never wait for NATS: their events wait in auth's outbox),
then the server comes back on the same port with the same store and the rest follow.
In the end every event is in the stream exactly once, in order per user, auth's outbox
is empty, and billing counts each seat once.
"""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
from auth_client import bearer, signup, unique_email  # type: ignore[import-not-found]
from auth_harness import (  # type: ignore[import-not-found]
    BACKENDS,
    DatabaseFactory,
    new_home,
    settings_for,
    start_auth,
)
from billing_harness import eventually, start_billing  # type: ignore[import-not-found]
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from private_nats import PrivateNats  # type: ignore[import-not-found]
from sqlalchemy import func, select

import mesh.consumer
from erp.auth.v1 import auth_service_pb2 as pb
from erp.billing.v1 import billing_pb2
from erp.billing.v1 import billing_service_pb2 as bpb
from erp.common.v1 import event_pb2
from mesh.db import Database
from mesh.events import stream_name
from mesh.tables import MeshTables
from svc_auth.store import TABLES as AUTH_TABLES
from svc_billing.store import TABLES as BILLING_TABLES

INVITES = 40
GROUP = 4  # invitations in flight at once
KILL_AFTER = 12  # invitations made before NATS is killed
WHILE_DOWN = 12  # invitations made while it is down
BILLING_CONSUMER = "billing-from-auth"
# An ack in flight when the broker is killed can be lost (the restarted server has it
# pending); JetStream delivers it again after the ack wait and the inbox skips it.
# A short wait lets the test see that redelivery instead of waiting 30 s for it.
ACK_WAIT_SECONDS = 2.0


@pytest.fixture
def own_nats() -> Iterator[PrivateNats]:
    server = PrivateNats()
    try:
        server.start()
        yield server
    finally:
        server.close()


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event_id: str
    event_type: str
    aggregate_id: str


async def stream_events(url: str, stream: str, subject: str) -> list[StoredEvent]:
    """Every message of `stream` under `subject`, read by sequence (nothing acked)."""
    nc = await nats.connect(url)
    try:
        js: JetStreamContext = nc.jetstream()
        state = (await js.stream_info(stream)).state
        found: list[StoredEvent] = []
        seq = state.first_seq
        while seq <= state.last_seq:
            try:
                msg = await js.get_msg(stream, seq=seq, subject=subject, next=True)
            except NotFoundError:
                break
            envelope = event_pb2.EventEnvelope.FromString(msg.data or b"")
            assert msg.seq is not None
            found.append(
                StoredEvent(msg.seq, envelope.event_id, envelope.event_type, envelope.aggregate_id)
            )
            seq = msg.seq + 1
        return found
    finally:
        await nc.close()


async def consumer_settled(url: str, stream: str, consumer: str) -> bool:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().consumer_info(stream, consumer)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)
    finally:
        await nc.close()


async def unpublished(db: Database, tables: MeshTables) -> int:
    outbox = tables.outbox
    async with db.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
    return int(count or 0)


async def outbox_ids(db: Database, tables: MeshTables, tenant: str) -> list[str]:
    outbox = tables.outbox
    async with db.sessions() as session:
        rows = await session.execute(
            select(outbox.c.event_id).where(outbox.c.tenant_id == tenant).order_by(outbox.c.seq)
        )
    return [r[0] for r in rows]


async def inbox_ids(db: Database, tables: MeshTables, consumer: str) -> list[str]:
    inbox = tables.inbox
    async with db.sessions() as session:
        rows = await session.execute(select(inbox.c.event_id).where(inbox.c.consumer == consumer))
    return [r[0] for r in rows]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_nats_killed_while_inviting_loses_nothing_and_counts_once(
    backend: str,
    databases: DatabaseFactory,
    own_nats: PrivateNats,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mesh.consumer, "ACK_WAIT_SECONDS", ACK_WAIT_SECONDS)
    auth_home = new_home()
    homes: list[Path] = [auth_home.home]
    auth: Any = None
    billing: Any = None
    try:
        auth = await start_auth(
            backend, settings_for(auth_home, databases.make(backend), own_nats.url)
        )
        billing = await start_billing(auth, databases.make(backend, "billing"))
        homes.append(billing.running.runtime.settings.home)
        auth_db: Database = auth.running.runtime.db
        billing_db: Database = billing.running.runtime.db

        owner = await signup(auth.stub)
        tenant = owner.tenant.tenant_id
        token = bearer(owner.tokens.access_token)

        async def trialing() -> bool | None:
            answer = await billing.stub.GetSubscription(
                bpb.GetSubscriptionRequest(), metadata=token
            )
            status = answer.subscription.status
            return True if status == billing_pb2.SUBSCRIPTION_STATUS_TRIALING else None

        await eventually(trialing)

        async def invite(i: int) -> pb.InviteUserResponse:
            response: pb.InviteUserResponse = await auth.stub.InviteUser(
                pb.InviteUserRequest(email=unique_email(f"u{i}")), metadata=token, timeout=15
            )
            return response

        invited: list[pb.InviteUserResponse] = []

        async def invite_range(
            start: int, stop: int, meanwhile: Callable[[], Awaitable[None]] | None = None
        ) -> None:
            """Invitations start..stop-1, GROUP at a time; `meanwhile` runs while the
            first group is in flight."""
            for first in range(start, stop, GROUP):
                calls = asyncio.gather(*(invite(i) for i in range(first, min(first + GROUP, stop))))
                if meanwhile is not None and first == start:
                    await meanwhile()
                invited.extend(await calls)

        async def kill() -> None:
            await asyncio.to_thread(own_nats.kill)

        async def restart() -> None:
            await asyncio.to_thread(own_nats.start)

        await invite_range(0, KILL_AFTER - GROUP)
        # Killed while a group is in flight (and the relay most likely publishing).
        await invite_range(KILL_AFTER - GROUP, KILL_AFTER + WHILE_DOWN, meanwhile=kill)
        # The outage did bite: what was written meanwhile waits in the outbox
        # (two events per invitation: user.created and user.invited).
        assert await unpublished(auth_db, AUTH_TABLES) >= 2 * WHILE_DOWN
        # NATS comes back while invitations go on.
        await invite_range(KILL_AFTER + WHILE_DOWN, INVITES, meanwhile=restart)

        # Every invitation answered, each with a user of its own.
        user_ids = [r.user.user_id for r in invited]
        assert len(user_ids) == INVITES and all(user_ids)
        assert len(set(user_ids)) == INVITES

        async def outbox_empty() -> bool | None:
            return True if await unpublished(auth_db, AUTH_TABLES) == 0 else None

        await eventually(outbox_empty, within=20)

        async def seats() -> int:
            answer = await billing.stub.GetUsage(bpb.GetUsageRequest(), metadata=token)
            [users] = [m for m in answer.metrics if m.metric == "users"]
            return int(users.value)

        async def all_seats() -> bool | None:
            return True if await seats() >= 1 + INVITES else None

        await eventually(all_seats, within=20)

        async def settled() -> bool | None:
            ok = await consumer_settled(own_nats.url, stream_name("auth"), BILLING_CONSUMER)
            return True if ok else None

        await eventually(settled, within=10)
        # Exactly: the owner and each invited user once, nothing from a redelivery.
        assert await seats() == 1 + INVITES

        # The stream holds every event of the tenant's outbox exactly once.
        events = await stream_events(own_nats.url, stream_name("auth"), f"erp.auth.{tenant}.>")
        ids = Counter(e.event_id for e in events)
        assert [i for i, n in ids.items() if n > 1] == []
        assert sorted(ids) == sorted(await outbox_ids(auth_db, AUTH_TABLES, tenant))
        created = [e for e in events if e.event_type == "auth.user.created"]
        invited_events = [e for e in events if e.event_type == "auth.user.invited"]
        assert len(created) == 1 + INVITES and len(invited_events) == INVITES
        assert Counter(e.aggregate_id for e in created) == Counter([owner.user.user_id, *user_ids])
        assert sorted(e.aggregate_id for e in invited_events) == sorted(user_ids)
        # Order per user: created before invited.
        created_at = {e.aggregate_id: e.seq for e in created}
        late = [e.aggregate_id for e in invited_events if created_at[e.aggregate_id] > e.seq]
        assert late == []

        # Billing handled each event it consumes once (its inbox has every one).
        handled = Counter(await inbox_ids(billing_db, BILLING_TABLES, BILLING_CONSUMER))
        consumed = [e.event_id for e in events if e.event_type != "auth.user.invited"]
        assert {i: handled[i] for i in consumed} == dict.fromkeys(consumed, 1)
    except BaseException:
        print(own_nats.log())
        raise
    finally:
        if billing is not None:
            await billing.close()
        if auth is not None:
            await auth.close()
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)
