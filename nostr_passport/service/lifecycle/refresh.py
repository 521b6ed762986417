"""Proactive share refresh of one identity: new shares, same npub (docs/lifecycle.md).

Steps, and what a crash at each leaves behind:
1. every signer deals a zero-constant polynomial (stateless: a crash leaves nothing);
2. every signer stores old share + Σ sub-shares at epoch+1, keeping epoch (a crash
   leaves some epoch+1 shares that nobody uses; they are deleted on abort or by the
   next refresh's clean-up);
3. the epoch+1 shares sign a probe event and the BIP-340 signature is verified;
4. the identity row switches to epoch+1 in one transaction with the new public data
   and an audit record — the only point where signing changes epoch;
5. after a grace period (the signing deadline, so requests that read the old epoch
   finish on it) the old shares are deleted on every signer.
Until 4 commits, signing uses the old epoch; after it, the new one: never neither.
Nonces are a signer-wide pool not bound to a share or epoch, so there are no
per-epoch nonces to delete; consumed ones were already burnt.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

from nostr_passport.crypto import bip340, dealer
from nostr_passport.errors import PassportError, RefreshAbortedError
from nostr_passport.service.audit import OK
from nostr_passport.service.keygen import check_attestation
from nostr_passport.service.keys import IdentityKeys
from nostr_passport.signer import refresh as refresh_math
from nostr_passport.signer.message import event_message
from nostr_passport.signer.protocol import (
    Attestation,
    EventToSign,
    LifecycleSigner,
    RefreshDeal,
    ShareSlot,
    SignerClient,
    SignerInfo,
)
from nostr_passport.store.identities import IdentityRecord

from .context import LifecycleContext
from .epochs import EpochMaterial, activate_epoch, drop_epochs
from .locks import identity_lifecycle_lock
from .signer_calls import delete_epoch_everywhere, describe

log = logging.getLogger(__name__)

# An ephemeral kind (NIP-01: 20000-29999, relays do not store them): the probe is
# never published, and if it leaked it would not sit on a relay as a real note.
PROBE_KIND = 29_998
REFRESH_ACTION = "identity.refresh"


@dataclass(frozen=True)
class RefreshResult:
    identity_id: str
    pubkey: str  # x-only hex: unchanged by construction, checked anyway
    from_epoch: int
    to_epoch: int
    leftovers: tuple[str, ...]  # signers whose old-epoch share could not be deleted yet
    signer_ids: tuple[str, ...] = ()  # who holds the new epoch (index = participant)


def probe_event(keys: IdentityKeys, epoch: int, now: int) -> EventToSign:
    return EventToSign(
        pubkey=keys.pubkey.hex(),
        created_at=now,
        kind=PROBE_KIND,
        tags=(("purpose", "share-refresh"), ("epoch", str(epoch))),
        content="",
    )


def slots_for(signer_ids: tuple[str, ...], infos: dict[str, SignerInfo]) -> tuple[ShareSlot, ...]:
    return tuple(
        ShareSlot(i, sid, infos[sid].transport_public_key) for i, sid in enumerate(signer_ids)
    )


def signer_ids_of(record: IdentityRecord) -> tuple[str, ...]:
    """Who holds each participant's share of the current epoch (index = participant)."""
    return tuple(s.signer_id for s in sorted(record.shares, key=lambda s: s.participant))


def _lifecycle(client: SignerClient) -> LifecycleSigner:
    return cast(LifecycleSigner, client)


def new_epoch_keys(
    record: IdentityRecord,
    epoch: int,
    commitments: tuple[bytes, ...],
    signer_ids: tuple[str, ...] | None = None,
) -> IdentityKeys:
    """The public key material of `epoch` as the coordinator needs it."""
    n = record.participants
    return IdentityKeys(
        identity_id=record.id,
        epoch=epoch,
        threshold=record.threshold,
        participants=n,
        thresh_pk=bytes.fromhex(record.group_pubkey_dealt),
        pubkey=bytes.fromhex(record.group_pubkey),
        pubshares=tuple(dealer.pubshare_from_commitments(i, commitments) for i in range(n)),
        signer_ids=signer_ids or signer_ids_of(record),
    )


