"""The signer's local store: one SQLite file of public data and HSM-wrapped secrets.

Durability is the point of this module. The nonce pool's single-use guarantee rests on
a consumed nonce being on disk before its partial signature exists, so the database
runs in WAL mode with synchronous=FULL (a commit is fsynced before it returns) and
every multi-row change is one transaction. Nothing secret is ever written in the clear:
shares, nonce seeds and signer keys arrive here already wrapped by the provider.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from nostr_passport.signer.errors import (
    NonceConsumedError,
    ShareExistsError,
    ShareNotFoundError,
    SignerStoreError,
    UnknownNonceError,
)

DB_NAME = "signer.sqlite3"
SCHEMA_VERSION = 1
POINT_LEN = 33

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shares (
    identity_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    participant INTEGER NOT NULL,
    threshold INTEGER NOT NULL,
    participants INTEGER NOT NULL,       -- n, or 0 when the share arrived without it
    group_pubkey BLOB NOT NULL,          -- 33-byte compressed, as dealt
    vss_commitments BLOB NOT NULL,       -- t x 33 bytes
    wrapped_share BLOB NOT NULL,         -- WrappedBlob bytes, AAD aad.share_aad(...)
    created_at INTEGER NOT NULL,
    PRIMARY KEY (identity_id, epoch)
);
CREATE TABLE IF NOT EXISTS nonce_batches (
    batch_id TEXT PRIMARY KEY,
    wrapped_seed BLOB,                   -- NULL once every nonce of the batch is consumed
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (
    nonce_id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES nonce_batches (batch_id),
    idx INTEGER NOT NULL,
    pubnonce BLOB NOT NULL UNIQUE,
    state INTEGER NOT NULL,              -- NonceState
    message BLOB,                        -- what it signed, once consumed
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS nonces_by_state ON nonces (state);
CREATE TABLE IF NOT EXISTS request_nonces (
    nonce BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS request_nonces_by_expiry ON request_nonces (expires_at);
CREATE TABLE IF NOT EXISTS wrapped_keys (
    name TEXT PRIMARY KEY,
    wrapped BLOB NOT NULL
);
"""


class NonceState(IntEnum):
    FRESH = 0
    HANDED_OUT = 1
    CONSUMED = 2


@dataclass(frozen=True)
class ShareRecord:
    """One stored share: public group data in the clear, the share itself wrapped."""

    identity_id: str
    epoch: int
    participant: int
    threshold: int
    participants: int
    group_pubkey: bytes
    vss_commitments: tuple[bytes, ...]
    wrapped_share: bytes = field(repr=False)
    created_at: int = 0


@dataclass(frozen=True)
class NonceRow:
    nonce_id: str
    batch_id: str
    idx: int
    pubnonce: bytes
    state: NonceState


@dataclass(frozen=True)
class NonceBatch:
    batch_id: str
    wrapped_seed: bytes = field(repr=False)
    entries: tuple[tuple[str, int, bytes], ...]  # (nonce_id, idx, pubnonce)


def _join_points(points: Sequence[bytes]) -> bytes:
    return b"".join(points)


def _split_points(blob: bytes) -> tuple[bytes, ...]:
    if len(blob) % POINT_LEN:
        raise SignerStoreError("stored VSS commitments are corrupt")
    return tuple(blob[i : i + POINT_LEN] for i in range(0, len(blob), POINT_LEN))


