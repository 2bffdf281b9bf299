"""Tables the mesh keeps in every service's own database.

A service passes its MetaData to `mesh_tables` in store.py so its Alembic
migrations create them beside its business tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, String, Table

from mesh.db import UtcDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class MeshTables:
    outbox: Table
    inbox: Table
    idempotency: Table


def mesh_tables(metadata: MetaData) -> MeshTables:
    outbox = Table(
        "mesh_outbox",
        metadata,
        # Publication order; events of one aggregate leave in the order they were written.
        Column("seq", _SEQ, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(120), nullable=False),
        Column("subject", String(255), nullable=False),
        Column("tenant_id", String(36), nullable=False),
        Column("aggregate_id", String(64), nullable=False),
        Column("envelope", LargeBinary, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("published_at", UtcDateTime, nullable=True, index=True),
    )
    inbox = Table(
        "mesh_inbox",
        metadata,
        # Handled event ids per consumer: a redelivered event has no second effect.
        Column("consumer", String(120), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("handled_at", UtcDateTime, nullable=False),
    )
    idempotency = Table(
        "mesh_idempotency",
        metadata,
        # First answer of a create call, replayed when the same key comes again.
        Column("tenant_id", String(36), primary_key=True),
        Column("method", String(200), primary_key=True),
        Column("idempotency_key", String(200), primary_key=True),
        Column("request_hash", String(64), nullable=False),  # same key, other request: refused
        Column("response", LargeBinary, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
    )
    return MeshTables(outbox=outbox, inbox=inbox, idempotency=idempotency)
