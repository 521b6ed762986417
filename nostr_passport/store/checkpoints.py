"""Signed checkpoints of the audit log: the `audit_checkpoints` table and its rows.

A checkpoint says "the audit log had `tree_size` records and this RFC 6962 root at
`time`", signed by the gateway's audit HSM key (service/audit_checkpoints.py makes and
checks them). The table lives on the same MetaData as store/tables.py so create_all and
Alembic see it; migration 0002 creates it.

Only the statement's fields, the signature and the signing key are stored: the signed
bytes are re-derived from the fields (one canonical encoding), so a stored statement can
never disagree with the columns a reader looks at. One checkpoint per tree size: two
gateways checkpointing the same size sign the same root, and the first one stays.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, String, Table, Text, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from .tables import metadata

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),  # hex RFC 6962 root of records 0..size-1
    Column("time", String(32), nullable=False),  # ISO-8601 UTC, like the audit log's
    Column("log_id", String(200), nullable=False),
    Column("public_key", Text, nullable=False),  # hex SPKI DER of the P-256 signing key
    Column("signature", Text, nullable=False),  # hex DER ECDSA P-256 over the statement
)


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: str  # hex
    time: str
    log_id: str
    public_key: str  # hex SubjectPublicKeyInfo DER
    signature: str  # hex DER

    @property
    def key_id(self) -> str:
        """SHA-256 of the signing key's SPKI DER, hex: a short name for the key."""
        return key_id_of(self.public_key)


def key_id_of(public_key_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        tree_size=int(row["tree_size"]),
        root_hash=row["root_hash"],
        time=row["time"],
        log_id=row["log_id"],
        public_key=row["public_key"],
        signature=row["signature"],
    )


def insert_checkpoint(conn: Connection, checkpoint: Checkpoint) -> bool:
    """Store `checkpoint`; False (and nothing written) when its tree size already has one.

    ON CONFLICT DO NOTHING rather than catching the key violation: on PostgreSQL a failed
    INSERT would abort the caller's whole transaction.
    """
    values = {
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "time": checkpoint.time,
        "log_id": checkpoint.log_id,
        "public_key": checkpoint.public_key,
        "signature": checkpoint.signature,
    }
    insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(audit_checkpoints)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["tree_size"])
    )
    return conn.execute(statement).rowcount == 1


def checkpoint_at(conn: Connection, tree_size: int) -> Checkpoint | None:
    row = (
        conn.execute(select(audit_checkpoints).where(audit_checkpoints.c.tree_size == tree_size))
        .mappings()
        .first()
    )
    return None if row is None else _checkpoint(row)


def latest_checkpoint(conn: Connection) -> Checkpoint | None:
    """The checkpoint of the largest tree size."""
    row = (
        conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.tree_size.desc()))
        .mappings()
        .first()
    )
    return None if row is None else _checkpoint(row)


def first_checkpoint_covering(conn: Connection, index: int) -> Checkpoint | None:
    """The smallest checkpoint whose tree contains record `index`."""
    row = (
        conn.execute(
            select(audit_checkpoints)
            .where(audit_checkpoints.c.tree_size > index)
            .order_by(audit_checkpoints.c.tree_size)
        )
        .mappings()
        .first()
    )
    return None if row is None else _checkpoint(row)


def list_checkpoints(
    conn: Connection, *, after_size: int = -1, limit: int | None = None
) -> list[Checkpoint]:
    """Checkpoints with tree_size > after_size, smallest first (a cursor by size)."""
    query = (
        select(audit_checkpoints)
        .where(audit_checkpoints.c.tree_size > after_size)
        .order_by(audit_checkpoints.c.tree_size)
    )
    if limit is not None:
        query = query.limit(limit)
    return [_checkpoint(r) for r in conn.execute(query).mappings().all()]


def count_checkpoints(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(audit_checkpoints)).scalar_one())