class SignerStore:
    """Thread-safe access to one signer's SQLite file (one connection, one lock)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / DB_NAME
        try:
            Path(state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
            fresh = not self.path.exists()
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            if fresh:
                os.chmod(self.path, 0o600)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when COMMIT returns; the nonce guarantee needs it.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            # Freed pages are zeroed, so deleted wrapped rows do not linger in the file.
            self._conn.execute("PRAGMA secure_delete=ON")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.Error as exc:
            raise SignerStoreError(
                f"cannot open signer store in {state_dir}: {type(exc).__name__}"
            ) from None
        self._lock = threading.RLock()
        self._closed = False

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """BEGIN IMMEDIATE .. COMMIT, rolled back on any exception."""
        with self._lock:
            if self._closed:
                raise SignerStoreError("signer store is closed")
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise SignerStoreError(f"signer store is busy: {type(exc).__name__}") from None
            try:
                yield cur
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    cur.execute("ROLLBACK")
                raise SignerStoreError(f"signer store write failed: {type(exc).__name__}") from None
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    cur.execute("ROLLBACK")
                raise
            try:
                cur.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    cur.execute("ROLLBACK")
                raise SignerStoreError(
                    f"signer store commit failed: {type(exc).__name__}"
                ) from None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            if self._closed:
                raise SignerStoreError("signer store is closed")
            try:
                yield self._conn.cursor()
            except sqlite3.Error as exc:
                raise SignerStoreError(f"signer store read failed: {type(exc).__name__}") from None

    def healthy(self) -> bool:
        try:
            with self._reading() as cur:
                cur.execute("SELECT 1").fetchone()
        except SignerStoreError:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()

    # ------------------------------------------------------------------ shares

    def put_share(self, record: ShareRecord) -> bool:
        """Store a new share; False if the very same share (same commitments) is already held.

        A different share of the same identity and epoch raises ShareExistsError: a
        signer holds one participant's share per identity and epoch.
        """
        with self._transaction() as cur:
            row = cur.execute(
                "SELECT participant, vss_commitments FROM shares "
                "WHERE identity_id = ? AND epoch = ?",
                (record.identity_id, record.epoch),
            ).fetchone()
            if row is not None:
                # Commitments fix every share value, so same participant and same
                # commitments means the same share: an idempotent retry.
                if row[0] == record.participant and bytes(row[1]) == _join_points(
                    record.vss_commitments
                ):
                    return False
                raise ShareExistsError(
                    f"this signer already holds a share of {record.identity_id!r} "
                    f"at epoch {record.epoch}"
                )
            cur.execute(
                "INSERT INTO shares (identity_id, epoch, participant, threshold, "
                "participants, group_pubkey, vss_commitments, wrapped_share, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.identity_id,
                    record.epoch,
                    record.participant,
                    record.threshold,
                    record.participants,
                    record.group_pubkey,
                    _join_points(record.vss_commitments),
                    record.wrapped_share,
                    record.created_at or int(time.time()),
                ),
            )
        return True

    def share(self, identity_id: str, epoch: int | None = None) -> ShareRecord:
        """The share of `identity_id` at `epoch` (None: the newest epoch held)."""
        query = (
            "SELECT identity_id, epoch, participant, threshold, participants, group_pubkey, "
            "vss_commitments, wrapped_share, created_at FROM shares WHERE identity_id = ?"
        )
        with self._reading() as cur:
            if epoch is None:
                row = cur.execute(query + " ORDER BY epoch DESC LIMIT 1", (identity_id,)).fetchone()
            else:
                row = cur.execute(query + " AND epoch = ?", (identity_id, epoch)).fetchone()
        if row is None:
            where = "" if epoch is None else f" at epoch {epoch}"
            raise ShareNotFoundError(f"this signer holds no share of {identity_id!r}{where}")
        return ShareRecord(
            identity_id=row[0],
            epoch=row[1],
            participant=row[2],
            threshold=row[3],
            participants=row[4],
            group_pubkey=bytes(row[5]),
            vss_commitments=_split_points(bytes(row[6])),
            wrapped_share=bytes(row[7]),
            created_at=row[8],
        )

    def epochs(self, identity_id: str) -> tuple[int, ...]:
        with self._reading() as cur:
            rows = cur.execute(
                "SELECT epoch FROM shares WHERE identity_id = ? ORDER BY epoch", (identity_id,)
            ).fetchall()
        return tuple(r[0] for r in rows)

    def delete_shares(self, identity_id: str, epoch: int | None = None) -> int:
        """Delete the identity's share (one epoch, or all); the number of rows deleted."""
        with self._transaction() as cur:
            if epoch is None:
                cur.execute("DELETE FROM shares WHERE identity_id = ?", (identity_id,))
            else:
                cur.execute(
                    "DELETE FROM shares WHERE identity_id = ? AND epoch = ?", (identity_id, epoch)
                )
            deleted: int = cur.rowcount
        if deleted:
            # Squeeze the deleted row out of the WAL into the (secure-deleted) main file.
            self.checkpoint()
        return deleted

    def checkpoint(self) -> None:
        with self._reading() as cur:
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    # ------------------------------------------------------------------ nonces

    def add_nonce_batch(self, batch: NonceBatch) -> None:
        now = int(time.time())
        with self._transaction() as cur:
            cur.execute(
                "INSERT INTO nonce_batches (batch_id, wrapped_seed, size, created_at) "
                "VALUES (?, ?, ?, ?)",
                (batch.batch_id, batch.wrapped_seed, len(batch.entries), now),
            )
            cur.executemany(
                "INSERT INTO nonces (nonce_id, batch_id, idx, pubnonce, state, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (nonce_id, batch.batch_id, idx, pubnonce, NonceState.FRESH, now)
                    for nonce_id, idx, pubnonce in batch.entries
                ],
            )

    def count_fresh_nonces(self) -> int:
        with self._reading() as cur:
            row = cur.execute(
                "SELECT COUNT(*) FROM nonces WHERE state = ?", (NonceState.FRESH,)
            ).fetchone()
        return int(row[0])

    def hand_out_nonces(self, count: int) -> tuple[NonceRow, ...]:
        """Up to `count` fresh nonces, marked handed out in the same transaction."""
        now = int(time.time())
        with self._transaction() as cur:
            rows = cur.execute(
                "SELECT nonce_id, batch_id, idx, pubnonce FROM nonces WHERE state = ? "
                "ORDER BY rowid LIMIT ?",
                (NonceState.FRESH, count),
            ).fetchall()
            cur.executemany(
                "UPDATE nonces SET state = ?, updated_at = ? WHERE nonce_id = ?",
                [(NonceState.HANDED_OUT, now, r[0]) for r in rows],
            )
        return tuple(NonceRow(r[0], r[1], r[2], bytes(r[3]), NonceState.HANDED_OUT) for r in rows)

    def nonce_rows(self, nonce_ids: Sequence[str]) -> dict[str, NonceRow]:
        with self._reading() as cur:
            out: dict[str, NonceRow] = {}
            for nonce_id in nonce_ids:
                r = cur.execute(
                    "SELECT nonce_id, batch_id, idx, pubnonce, state FROM nonces "
                    "WHERE nonce_id = ?",
                    (nonce_id,),
                ).fetchone()
                if r is not None:
                    out[nonce_id] = NonceRow(r[0], r[1], r[2], bytes(r[3]), NonceState(r[4]))
        return out

    def wrapped_seed(self, batch_id: str) -> bytes | None:
        with self._reading() as cur:
            row = cur.execute(
                "SELECT wrapped_seed FROM nonce_batches WHERE batch_id = ?", (batch_id,)
            ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def consume_nonces(self, uses: Sequence[tuple[str, bytes]]) -> None:
        """Mark every (nonce_id, message) consumed in ONE durable transaction, or none.

        Only handed-out nonces can be consumed. When this returns the consumption is on
        disk: the caller may compute partial signatures; if it crashes before replying,
        the nonces stay burned and a replay is refused (NonceConsumedError).
        Seeds of batches with no usable nonce left are dropped in the same transaction.
        """
        now = int(time.time())
        with self._transaction() as cur:
            batches: set[str] = set()
            for nonce_id, message in uses:
                cur.execute(
                    "UPDATE nonces SET state = ?, message = ?, updated_at = ? "
                    "WHERE nonce_id = ? AND state = ?",
                    (NonceState.CONSUMED, message, now, nonce_id, NonceState.HANDED_OUT),
                )
                if cur.rowcount != 1:
                    row = cur.execute(
                        "SELECT state FROM nonces WHERE nonce_id = ?", (nonce_id,)
                    ).fetchone()
                    if row is None or row[0] == NonceState.FRESH:
                        raise UnknownNonceError(
                            f"nonce {nonce_id!r} was never handed out by this signer"
                        )
                    raise NonceConsumedError(f"nonce {nonce_id!r} has already been used")
                batch = cur.execute(
                    "SELECT batch_id FROM nonces WHERE nonce_id = ?", (nonce_id,)
                ).fetchone()
                batches.add(batch[0])
            for batch_id in batches:
                cur.execute(
                    "UPDATE nonce_batches SET wrapped_seed = NULL WHERE batch_id = ? AND NOT "
                    "EXISTS (SELECT 1 FROM nonces WHERE batch_id = ? AND state != ?)",
                    (batch_id, batch_id, NonceState.CONSUMED),
                )

    def nonce_state_counts(self) -> dict[NonceState, int]:
        with self._reading() as cur:
            rows = cur.execute("SELECT state, COUNT(*) FROM nonces GROUP BY state").fetchall()
        counts = {state: 0 for state in NonceState}
        for state, count in rows:
            counts[NonceState(state)] = int(count)
        return counts

    # ------------------------------------------------------------------ signer keys

    def wrapped_key(self, name: str) -> bytes | None:
        with self._reading() as cur:
            row = cur.execute("SELECT wrapped FROM wrapped_keys WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_wrapped_key_once(self, name: str, wrapped: bytes) -> bytes:
        """Store `wrapped` under `name` unless a key is already there; returns the stored one."""
        with self._transaction() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO wrapped_keys (name, wrapped) VALUES (?, ?)", (name, wrapped)
            )
            row = cur.execute("SELECT wrapped FROM wrapped_keys WHERE name = ?", (name,)).fetchone()
        return bytes(row[0])

    # ------------------------------------------------------------------ request replay

    def remember_request_nonce(self, nonce: bytes, expires_at: int, now: int) -> bool:
        """True the first time `nonce` is seen (until it expires); False for a replay."""
        with self._transaction() as cur:
            cur.execute("DELETE FROM request_nonces WHERE expires_at < ?", (now,))
            cur.execute(
                "INSERT OR IGNORE INTO request_nonces (nonce, expires_at) VALUES (?, ?)",
                (nonce, expires_at),
            )
            fresh: bool = cur.rowcount == 1
        return fresh

    # ------------------------------------------------------------------ KEK rotation

    def rewrap_all(
        self,
        rewrap_share: Callable[[ShareRecord], bytes],
        rewrap_seed: Callable[[str, bytes], bytes],
        rewrap_key: Callable[[str, bytes], bytes],
    ) -> int:
        """Replace every wrapped value by its rewrapped form, in one transaction.

        The callbacks call the provider; if any fails, nothing is changed (the old
        KEK still opens everything). Returns the number of values rewrapped.
        """
        count = 0
        with self._transaction() as cur:
            shares = cur.execute(
                "SELECT identity_id, epoch, participant, threshold, participants, "
                "group_pubkey, vss_commitments, wrapped_share FROM shares"
            ).fetchall()
            for r in shares:
                record = ShareRecord(
                    identity_id=r[0],
                    epoch=r[1],
                    participant=r[2],
                    threshold=r[3],
                    participants=r[4],
                    group_pubkey=bytes(r[5]),
                    vss_commitments=_split_points(bytes(r[6])),
                    wrapped_share=bytes(r[7]),
                )
                cur.execute(
                    "UPDATE shares SET wrapped_share = ? WHERE identity_id = ? AND epoch = ?",
                    (rewrap_share(record), record.identity_id, record.epoch),
                )
                count += 1
            seeds = cur.execute(
                "SELECT batch_id, wrapped_seed FROM nonce_batches WHERE wrapped_seed IS NOT NULL"
            ).fetchall()
            for batch_id, wrapped in seeds:
                cur.execute(
                    "UPDATE nonce_batches SET wrapped_seed = ? WHERE batch_id = ?",
                    (rewrap_seed(batch_id, bytes(wrapped)), batch_id),
                )
                count += 1
            keys = cur.execute("SELECT name, wrapped FROM wrapped_keys").fetchall()
            for name, wrapped in keys:
                cur.execute(
                    "UPDATE wrapped_keys SET wrapped = ? WHERE name = ?",
                    (rewrap_key(name, bytes(wrapped)), name),
                )
                count += 1
        return count
