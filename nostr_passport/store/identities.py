"""Identities and their public key material: shares' public keys, VSS commitments, attestations."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from .tables import identities, identity_shares, share_attestations, vss_commitments

IdentityStatus = Literal["active", "disabled"]
KeygenMethod = Literal["dealer", "dkg", "import"]


@dataclass(frozen=True)
class ShareRecord:
    participant: int
    signer_id: str
    pubshare: str  # hex, 33-byte compressed


@dataclass(frozen=True)
class AttestationRecord:
    participant: int
    signer_id: str
    statement: str  # canonical JSON as signed by the signer's HSM
    signature: str  # hex DER
    public_key: str  # hex SPKI DER


@dataclass(frozen=True)
class IdentityRecord:
    id: str
    tenant_id: str
    label: str | None
    group_pubkey: str  # x-only hex
    group_pubkey_dealt: str  # compressed hex, as dealt
    threshold: int
    participants: int
    epoch: int
    status: IdentityStatus
    keygen_method: KeygenMethod
    imported_from_software: bool
    created_at: int
    updated_at: int
    shares: tuple[ShareRecord, ...] = ()  # of `epoch`, by participant
    vss_commitments: tuple[str, ...] = ()  # of `epoch`, by position
    attestations: tuple[AttestationRecord, ...] = ()  # of `epoch`, by participant

    def share_of(self, participant: int) -> ShareRecord:
        for share in self.shares:
            if share.participant == participant:
                return share
        raise KeyError(participant)


_SCALAR_COLUMNS = (
    "id",
    "tenant_id",
    "label",
    "group_pubkey",
    "group_pubkey_dealt",
    "threshold",
    "participants",
    "epoch",
    "status",
    "keygen_method",
    "imported_from_software",
    "created_at",
    "updated_at",
)


def insert_identity(conn: Connection, record: IdentityRecord) -> None:
    """Insert an identity with its shares, commitments and attestations (one transaction)."""
    conn.execute(identities.insert().values(**{c: getattr(record, c) for c in _SCALAR_COLUMNS}))
    if record.shares:
        conn.execute(
            identity_shares.insert(),
            [
                {
                    "identity_id": record.id,
                    "epoch": record.epoch,
                    "participant": s.participant,
                    "signer_id": s.signer_id,
                    "pubshare": s.pubshare,
                }
                for s in record.shares
            ],
        )
    if record.vss_commitments:
        conn.execute(
            vss_commitments.insert(),
            [
                {"identity_id": record.id, "epoch": record.epoch, "position": i, "commitment": c}
                for i, c in enumerate(record.vss_commitments)
            ],
        )
    if record.attestations:
        conn.execute(
            share_attestations.insert(),
            [
                {
                    "identity_id": record.id,
                    "epoch": record.epoch,
                    "participant": a.participant,
                    "signer_id": a.signer_id,
                    "statement": a.statement,
                    "signature": a.signature,
                    "public_key": a.public_key,
                }
                for a in record.attestations
            ],
        )


def _with_children(conn: Connection, bare: list[IdentityRecord]) -> list[IdentityRecord]:
    """Attach the current epoch's shares, commitments and attestations (three queries)."""
    if not bare:
        return []
    ids = [r.id for r in bare]
    shares: dict[tuple[str, int], list[ShareRecord]] = {}
    for row in conn.execute(
        select(identity_shares)
        .where(identity_shares.c.identity_id.in_(ids))
        .order_by(identity_shares.c.participant)
    ).mappings():
        shares.setdefault((row["identity_id"], row["epoch"]), []).append(
            ShareRecord(row["participant"], row["signer_id"], row["pubshare"])
        )
    commitments: dict[tuple[str, int], list[str]] = {}
    for row in conn.execute(
        select(vss_commitments)
        .where(vss_commitments.c.identity_id.in_(ids))
        .order_by(vss_commitments.c.position)
    ).mappings():
        commitments.setdefault((row["identity_id"], row["epoch"]), []).append(row["commitment"])
    attestations: dict[tuple[str, int], list[AttestationRecord]] = {}
    for row in conn.execute(
        select(share_attestations)
        .where(share_attestations.c.identity_id.in_(ids))
        .order_by(share_attestations.c.participant)
    ).mappings():
        attestations.setdefault((row["identity_id"], row["epoch"]), []).append(
            AttestationRecord(
                row["participant"],
                row["signer_id"],
                row["statement"],
                row["signature"],
                row["public_key"],
            )
        )
    return [
        replace(
            r,
            shares=tuple(shares.get((r.id, r.epoch), ())),
            vss_commitments=tuple(commitments.get((r.id, r.epoch), ())),
            attestations=tuple(attestations.get((r.id, r.epoch), ())),
        )
        for r in bare
    ]