def verified_probe(ctx: LifecycleContext, keys: IdentityKeys, now: int) -> bytes:
    """A BIP-340 signature by `keys`' epoch on a probe event, verified here as well."""
    event = probe_event(keys, keys.epoch, now)
    message = event_message(event)
    outcome = ctx.coordinator.sign_events(keys, [event], [message], f"probe-{keys.epoch}")
    signature = outcome.signatures[0]
    if not bip340.verify(keys.pubkey, message, signature):
        raise RefreshAbortedError("the new shares produced an invalid signature")
    return signature


def checked_attestations(
    to_epoch: int,
    infos: dict[str, SignerInfo],
    keys: IdentityKeys,
    attestations: dict[str, Attestation],
) -> tuple[Attestation, ...]:
    """Every new holder's attestation of `keys`' epoch, checked, by participant."""
    ordered = []
    for participant, sid in enumerate(keys.signer_ids):
        check_attestation(
            attestations[sid],
            infos[sid],
            identity_id=keys.identity_id,
            participant=participant,
            pubshare=keys.pubshares[participant],
            group_pubkey=keys.thresh_pk,
            threshold=keys.threshold,
            epoch=to_epoch,
        )
        ordered.append(attestations[sid])
    return tuple(ordered)


def refresh_identity(
    ctx: LifecycleContext,
    identity_id: str,
    *,
    actor: str = "system",
    request_id: str = "",
    grace_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
    signer_ids: tuple[str, ...] | None = None,
    action: str = REFRESH_ACTION,
) -> RefreshResult:
    """Refresh every share of `identity_id` (module docstring); RefreshAbortedError if not.

    `signer_ids` (index = participant) moves participants to other signers at the new
    epoch (service/lifecycle/migration.py); each must already hold the current epoch's
    share of its participant. ConflictError if another lifecycle operation of this
    identity is running (locks.py).
    """
    with identity_lifecycle_lock(ctx.store, identity_id):
        return reshare_locked(
            ctx, identity_id, actor, request_id, grace_seconds, sleep, now, signer_ids, action
        )


def reshare_locked(
    ctx: LifecycleContext,
    identity_id: str,
    actor: str,
    request_id: str,
    grace_seconds: float | None,
    sleep: Callable[[float], None],
    now: Callable[[], float],
    signer_ids: tuple[str, ...] | None,
    action: str,
) -> RefreshResult:
    """refresh_identity's work; the caller holds identity_lifecycle_lock."""
    record = ctx.identity(identity_id)
    from_epoch, to_epoch = record.epoch, record.epoch + 1
    old_ids = signer_ids_of(record)
    signer_ids = old_ids if signer_ids is None else tuple(signer_ids)
    if len(signer_ids) != record.participants:
        raise RefreshAbortedError(f"identity {identity_id} has {record.participants} participants")
    everyone = tuple(dict.fromkeys(old_ids + signer_ids))
    request_id = request_id or f"refresh-{identity_id}-{to_epoch}"
    # A refresh that died after step 2 left unused epoch+1 shares: clear them first.
    stale = delete_epoch_everywhere(ctx.pool, identity_id, to_epoch, everyone, ctx.timeout)
    if stale:
        raise RefreshAbortedError(f"could not clear an earlier unfinished refresh on {stale}")
    if from_epoch > 0:  # and old shares an earlier retirement could not delete
        delete_epoch_everywhere(ctx.pool, identity_id, from_epoch - 1, everyone, ctx.timeout)
    try:
        infos = {sid: ctx.pool.info(sid, ctx.timeout) for sid in signer_ids}
    except PassportError as exc:
        raise RefreshAbortedError(f"refresh of {identity_id}: {exc}") from None
    slots = slots_for(signer_ids, infos)

    def deal(client: SignerClient) -> RefreshDeal:
        return _lifecycle(client).refresh_deal(identity_id, from_epoch, to_epoch, slots)

    deals, failures = ctx.pool.call_all({sid: deal for sid in signer_ids}, ctx.timeout)
    if failures:
        raise RefreshAbortedError(
            f"refresh of {identity_id}: dealing failed ({describe(failures)})"
        )
    dealt = tuple(deals[sid] for sid in signer_ids)
    try:
        for participant, d in enumerate(dealt):
            if d.dealer != participant:
                raise RefreshAbortedError(f"signer {signer_ids[participant]} dealt as another")
            refresh_math.check_zero_commitments(d.commitments, record.threshold, d.dealer)
        commitments = refresh_math.summed_commitments(
            tuple(bytes.fromhex(c) for c in record.vss_commitments), [d.commitments for d in dealt]
        )
        if commitments[0].hex() != record.group_pubkey_dealt:
            raise RefreshAbortedError("the refreshed commitments change the group key")
        keys = new_epoch_keys(record, to_epoch, commitments, signer_ids)
    except PassportError as exc:
        raise RefreshAbortedError(f"refresh of {identity_id}: {exc}") from None

    def receive(client: SignerClient) -> Attestation:
        return _lifecycle(client).refresh_receive(
            identity_id, from_epoch, to_epoch, dealt, record.participants
        )

    def abort(reason: str) -> RefreshAbortedError:
        left = delete_epoch_everywhere(ctx.pool, identity_id, to_epoch, signer_ids, ctx.timeout)
        if left:
            log.warning("refresh of %s: unused epoch %d left on %s", identity_id, to_epoch, left)
        return RefreshAbortedError(f"refresh of {identity_id} aborted: {reason}")

    received, failures = ctx.pool.call_all({sid: receive for sid in signer_ids}, ctx.timeout)
    if failures:
        raise abort(f"share update failed ({describe(failures)})")
    try:
        attestations = checked_attestations(to_epoch, infos, keys, received)
        verified_probe(ctx, keys, int(now()))
    except PassportError as exc:
        raise abort(str(exc)) from None
    material = EpochMaterial(signer_ids, keys.pubshares, commitments, attestations)
    try:
        ctx.store.run_write(
            lambda conn: _activate(
                ctx, conn, record, to_epoch, material, actor, request_id, now, action
            )
        )
    except Exception as exc:
        # A commit can fail after it landed (connection lost on COMMIT): deleting the new
        # shares then would leave the identity with neither epoch. Ask the store.
        if active_epoch(ctx, identity_id) != to_epoch:
            raise abort(f"activation failed ({type(exc).__name__})") from None
        log.warning("refresh of %s: activation reported %s but landed", identity_id, exc)

    # Requests that read the old epoch before the switch finish within the deadline.
    sleep(ctx.coordinator.deadline_seconds if grace_seconds is None else grace_seconds)
    leftovers = delete_epoch_everywhere(ctx.pool, identity_id, from_epoch, everyone, ctx.timeout)
    ctx.store.run_write(lambda conn: drop_epochs(conn, identity_id, [from_epoch]))
    if leftovers:
        log.warning("refresh of %s: old epoch %d left on %s", identity_id, from_epoch, leftovers)
    return RefreshResult(
        identity_id, record.group_pubkey, from_epoch, to_epoch, tuple(leftovers), signer_ids
    )


