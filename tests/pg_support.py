"""PostgreSQL, the second backend: used when it answers on 127.0.0.1:5432 (trust auth)."""

from __future__ import annotations

import os

import psycopg
import pytest

from mesh.ports import port_open

PG_HOST, PG_PORT = "127.0.0.1", 5432


def postgres_user() -> str:
    return os.environ.get("PGUSER") or os.environ.get("USER") or "postgres"


class PostgresDatabases:
    """Creates throwaway databases (trust auth) and drops them all at the end."""

    def __init__(self) -> None:
        self.names: list[str] = []

    @staticmethod
    def available() -> bool:
        return port_open(PG_PORT, PG_HOST)

    def _admin(self) -> str:
        return f"postgresql://{postgres_user()}@{PG_HOST}:{PG_PORT}/postgres"

    def create(self, name: str) -> str:
        """Create database `name`; returns its SQLAlchemy URL."""
        if not self.available():
            pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
        with psycopg.connect(self._admin(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return self.url(name)

    @staticmethod
    def url(name: str) -> str:
        return f"postgresql+psycopg://{postgres_user()}@{PG_HOST}:{PG_PORT}/{name}"

    def drop_all(self) -> None:
        if not self.names:
            return
        with psycopg.connect(self._admin(), autocommit=True) as conn:
            for name in self.names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.names.clear()