def _bare(row: dict[str, object]) -> IdentityRecord:
    values = {c: row[c] for c in _SCALAR_COLUMNS}
    values["imported_from_software"] = bool(values["imported_from_software"])
    return IdentityRecord(**values)  # type: ignore[arg-type]


def identity_by_id(conn: Connection, identity_id: str) -> IdentityRecord | None:
    row = conn.execute(select(identities).where(identities.c.id == identity_id)).mappings().first()
    if row is None:
        return None
    return _with_children(conn, [_bare(dict(row))])[0]


def identity_header(conn: Connection, identity_id: str) -> IdentityRecord | None:
    """The identity row alone (no shares, commitments, attestations): one query.

    For the hot path, where the key material comes from a cache keyed by epoch.
    """
    row = conn.execute(select(identities).where(identities.c.id == identity_id)).mappings().first()
    return None if row is None else _bare(dict(row))


def identity_by_pubkey(conn: Connection, group_pubkey: str) -> IdentityRecord | None:
    row = (
        conn.execute(select(identities).where(identities.c.group_pubkey == group_pubkey))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return _with_children(conn, [_bare(dict(row))])[0]


def list_identities(
    conn: Connection, tenant_id: str | None, *, limit: int = 100, after: str | None = None
) -> list[IdentityRecord]:
    """Identities ordered by id (ids are random, so this is a stable cursor order).

    `tenant_id` None lists every tenant's (operators of the whole installation only).
    """
    query = select(identities).order_by(identities.c.id).limit(limit)
    if tenant_id is not None:
        query = query.where(identities.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(identities.c.id > after)
    rows = conn.execute(query).mappings().all()
    return _with_children(conn, [_bare(dict(r)) for r in rows])


def set_identity_status(
    conn: Connection, identity_id: str, status: IdentityStatus, now: int
) -> bool:
    """True when the row exists (whether or not the status changed)."""
    result = conn.execute(
        identities.update()
        .where(identities.c.id == identity_id)
        .values(status=status, updated_at=now)
    )
    return result.rowcount == 1


def delete_identity(conn: Connection, identity_id: str) -> bool:
    """Remove the identity and every row about it; True when it existed.

    Children are deleted explicitly rather than by ON DELETE CASCADE alone, so the result
    does not depend on SQLite's foreign_keys pragma being on for this connection.
    """
    for table in (share_attestations, vss_commitments, identity_shares):
        conn.execute(delete(table).where(table.c.identity_id == identity_id))
    result = conn.execute(delete(identities).where(identities.c.id == identity_id))
    return result.rowcount == 1


def count_identities(conn: Connection, tenant_id: str | None = None) -> int:
    query = select(func.count()).select_from(identities)
    if tenant_id is not None:
        query = query.where(identities.c.tenant_id == tenant_id)
    return int(conn.execute(query).scalar_one())


def share_counts(conn: Connection) -> dict[str, int]:
    """How many shares (of current epochs) each signer holds: the placement load."""
    query = (
        select(identity_shares.c.signer_id, func.count())
        .select_from(
            identity_shares.join(
                identities,
                (identities.c.id == identity_shares.c.identity_id)
                & (identities.c.epoch == identity_shares.c.epoch),
            )
        )
        .group_by(identity_shares.c.signer_id)
    )
    return {row[0]: int(row[1]) for row in conn.execute(query).all()}


def max_active_threshold(conn: Connection) -> int | None:
    """The largest threshold among active identities (readiness needs that many signers)."""
    query = select(func.max(identities.c.threshold)).where(identities.c.status == "active")
    value = conn.execute(query).scalar_one()
    return None if value is None else int(value)
