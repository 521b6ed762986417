"""Ceremonies (M-of-N admin approvals of sensitive operations): two tables and their rows.

Tables live on the same MetaData as store/tables.py; migration 0004 creates them.
Nothing secret is stored: `params` are the public parameters of the operation (an import
carries the SHA-256 of its material, never the material), `result` is the public part of
what the executor returned (a created token's id, never the token). Approvals are keyed
by (ceremony, token id), so the same token approving twice is one row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from .canonical import canonical_json
from .tables import metadata

CeremonyStatus = Literal["pending", "approved", "executing", "executed", "expired", "rejected"]
CEREMONY_STATUSES: tuple[CeremonyStatus, ...] = (
    "pending",
    "approved",
    "executing",
    "executed",
    "expired",
    "rejected",
)
# A ceremony in one of these can still change; the others are final.
OPEN_STATUSES: tuple[CeremonyStatus, ...] = ("pending", "approved")

ceremonies = Table(
    "ceremonies",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("tenant_id", String(64), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("params", Text, nullable=False),  # canonical JSON object, public data only
    Column("params_hash", String(64), nullable=False),  # sha256 hex of `params`
    Column("required", Integer, nullable=False),  # approvals needed (snapshot at proposal)
    Column("status", String(16), nullable=False),
    Column("proposed_by", String(128), nullable=False),  # token id
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("decided_at", BigInteger, nullable=True),  # rejected / expired / executed
    Column("decided_by", String(128), nullable=True),
    Column("result", Text, nullable=True),  # canonical JSON, public part of the outcome
    CheckConstraint(
        "status IN ('pending', 'approved', 'executing', 'executed', 'expired', 'rejected')",
        name="status",
    ),
    CheckConstraint("required >= 1", name="required"),
    Index("ix_ceremonies_tenant_id", "tenant_id"),
)

ceremony_approvals = Table(
    "ceremony_approvals",
    metadata,
    Column("ceremony_id", String(64), primary_key=True),
    Column("approver", String(128), primary_key=True),  # token id
    Column("position", Integer, nullable=False),  # 0 for the proposer, then in order
    Column("approved_at", BigInteger, nullable=False),
    ForeignKeyConstraint(["ceremony_id"], ["ceremonies.id"], ondelete="CASCADE"),
)


@dataclass(frozen=True)
class ApprovalRecord:
    approver: str
    approved_at: int


@dataclass(frozen=True)
class CeremonyRecord:
    id: str
    tenant_id: str
    operation: str
    params: dict[str, Any]
    params_hash: str
    required: int
    status: CeremonyStatus
    proposed_by: str
    created_at: int
    expires_at: int
    decided_at: int | None
    decided_by: str | None
    result: dict[str, Any] | None
    approvals: tuple[ApprovalRecord, ...]


def insert_ceremony(conn: Connection, record: CeremonyRecord) -> None:
    conn.execute(
        ceremonies.insert().values(
            id=record.id,
            tenant_id=record.tenant_id,
            operation=record.operation,
            params=canonical_json(record.params),
            params_hash=record.params_hash,
            required=record.required,
            status=record.status,
            proposed_by=record.proposed_by,
            created_at=record.created_at,
            expires_at=record.expires_at,
            decided_at=record.decided_at,
            decided_by=record.decided_by,
            result=None if record.result is None else canonical_json(record.result),
        )
    )
    for approval in record.approvals:
        add_approval(conn, record.id, approval.approver, approval.approved_at)


def add_approval(conn: Connection, ceremony_id: str, approver: str, now: int) -> bool:
    """Record an approval; False (and nothing changes) when this approver already approved.

    ON CONFLICT DO NOTHING rather than read-then-insert: the same token approving twice
    at the same moment on two gateways is still one row and no error.
    """
    position = conn.execute(
        select(func.count())
        .select_from(ceremony_approvals)
        .where(ceremony_approvals.c.ceremony_id == ceremony_id)
    ).scalar_one()
    insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    added = conn.execute(
        insert(ceremony_approvals)
        .values(ceremony_id=ceremony_id, approver=approver, position=int(position), approved_at=now)
        .on_conflict_do_nothing(index_elements=["ceremony_id", "approver"])
        # RETURNING, not rowcount: psycopg reports -1 for a skipped-or-not upsert.
        .returning(ceremony_approvals.c.approver)
    )
    return added.first() is not None


def _approvals(conn: Connection, ceremony_ids: list[str]) -> dict[str, list[ApprovalRecord]]:
    found: dict[str, list[ApprovalRecord]] = {cid: [] for cid in ceremony_ids}
    if not ceremony_ids:
        return found
    rows = conn.execute(
        select(ceremony_approvals)
        .where(ceremony_approvals.c.ceremony_id.in_(ceremony_ids))
        .order_by(ceremony_approvals.c.position)
    ).mappings()
    for row in rows:
        found[row["ceremony_id"]].append(ApprovalRecord(row["approver"], row["approved_at"]))
    return found


def _record(row: Any, approvals: list[ApprovalRecord]) -> CeremonyRecord:
    return CeremonyRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        operation=row["operation"],
        params=json.loads(row["params"]),
        params_hash=row["params_hash"],
        required=row["required"],
        status=row["status"],
        proposed_by=row["proposed_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
        result=None if row["result"] is None else json.loads(row["result"]),
        approvals=tuple(approvals),
    )


def ceremony_by_id(conn: Connection, ceremony_id: str) -> CeremonyRecord | None:
    row = conn.execute(select(ceremonies).where(ceremonies.c.id == ceremony_id)).mappings().first()
    if row is None:
        return None
    return _record(row, _approvals(conn, [ceremony_id])[ceremony_id])


def list_ceremonies(
    conn: Connection, tenant_id: str, status: CeremonyStatus | None = None
) -> list[CeremonyRecord]:
    """A tenant's ceremonies, oldest first (optionally only those with `status`)."""
    query = (
        select(ceremonies)
        .where(ceremonies.c.tenant_id == tenant_id)
        .order_by(ceremonies.c.created_at, ceremonies.c.id)
    )
    if status is not None:
        query = query.where(ceremonies.c.status == status)
    rows = conn.execute(query).mappings().all()
    approvals = _approvals(conn, [r["id"] for r in rows])
    return [_record(r, approvals[r["id"]]) for r in rows]


