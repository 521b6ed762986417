"""Engines for the two supported databases: SQLite (default, one file, WAL) and PostgreSQL.

SQLite notes: pysqlite's own transaction handling is switched off so that SQLAlchemy's
`begin` emits the BEGIN we choose: BEGIN IMMEDIATE for writes (takes the write lock up
front, so read-then-write sequences such as the audit log's max(idx)+1 cannot interleave)
and a plain deferred BEGIN for reads.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine import create_engine as sa_create_engine
from sqlalchemy.exc import ArgumentError

from nostr_passport.errors import ConfigError

WRITE_OPTION = "nostr_passport_write"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def sqlite_url(path: str) -> str:
    """The SQLAlchemy URL of a SQLite database file."""
    return f"sqlite+pysqlite:///{path}"


def database_kind(url: str) -> str:
    """'sqlite' or 'postgresql'; ConfigError for anything else."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError as exc:
        raise ConfigError(f"store url is not a database URL: {exc}") from None
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported store backend {backend!r}: use sqlite or postgresql")
    return backend


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (module docstring)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_engine(url: str) -> Engine:
    """An engine for `url` (sqlite+pysqlite:///... or postgresql+psycopg://...)."""
    kind = database_kind(url)
    if kind == "sqlite":
        engine = sa_create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=8,
            max_overflow=16,
        )
        _configure_sqlite(engine)
        return engine
    return sa_create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=16)
