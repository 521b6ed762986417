"""Backup and restore of an identity's shares between HSMs (docs/lifecycle.md).

A backup is a JSON file of public data plus, per backed-up participant, that share
sealed by its signer's HSM to a target HSM's transport public key (signer
export_share): opening it takes the target HSM's non-extractable private key, so the
file can be stored like any other file. No share ever exists in the clear outside a
signer.

Targets that keep keys in software (the simulator, SoftHSM2: `simulated`) are refused
unless the caller allows them explicitly — a backup sealed to a software key is only as
safe as that key's files.

A backup is of one epoch: after a share refresh its shares no longer combine with the
live ones, so restore refuses a backup whose epoch is not the identity's current one
(take a new backup after every refresh).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import delete, update
from sqlalchemy.engine import Connection

from nostr_passport.crypto import dealer
from nostr_passport.errors import (
    BackupTargetError,
    LifecycleConflictError,
    LifecycleError,
    LifecycleRefusedError,
    PassportError,
)
from nostr_passport.hsm.transport import key_fingerprint
from nostr_passport.service.audit import OK
from nostr_passport.service.keygen import check_attestation
from nostr_passport.signer.protocol import Attestation, SignerInfo
from nostr_passport.store.identities import (
    AttestationRecord,
    IdentityRecord,
    ShareRecord,
    identity_by_id,
    insert_identity,
)
from nostr_passport.store.signers import signer_by_id
from nostr_passport.store.tables import identity_shares, share_attestations
from nostr_passport.store.tenants import ensure_tenant

from .context import LifecycleContext
from .locks import identity_lifecycle_lock

FORMAT = "nostr-passport-backup/1"
BACKUP_ACTION = "identity.backup"
RESTORE_ACTION = "identity.restore"


@dataclass(frozen=True)
class BackupTarget:
    """Where one participant's share goes: a target HSM's public transport key."""

    transport_public_key: bytes
    provider_kind: str
    simulated: bool
    label: str = ""

    @classmethod
    def of(cls, info: SignerInfo) -> BackupTarget:
        return cls(info.transport_public_key, info.provider_kind, info.simulated, info.signer_id)


@dataclass(frozen=True)
class BackedUpShare:
    participant: int
    signer_id: str  # who held it when backed up
    pubshare: bytes
    target_transport_key: bytes
    target_label: str
    blob: bytes  # sealed by the holding HSM to target_transport_key

    @property
    def target_fingerprint(self) -> str:
        return key_fingerprint(self.target_transport_key)


@dataclass(frozen=True)
class Backup:
    identity_id: str
    tenant_id: str
    label: str | None
    pubkey: str  # x-only hex: the npub's key
    group_pubkey_dealt: str
    threshold: int
    participants: int
    epoch: int
    keygen_method: str
    imported_from_software: bool
    vss_commitments: tuple[bytes, ...]
    signer_ids: tuple[str, ...]  # index = participant, at backup time
    shares: tuple[BackedUpShare, ...]
    created_at: int

    def to_json(self) -> bytes:
        body = {
            "format": FORMAT,
            "identity_id": self.identity_id,
            "tenant_id": self.tenant_id,
            "label": self.label,
            "pubkey": self.pubkey,
            "group_pubkey_dealt": self.group_pubkey_dealt,
            "threshold": self.threshold,
            "participants": self.participants,
            "epoch": self.epoch,
            "keygen_method": self.keygen_method,
            "imported_from_software": self.imported_from_software,
            "vss_commitments": [c.hex() for c in self.vss_commitments],
            "signer_ids": list(self.signer_ids),
            "shares": [
                {
                    "participant": s.participant,
                    "signer_id": s.signer_id,
                    "pubshare": s.pubshare.hex(),
                    "target_transport_key": s.target_transport_key.hex(),
                    "target_fingerprint": s.target_fingerprint,
                    "target_label": s.target_label,
                    "blob": s.blob.hex(),
                }
                for s in self.shares
            ],
            "created_at": self.created_at,
        }
        return json.dumps(body, indent=2, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> Backup:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise LifecycleRefusedError(f"not a {FORMAT} file")
            shares = tuple(
                BackedUpShare(
                    participant=int(s["participant"]),
                    signer_id=str(s["signer_id"]),
                    pubshare=bytes.fromhex(s["pubshare"]),
                    target_transport_key=bytes.fromhex(s["target_transport_key"]),
                    target_label=str(s["target_label"]),
                    blob=bytes.fromhex(s["blob"]),
                )
                for s in raw["shares"]
            )
            return cls(
                identity_id=str(raw["identity_id"]),
                tenant_id=str(raw["tenant_id"]),
                label=None if raw["label"] is None else str(raw["label"]),
                pubkey=str(raw["pubkey"]),
                group_pubkey_dealt=str(raw["group_pubkey_dealt"]),
                threshold=int(raw["threshold"]),
                participants=int(raw["participants"]),
                epoch=int(raw["epoch"]),
                keygen_method=str(raw["keygen_method"]),
                imported_from_software=bool(raw["imported_from_software"]),
                vss_commitments=tuple(bytes.fromhex(c) for c in raw["vss_commitments"]),
                signer_ids=tuple(str(s) for s in raw["signer_ids"]),
                shares=shares,
                created_at=int(raw["created_at"]),
            )
        except LifecycleError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LifecycleRefusedError(f"malformed backup file ({type(exc).__name__})") from None

    def check_public_data(self) -> None:
        """The commitments give the stated key and public shares (no secret needed)."""
        try:
            if self.vss_commitments[0].hex() != self.group_pubkey_dealt:
                raise LifecycleRefusedError("backup: group key does not match its commitments")
            for s in self.shares:
                if dealer.pubshare_from_commitments(s.participant, self.vss_commitments) != (
                    s.pubshare
                ):
                    raise LifecycleRefusedError(
                        f"backup: public share {s.participant} is inconsistent"
                    )
        except PassportError:
            raise
        except Exception as exc:
            raise LifecycleRefusedError(
                f"backup: malformed public data ({type(exc).__name__})"
            ) from None

    def share_of(self, participant: int) -> BackedUpShare:
        for s in self.shares:
            if s.participant == participant:
                return s
        raise LifecycleRefusedError(f"the backup holds no share of participant {participant}")


def backup_identity(
    ctx: LifecycleContext,
    identity_id: str,
    targets: Mapping[int, BackupTarget],
    *,
    allow_software_targets: bool = False,
    actor: str = "system",
    request_id: str = "backup",
    now: int = 0,
) -> Backup:
    """Each participant in `targets` exports its share sealed to that target's key."""
    record = ctx.identity(identity_id)
    if not targets:
        raise LifecycleRefusedError("a backup needs at least one target")
    for participant, target in targets.items():
        if not 0 <= participant < record.participants:
            raise LifecycleRefusedError(f"identity {identity_id} has no participant {participant}")
        if (target.simulated or target.provider_kind == "simulator") and not (
            allow_software_targets
        ):
            raise BackupTargetError(
                f"backup target {target.label or key_fingerprint(target.transport_public_key)} "
                "keeps its keys in software; allow software targets explicitly to use it"
            )
    shares = []
    for participant, target in sorted(targets.items()):
        holder = record.share_of(participant)
        client = ctx.pool.client(holder.signer_id)
        held = client.held_share(identity_id)
        if held.epoch != record.epoch or held.participant != participant:
            raise LifecycleConflictError(
                f"signer {holder.signer_id} holds epoch {held.epoch}, not the identity's "
                f"{record.epoch}: a refresh is in progress, retry later"
            )
        blob = client.export_share(identity_id, target.transport_public_key)
        shares.append(
            BackedUpShare(
                participant=participant,
                signer_id=holder.signer_id,
                pubshare=bytes.fromhex(holder.pubshare),
                target_transport_key=target.transport_public_key,
                target_label=target.label,
                blob=blob,
            )
        )
    backup = Backup(
        identity_id=record.id,
        tenant_id=record.tenant_id,
        label=record.label,
        pubkey=record.group_pubkey,
        group_pubkey_dealt=record.group_pubkey_dealt,
        threshold=record.threshold,
        participants=record.participants,
        epoch=record.epoch,
        keygen_method=record.keygen_method,
        imported_from_software=record.imported_from_software,
        vss_commitments=tuple(bytes.fromhex(c) for c in record.vss_commitments),
        signer_ids=tuple(s.signer_id for s in sorted(record.shares, key=lambda s: s.participant)),
        shares=tuple(shares),
        created_at=now or int(time.time()),
    )
    ctx.audit.record(
        ctx.audit.entry(
            actor=actor,
            tenant_id=record.tenant_id,
            action=BACKUP_ACTION,
            outcome=OK,
            request_id=request_id,
            identity_id=identity_id,
            details={
                "epoch": record.epoch,
                "targets": {str(s.participant): s.target_fingerprint for s in shares},
            },
        )
    )
    return backup


