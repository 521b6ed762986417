"""Move a participant's share to another signer (another provider) with zero downtime.

Chosen method: copy, then refresh onto the new signer set.
1. The old signer X exports its share of the current epoch e sealed to the new signer
   Y's transport key; Y opens it in its HSM, checks it against the commitments and
   keeps it at epoch e. Nothing changes for signing: the store still maps the
   participant to X.
2. A share refresh runs over the new set (Y in X's place, using its copy as the old
   share): every share changes at epoch e+1, a probe signature checks the new set,
   and the identity row switches to e+1 with Y as the holder — the one atomic switch.
3. After the grace period epoch e is deleted everywhere, X's share included.

Why not only the 1:1 copy: the participant→signer map and the key cache of every
gateway are keyed by epoch, so a holder change must come with an epoch change; and the
refresh makes whatever X (or a backup of X's HSM) may still hold useless — a share
that only moved would stay valid wherever it had been. Why not a Lagrange-weighted
resharing from t old signers: it needs the same epoch switch and more rounds, and
buys nothing when the old signer is still reachable; it would be the way to replace a
signer that is gone (not implemented here).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nostr_passport.errors import (
    LifecycleConflictError,
    LifecycleError,
    LifecycleRefusedError,
    PassportError,
    RefreshAbortedError,
)
from nostr_passport.service.keygen import check_attestation
from nostr_passport.signer.errors import ShareNotFoundError
from nostr_passport.signer.protocol import SignerClient
from nostr_passport.store.tables import identity_shares

from .context import LifecycleContext
from .locks import identity_lifecycle_lock
from .refresh import RefreshResult, reshare_locked, signer_ids_of

MIGRATE_ACTION = "identity.migrate"


def migrate_participant(
    ctx: LifecycleContext,
    identity_id: str,
    participant: int,
    to_signer: str,
    *,
    actor: str = "system",
    request_id: str = "",
    grace_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RefreshResult:
    """Move `participant` of `identity_id` to `to_signer` (module docstring)."""
    with identity_lifecycle_lock(ctx.store, identity_id):
        return _migrate(
            ctx, identity_id, participant, to_signer, actor, request_id, grace_seconds, sleep
        )


def _migrate(
    ctx: LifecycleContext,
    identity_id: str,
    participant: int,
    to_signer: str,
    actor: str,
    request_id: str,
    grace_seconds: float | None,
    sleep: Callable[[float], None],
) -> RefreshResult:
    record = ctx.identity(identity_id)
    old_ids = signer_ids_of(record)
    if not 0 <= participant < record.participants:
        raise LifecycleRefusedError(f"identity {identity_id} has no participant {participant}")
    if to_signer in old_ids:
        raise LifecycleConflictError(f"signer {to_signer} already holds a share of {identity_id}")
    if to_signer not in ctx.pool:
        raise LifecycleRefusedError(f"signer {to_signer} is not configured on this gateway")
    source = ctx.pool.client(old_ids[participant])
    target = ctx.pool.client(to_signer)
    _forget_on(target, identity_id)  # leftovers of an earlier, interrupted move
    try:
        info = ctx.pool.info(to_signer, ctx.timeout)
        held = source.held_share(identity_id)
        if held.epoch != record.epoch or held.participant != participant:
            raise LifecycleConflictError(
                f"signer {old_ids[participant]} holds epoch {held.epoch}, not {record.epoch}: "
                "an earlier refresh did not finish; refresh the identity first"
            )
        blob = source.export_share(identity_id, info.transport_public_key)
        attestation = target.receive_share(
            identity_id,
            participant,
            record.epoch,
            record.threshold,
            bytes.fromhex(record.group_pubkey_dealt),
            tuple(bytes.fromhex(c) for c in record.vss_commitments),
            blob,
            record.participants,
        )
        check_attestation(
            attestation,
            info,
            identity_id=identity_id,
            participant=participant,
            pubshare=bytes.fromhex(record.share_of(participant).pubshare),
            group_pubkey=bytes.fromhex(record.group_pubkey_dealt),
            threshold=record.threshold,
            epoch=record.epoch,
        )
    except PassportError as exc:
        _forget_on(target, identity_id)
        raise LifecycleError(f"copying participant {participant} to {to_signer}: {exc}") from None
    new_ids = tuple(to_signer if i == participant else sid for i, sid in enumerate(old_ids))
    try:
        return reshare_locked(
            ctx,
            identity_id,
            actor,
            request_id or f"migrate-{identity_id}-{participant}",
            grace_seconds,
            sleep,
            time.time,
            new_ids,
            MIGRATE_ACTION,
        )
    except RefreshAbortedError:
        _forget_on(target, identity_id)  # the identity stays on X, untouched
        raise


def _forget_on(client: SignerClient, identity_id: str) -> None:
    """Best effort: the target holds nothing of this identity afterwards."""
    try:
        client.delete_share(identity_id)
    except (ShareNotFoundError, PassportError):
        return


def migrate_signer(
    ctx: LifecycleContext,
    from_signer: str,
    to_signer: str,
    *,
    actor: str = "system",
    request_id: str = "",
    grace_seconds: float | None = None,
) -> list[RefreshResult]:
    """Move every share `from_signer` holds to `to_signer`; then it can be retired.

    Each move is its own atomic switch; if one fails, the ones before it stay done and
    a rerun moves what is left.
    """
    if from_signer == to_signer:
        raise LifecycleRefusedError("moving a signer's shares needs two different signers")
    with ctx.store.read() as conn:
        rows = conn.execute(
            identity_shares.select().where(identity_shares.c.signer_id == from_signer)
        ).mappings()
        pairs = sorted({(r["identity_id"], r["participant"]) for r in rows})
    results = []
    for identity_id, participant in pairs:
        record = ctx.identity(identity_id)
        if signer_ids_of(record)[participant] != from_signer:
            continue  # a row of a retired epoch
        results.append(
            migrate_participant(
                ctx,
                identity_id,
                participant,
                to_signer,
                actor=actor,
                request_id=request_id,
                grace_seconds=grace_seconds,
            )
        )
    return results
