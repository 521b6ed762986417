"""Throwaway databases for tests: a SQLite file, or a fresh PostgreSQL database per use.

PostgreSQL runs at 127.0.0.1:5432 with trust auth; every test run creates its own
database (random name) and drops it afterwards, so parallel runs never collide.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select

from nostr_passport.store import Store
from nostr_passport.store.tables import ALL_TABLES

PG_HOST = os.environ.get("NP_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("NP_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("NP_TEST_PG_USER", "postgres")
PG_ADMIN_DB = os.environ.get("NP_TEST_PG_DB", "test")

BACKENDS = ("sqlite", "postgresql")


def _admin_connection() -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_ADMIN_DB, autocommit=True
    )


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; yields its SQLAlchemy URL, drops it afterwards."""
    name = f"np_test_{secrets.token_hex(6)}"
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path / 'store.db'}"
    elif backend == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        raise ValueError(backend)


def dump_tables(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: compare two dumps to prove nothing changed."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with store.read() as conn:
        for table in ALL_TABLES:
            rows = conn.execute(select(table)).all()
            dump[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return dump