def restore_identity(
    ctx: LifecycleContext,
    backup: Backup,
    placements: Mapping[int, str],
    *,
    actor: str = "system",
    request_id: str = "restore",
) -> IdentityRecord:
    """Import backed-up shares into signers (participant -> signer id) and record them.

    Each target signer opens its share inside its HSM, checks it against the
    commitments and keeps it wrapped under its own KEK. If the identity is still in the
    store, the restored participants move to their new signers; otherwise the identity
    is recreated from the backup's public data.
    """
    with identity_lifecycle_lock(ctx.store, backup.identity_id):
        return _restore(ctx, backup, placements, actor, request_id)


def _restore(
    ctx: LifecycleContext,
    backup: Backup,
    placements: Mapping[int, str],
    actor: str,
    request_id: str,
) -> IdentityRecord:
    backup.check_public_data()
    with ctx.store.read() as conn:
        existing = identity_by_id(conn, backup.identity_id)
    if existing is not None:
        if existing.group_pubkey != backup.pubkey:
            raise LifecycleConflictError("the backup is of another key than the stored identity")
        if existing.epoch != backup.epoch:
            raise LifecycleConflictError(
                f"the backup is of epoch {backup.epoch} but the identity is at epoch "
                f"{existing.epoch}: its shares were refreshed since; use a newer backup"
            )
    _check_placements(existing, placements)
    attestations: dict[int, Attestation] = {}
    infos: dict[int, SignerInfo] = {}
    for participant, signer_id in sorted(placements.items()):
        share = backup.share_of(participant)
        info = ctx.pool.info(signer_id, ctx.timeout)
        if info.transport_public_key != share.target_transport_key:
            raise LifecycleRefusedError(
                f"the share of participant {participant} was sealed to HSM key "
                f"{share.target_fingerprint}, not to signer {signer_id}'s "
                f"{key_fingerprint(info.transport_public_key)}"
            )
        infos[participant] = info
        try:
            attestations[participant] = ctx.pool.client(signer_id).receive_share(
                backup.identity_id,
                participant,
                backup.epoch,
                backup.threshold,
                bytes.fromhex(backup.group_pubkey_dealt),
                backup.vss_commitments,
                share.blob,
                backup.participants,
            )
        except PassportError as exc:
            raise LifecycleError(
                f"signer {signer_id} could not restore participant {participant}: "
                f"{exc.code} ({exc})"
            ) from exc
        check_attestation(
            attestations[participant],
            info,
            identity_id=backup.identity_id,
            participant=participant,
            pubshare=share.pubshare,
            group_pubkey=bytes.fromhex(backup.group_pubkey_dealt),
            threshold=backup.threshold,
            epoch=backup.epoch,
        )

    def write(conn: Connection) -> None:
        if existing is None:
            _insert_from_backup(conn, backup, placements, attestations)
        else:
            _move_participants(conn, backup, placements, attestations)
        ctx.audit.append(
            conn,
            ctx.audit.entry(
                actor=actor,
                tenant_id=backup.tenant_id,
                action=RESTORE_ACTION,
                outcome=OK,
                request_id=request_id,
                identity_id=backup.identity_id,
                details={
                    "epoch": backup.epoch,
                    "placements": {str(k): v for k, v in placements.items()},
                },
            ),
        )

    ctx.store.run_write(write)
    return ctx.identity(backup.identity_id)


