"""One lifecycle operation per identity at a time, across threads and gateways.

Two refreshes (or a refresh and a migration) of one identity must not overlap: each
clears and builds the same next epoch on the signers, so one could delete shares the
other has just activated. Within a process a lock per identity serialises them; on
PostgreSQL (the multi-gateway store) a session-level advisory lock, held on its own
connection for the whole operation, does the same across gateways. SQLite means a
single gateway, for which the process lock suffices.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from nostr_passport.errors import ConflictError
from nostr_passport.store import Store

_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def _process_lock(identity_id: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(identity_id, threading.Lock())


def advisory_key(identity_id: str) -> int:
    """A signed 64-bit key for pg_advisory_lock, namespaced to lifecycle operations."""
    digest = hashlib.sha256(b"nostr-passport/lifecycle|" + identity_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def identity_lifecycle_lock(store: Store, identity_id: str) -> Iterator[None]:
    """Held for one lifecycle operation; ConflictError if another one holds it."""
    lock = _process_lock(identity_id)
    if not lock.acquire(blocking=False):
        raise ConflictError(f"another lifecycle operation is running for {identity_id}")
    try:
        if store.kind != "postgresql":
            yield
            return
        key = advisory_key(identity_id)
        with store.engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            conn.commit()
            if not got:
                raise ConflictError(f"another gateway runs a lifecycle operation for {identity_id}")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    finally:
        lock.release()
