"""The append-only audit log table: one total order of records, RFC 6962 leaf hashes.

Appending takes max(idx)+1 inside the caller's write transaction. On PostgreSQL a
transaction-scoped advisory lock serialises appenders across gateways; on SQLite the
write transaction is BEGIN IMMEDIATE, which already excludes other writers. The primary
key on `idx` is the last line of defence: a duplicate becomes WriteConflictError and
Store.run_write re-runs the whole unit of work, so the log never has a gap or a duplicate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from nostr_passport.crypto.merkle import leaf_hash

from .canonical import canonical_json, canonical_json_bytes
from .database import WriteConflictError
from .tables import audit_log

# Arbitrary constant naming "the audit log append" lock in pg_advisory_xact_lock's key space.
AUDIT_LOCK_KEY = 0x6E705F6175646974


@dataclass(frozen=True)
class AuditEntry:
    """What the caller wants recorded (the store assigns index and hash)."""

    time: str  # ISO-8601 UTC, millisecond precision
    tenant_id: str | None
    actor: str
    action: str
    identity_id: str | None
    outcome: str
    request_id: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRecord:
    index: int
    time: str
    tenant_id: str | None
    actor: str
    action: str
    identity_id: str | None
    outcome: str
    request_id: str
    details: dict[str, Any]
    leaf_hash: str  # hex

    def as_leaf_data(self) -> dict[str, Any]:
        return leaf_data(self.index, self.entry())

    def entry(self) -> AuditEntry:
        return AuditEntry(
            time=self.time,
            tenant_id=self.tenant_id,
            actor=self.actor,
            action=self.action,
            identity_id=self.identity_id,
            outcome=self.outcome,
            request_id=self.request_id,
            details=self.details,
        )


def leaf_data(index: int, entry: AuditEntry) -> dict[str, Any]:
    """The record as hashed: these keys, canonical JSON."""
    return {
        "index": index,
        "time": entry.time,
        "tenant": entry.tenant_id,
        "actor": entry.actor,
        "action": entry.action,
        "identity": entry.identity_id,
        "outcome": entry.outcome,
        "request_id": entry.request_id,
        "details": entry.details,
    }


def record_leaf_hash(index: int, entry: AuditEntry) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || canonical JSON of the record)."""
    return leaf_hash(canonical_json_bytes(leaf_data(index, entry)))


def _lock_for_append(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_KEY})


def append_audit(conn: Connection, entry: AuditEntry) -> AuditRecord:
    """Append `entry` as the next record, inside the caller's write transaction."""
    _lock_for_append(conn)
    last = conn.execute(select(func.max(audit_log.c.idx))).scalar_one()
    index = 0 if last is None else int(last) + 1
    digest = record_leaf_hash(index, entry).hex()
    try:
        conn.execute(
            audit_log.insert().values(
                idx=index,
                time=entry.time,
                tenant_id=entry.tenant_id,
                actor=entry.actor,
                action=entry.action,
                identity_id=entry.identity_id,
                outcome=entry.outcome,
                request_id=entry.request_id,
                details=canonical_json(entry.details),
                leaf_hash=digest,
            )
        )
    except IntegrityError as exc:
        if _is_duplicate_key(exc):
            raise WriteConflictError("audit index taken by a concurrent writer") from None
        raise
    return AuditRecord(index=index, leaf_hash=digest, **entry.__dict__)


def _is_duplicate_key(exc: IntegrityError) -> bool:
    """A unique/primary key violation (the race we retry), not any other constraint."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505":  # PostgreSQL unique_violation
        return True
    return "UNIQUE constraint failed" in str(orig)  # SQLite


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        index=int(row["idx"]),
        time=row["time"],
        tenant_id=row["tenant_id"],
        actor=row["actor"],
        action=row["action"],
        identity_id=row["identity_id"],
        outcome=row["outcome"],
        request_id=row["request_id"],
        details=json.loads(row["details"]),
        leaf_hash=row["leaf_hash"],
    )


def audit_size(conn: Connection) -> int:
    last = conn.execute(select(func.max(audit_log.c.idx))).scalar_one()
    return 0 if last is None else int(last) + 1


def audit_records(
    conn: Connection,
    start: int = 0,
    end: int | None = None,
    *,
    identity_id: str | None = None,
    tenant_id: str | None = None,
) -> list[AuditRecord]:
    """Records with start <= index < end, in order, optionally filtered."""
    query = select(audit_log).where(audit_log.c.idx >= start).order_by(audit_log.c.idx)
    if end is not None:
        query = query.where(audit_log.c.idx < end)
    if identity_id is not None:
        query = query.where(audit_log.c.identity_id == identity_id)
    if tenant_id is not None:
        query = query.where(audit_log.c.tenant_id == tenant_id)
    return [_record(r) for r in conn.execute(query).mappings().all()]


def leaf_hashes(conn: Connection, start: int = 0, end: int | None = None) -> list[bytes]:
    """Stored leaf hashes in order (what Merkle roots and proofs are computed over)."""
    query = select(audit_log.c.leaf_hash).where(audit_log.c.idx >= start).order_by(audit_log.c.idx)
    if end is not None:
        query = query.where(audit_log.c.idx < end)
    return [bytes.fromhex(h) for h in conn.execute(query).scalars().all()]