def _check_placements(existing: IdentityRecord | None, placements: Mapping[int, str]) -> None:
    """One share per signer: two participants on one signer would let that one machine
    hold two shares (and a signer keeps one share per identity and epoch)."""
    if not placements:
        raise LifecycleRefusedError("a restore needs at least one placement")
    if len(set(placements.values())) != len(placements):
        raise LifecycleRefusedError("each restored participant needs its own signer")
    if existing is None:
        return
    staying = {
        s.signer_id: s.participant for s in existing.shares if s.participant not in placements
    }
    for participant, signer_id in placements.items():
        if signer_id in staying:
            raise LifecycleConflictError(
                f"signer {signer_id} already holds participant {staying[signer_id]} of "
                f"{existing.id}; restore participant {participant} to another signer"
            )


def _attestation_row(participant: int, signer_id: str, a: Attestation) -> dict[str, Any]:
    return {
        "participant": participant,
        "signer_id": signer_id,
        "statement": a.statement.decode("utf-8"),
        "signature": a.signature.hex(),
        "public_key": a.public_key.hex(),
    }


def _move_participants(
    conn: Connection,
    backup: Backup,
    placements: Mapping[int, str],
    attestations: Mapping[int, Attestation],
) -> None:
    for participant, signer_id in placements.items():
        conn.execute(
            update(identity_shares)
            .where(
                identity_shares.c.identity_id == backup.identity_id,
                identity_shares.c.epoch == backup.epoch,
                identity_shares.c.participant == participant,
            )
            .values(signer_id=signer_id)
        )
        conn.execute(
            delete(share_attestations).where(
                share_attestations.c.identity_id == backup.identity_id,
                share_attestations.c.epoch == backup.epoch,
                share_attestations.c.participant == participant,
            )
        )
        conn.execute(
            share_attestations.insert().values(
                identity_id=backup.identity_id,
                epoch=backup.epoch,
                **_attestation_row(participant, signer_id, attestations[participant]),
            )
        )


