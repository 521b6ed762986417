"""The store handle: one engine, read and write transactions, retry on write conflicts.

Every multi-row change goes through `Store.write` (or `Store.run_write`, which retries
the whole unit of work when two gateways collide on a unique key such as the audit
log's next index). Callers pass the open Connection to the table functions in
store/identities.py, store/tokens.py, ... so that what belongs together commits together.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from nostr_passport.errors import UnavailableError

from .engine import WRITE_OPTION, create_engine, database_kind
from .migrate import upgrade_to_head

T = TypeVar("T")
log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 8


class WriteConflictError(Exception):
    """A unit of work lost a race and may simply be run again (raised by table functions)."""


def _is_retryable(exc: SQLAlchemyError) -> bool:
    if isinstance(exc, IntegrityError):
        return False  # decided per call site: only the audit index race is retried
    if isinstance(exc, OperationalError | DBAPIError):
        sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
        # 40001 serialization_failure, 40P01 deadlock_detected; SQLite: database is locked.
        return sqlstate in ("40001", "40P01") or "database is locked" in str(exc.orig)
    return False


class Store:
    """Handle on the database. Thread-safe: each transaction takes its own pooled connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.kind = engine.dialect.name
        # SQLite has one writer at a time. Threads of this process queue here instead of
        # in SQLite's busy handler, which sleeps in growing steps and turns contention
        # into long convoys; other processes still meet the busy timeout.
        self._write_lock = threading.Lock() if self.kind == "sqlite" else None

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to `url` and (by default) bring the schema up to date."""
        database_kind(url)
        engine = create_engine(url)
        store = cls(engine)
        if migrate:
            try:
                upgrade_to_head(engine)
            except SQLAlchemyError as exc:
                engine.dispose()
                reason = _brief(exc)
                raise UnavailableError(f"store unreachable or not migratable: {reason}") from None
        return store

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on PostgreSQL)."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, IntegrityError):
                raise
            raise UnavailableError(f"store unavailable: {_brief(exc)}") from None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: everything inside commits together or not at all."""
        with self._serialised(), self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _serialised(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            yield

    def run_write(self, unit: Callable[[Connection], T]) -> T:
        """Run `unit` in a write transaction, again from scratch if it lost a race.

        Store failures that persist become UnavailableError (HTTP 503): the caller's
        operation did not happen.
        """
        last: Exception | None = None
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.write() as conn:
                    return unit(conn)
            except WriteConflictError as exc:
                last = exc
            except SQLAlchemyError as exc:
                if not _is_retryable(exc):
                    if isinstance(exc, IntegrityError):
                        raise
                    raise UnavailableError(f"store unavailable: {_brief(exc)}") from None
                last = exc
            # Short, growing pause: conflicts clear as soon as the other writer commits.
            time.sleep(0.005 * (attempt + 1))
        log.warning("store write gave up after %d attempts", WRITE_ATTEMPTS)
        raise UnavailableError(f"store busy: {_brief(last)}")

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()


def _brief(exc: BaseException | None) -> str:
    """A one-line reason without parameters (statement parameters could carry data)."""
    if exc is None:
        return "unknown error"
    orig = getattr(exc, "orig", None)
    message = str(orig if orig is not None else exc).strip().splitlines()
    return message[0][:200] if message else type(exc).__name__
