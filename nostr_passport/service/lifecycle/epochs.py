"""Switching an identity's active epoch in the gateway store (public data only).

The identity row's `epoch` is what every signing request reads first, so updating it is
the one atomic switch of a refresh or migration: requests that read the old value
finish on the old shares (kept until after a grace period), later ones use the new.
The update is a compare-and-swap on the old epoch so two concurrent lifecycle
operations on one identity cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, update
from sqlalchemy.engine import Connection

from nostr_passport.errors import ConflictError
from nostr_passport.signer.protocol import Attestation
from nostr_passport.store.tables import (
    identities,
    identity_shares,
    share_attestations,
    vss_commitments,
)


@dataclass(frozen=True)
class EpochMaterial:
    """The public data of one epoch: who holds which participant, commitments, attestations."""

    signer_ids: tuple[str, ...]  # index = participant
    pubshares: tuple[bytes, ...]  # index = participant
    vss_commitments: tuple[bytes, ...]
    attestations: tuple[Attestation, ...]  # index = participant


def activate_epoch(
    conn: Connection,
    identity_id: str,
    from_epoch: int,
    to_epoch: int,
    material: EpochMaterial,
    now: int,
) -> None:
    """Insert `to_epoch`'s public data and make it the identity's epoch (one transaction)."""
    moved = conn.execute(
        update(identities)
        .where(identities.c.id == identity_id, identities.c.epoch == from_epoch)
        .values(epoch=to_epoch, updated_at=now)
    )
    if moved.rowcount != 1:
        raise ConflictError(f"identity {identity_id} is no longer at epoch {from_epoch}")
    conn.execute(
        identity_shares.insert(),
        [
            {
                "identity_id": identity_id,
                "epoch": to_epoch,
                "participant": i,
                "signer_id": sid,
                "pubshare": material.pubshares[i].hex(),
            }
            for i, sid in enumerate(material.signer_ids)
        ],
    )
    conn.execute(
        vss_commitments.insert(),
        [
            {"identity_id": identity_id, "epoch": to_epoch, "position": k, "commitment": c.hex()}
            for k, c in enumerate(material.vss_commitments)
        ],
    )
    conn.execute(
        share_attestations.insert(),
        [
            {
                "identity_id": identity_id,
                "epoch": to_epoch,
                "participant": i,
                "signer_id": material.signer_ids[i],
                "statement": a.statement.decode("utf-8"),
                "signature": a.signature.hex(),
                "public_key": a.public_key.hex(),
            }
            for i, a in enumerate(material.attestations)
        ],
    )


def drop_epochs(conn: Connection, identity_id: str, epochs: Sequence[int]) -> None:
    """Forget the public rows of retired epochs."""
    for table in (identity_shares, vss_commitments, share_attestations):
        conn.execute(
            delete(table).where(table.c.identity_id == identity_id, table.c.epoch.in_(list(epochs)))
        )