def _insert_from_backup(
    conn: Connection,
    backup: Backup,
    placements: Mapping[int, str],
    attestations: Mapping[int, Attestation],
) -> None:
    holders = [placements.get(i, backup.signer_ids[i]) for i in range(backup.participants)]
    unknown = [sid for sid in holders if signer_by_id(conn, sid) is None]
    if unknown:
        raise LifecycleRefusedError(
            f"signers {unknown} are not registered here: restore every participant, or "
            "register those signers first"
        )
    ensure_tenant(conn, backup.tenant_id, backup.tenant_id, backup.created_at)
    pubshares = [
        dealer.pubshare_from_commitments(i, backup.vss_commitments)
        for i in range(backup.participants)
    ]
    insert_identity(
        conn,
        IdentityRecord(
            id=backup.identity_id,
            tenant_id=backup.tenant_id,
            label=backup.label,
            group_pubkey=backup.pubkey,
            group_pubkey_dealt=backup.group_pubkey_dealt,
            threshold=backup.threshold,
            participants=backup.participants,
            epoch=backup.epoch,
            status="active",
            keygen_method=cast(Any, backup.keygen_method),
            imported_from_software=backup.imported_from_software,
            created_at=backup.created_at,
            updated_at=backup.created_at,
            shares=tuple(
                ShareRecord(i, holders[i], pubshares[i].hex()) for i in range(backup.participants)
            ),
            vss_commitments=tuple(c.hex() for c in backup.vss_commitments),
            attestations=tuple(
                AttestationRecord(i, placements[i], **_attestation_fields(attestations[i]))
                for i in sorted(attestations)
            ),
        ),
    )


def _attestation_fields(a: Attestation) -> dict[str, str]:
    return {
        "statement": a.statement.decode("utf-8"),
        "signature": a.signature.hex(),
        "public_key": a.public_key.hex(),
    }
