"""Registered signers: who holds shares, where they are, and their public keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .tables import signers

SignerKind = Literal["local", "http"]


@dataclass(frozen=True)
class SignerRecord:
    id: str
    kind: SignerKind
    url: str | None
    transport_public_key: str  # hex
    attestation_public_key: str  # hex SPKI DER
    signer_public_key: str  # hex Ed25519 (http signers), "" for local ones
    provider_name: str
    provider_kind: str
    vendor: str
    model: str
    serial: str
    simulated: bool
    supports_dkg: bool
    registered_at: int
    updated_at: int


def _record(row: dict[str, object]) -> SignerRecord:
    return SignerRecord(**row)  # type: ignore[arg-type]


def signer_by_id(conn: Connection, signer_id: str) -> SignerRecord | None:
    row = conn.execute(select(signers).where(signers.c.id == signer_id)).mappings().first()
    return None if row is None else _record(dict(row))


def list_signers(conn: Connection) -> list[SignerRecord]:
    rows = conn.execute(select(signers).order_by(signers.c.id)).mappings().all()
    return [_record(dict(r)) for r in rows]


def upsert_signer(conn: Connection, record: SignerRecord) -> bool:
    """Insert or refresh a signer's row; True when something changed.

    `registered_at` of an existing row is kept; `updated_at` moves only on a real change so
    that routine start-up registration does not rewrite the table.
    """
    existing = signer_by_id(conn, record.id)
    values = {k: v for k, v in record.__dict__.items()}
    if existing is None:
        conn.execute(signers.insert().values(**values))
        return True
    same = all(
        getattr(existing, k) == v
        for k, v in values.items()
        if k not in ("registered_at", "updated_at")
    )
    if same:
        return False
    values.pop("registered_at")
    conn.execute(signers.update().where(signers.c.id == record.id).values(**values))
    return True
