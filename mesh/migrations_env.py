"""The body of every service's Alembic env.py.

At service start `Database.migrate` hands over an open connection. From the
command line (`alembic -c svc_x/migrations/alembic.ini revision --autogenerate`)
the URL comes from ERP_DATABASE_URL, as for the service itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, create_engine, pool
from sqlalchemy.engine import make_url

from mesh.config import database_url


def run_migrations(service: str, metadata: MetaData) -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection, metadata)
        return
    url = make_url(database_url(service))
    sync_url = url.set(drivername=url.drivername.replace("+aiosqlite", ""))
    engine = create_engine(sync_url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        _run(conn, metadata)


def _run(connection: object, metadata: MetaData) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