def active_epoch(ctx: LifecycleContext, identity_id: str) -> int | None:
    """The identity's epoch in the store, None if it cannot be read."""
    try:
        return ctx.identity(identity_id).epoch
    except Exception:  # unknown: assume the switch may have landed, keep the new shares
        return None


def _activate(
    ctx: LifecycleContext,
    conn: object,
    record: IdentityRecord,
    to_epoch: int,
    material: EpochMaterial,
    actor: str,
    request_id: str,
    now: Callable[[], float],
    action: str,
) -> None:
    from sqlalchemy.engine import Connection

    c = cast(Connection, conn)
    activate_epoch(c, record.id, record.epoch, to_epoch, material, int(now()))
    ctx.audit.append(
        c,
        ctx.audit.entry(
            actor=actor,
            tenant_id=record.tenant_id,
            action=action,
            outcome=OK,
            request_id=request_id,
            identity_id=record.id,
            details={
                "from_epoch": record.epoch,
                "to_epoch": to_epoch,
                "signers": list(material.signer_ids),
                "previous_signers": list(signer_ids_of(record)),
            },
        ),
    )


# ---------------------------------------------------------------- schedule


def refreshed_at(record: IdentityRecord) -> int:
    """When the current epoch's shares were made: the oldest attestation's issued_at."""
    times = []
    for a in record.attestations:
        try:
            times.append(int(json.loads(a.statement)["issued_at"]))
        except (ValueError, KeyError, TypeError):
            continue
    return min(times) if times else record.created_at


def refresh_due(identities_: Iterable[IdentityRecord], every: float, now: float) -> list[str]:
    """Ids of active identities whose shares are older than `every` seconds, oldest first.

    The server calls this on a timer (`rotation.refresh_every`) and refreshes each id.
    """
    due = [
        (refreshed_at(r), r.id)
        for r in identities_
        if r.status == "active" and refreshed_at(r) + every <= now
    ]
    return [identity_id for _, identity_id in sorted(due)]