def due_ceremony_ids(conn: Connection, tenant_id: str, now: int) -> list[str]:
    """Open ceremonies of the tenant whose time is up (not yet marked expired)."""
    rows = conn.execute(
        select(ceremonies.c.id).where(
            ceremonies.c.tenant_id == tenant_id,
            ceremonies.c.status.in_(OPEN_STATUSES),
            ceremonies.c.expires_at <= now,
        )
    ).all()
    return [r[0] for r in rows]


def transition(
    conn: Connection,
    ceremony_id: str,
    from_statuses: tuple[CeremonyStatus, ...],
    to_status: CeremonyStatus,
    *,
    decided_at: int | None = None,
    decided_by: str | None = None,
    result: dict[str, Any] | None = None,
) -> bool:
    """Move to `to_status` only from one of `from_statuses`; True when this call moved it.

    The condition is part of the UPDATE, so of two gateways racing to execute (or to
    expire) the same ceremony exactly one sees True.
    """
    values: dict[str, Any] = {"status": to_status}
    if decided_at is not None:
        values["decided_at"] = decided_at
        values["decided_by"] = decided_by
    if result is not None:
        values["result"] = canonical_json(result)
    moved = conn.execute(
        update(ceremonies)
        .where(ceremonies.c.id == ceremony_id, ceremonies.c.status.in_(from_statuses))
        .values(**values)
    )
    return moved.rowcount == 1
