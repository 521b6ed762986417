"""Threshold and signer-set change of one identity (t-of-n -> t'-of-n'), same npub.

Lagrange-weighted resharing (signer/reshape.py has the math; docs/lifecycle.md the
safety argument). Steps, and what a crash at each leaves behind:
1. a quorum of t current holders deals λ_i·s_i to the new set (stateless: nothing);
2. every new holder stores Σ sub-shares at epoch+1 (a crash leaves unused epoch+1
   shares, deleted on abort or by the next lifecycle operation's clean-up);
3. the new shares sign a probe event, verified with BIP-340;
4. the identity row switches to epoch+1 with the new threshold, participants, shares,
   commitments and attestations in one transaction, with the audit record: the only
   point where signing changes epoch and shape;
5. after the grace period the old epoch is deleted on every signer, old and new set.
Until 4 commits signing uses the old t-of-n; after it, the new t'-of-n'.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from sqlalchemy import update
from sqlalchemy.engine import Connection

from nostr_passport.crypto import dealer
from nostr_passport.errors import (
    BadRequestError,
    PassportError,
    ReshapeAbortedError,
)
from nostr_passport.service.audit import OK
from nostr_passport.service.keys import IdentityKeys
from nostr_passport.signer import reshape as reshape_math
from nostr_passport.signer.protocol import (
    Attestation,
    LifecycleSigner,
    ReshapeDeal,
    ShareSlot,
    SignerClient,
    SignerInfo,
)
from nostr_passport.store.identities import IdentityRecord
from nostr_passport.store.tables import identities

from .context import LifecycleContext
from .epochs import EpochMaterial, activate_epoch, drop_epochs
from .locks import identity_lifecycle_lock
from .refresh import active_epoch, checked_attestations, signer_ids_of, slots_for, verified_probe
from .signer_calls import delete_epoch_everywhere, describe

log = logging.getLogger(__name__)

RESHAPE_ACTION = "identity.reshape"


class ShapeLimits(Protocol):
    """The gateway's identity shape limits (service/passport.py `Limits`)."""

    @property
    def max_participants(self) -> int: ...

    @property
    def max_threshold(self) -> int: ...

    @property
    def min_threshold(self) -> int: ...


@dataclass(frozen=True)
class ReshapeResult:
    identity_id: str
    pubkey: str  # x-only hex: unchanged by construction, checked anyway
    from_epoch: int
    to_epoch: int
    from_shape: str  # "t-of-n"
    to_shape: str
    signer_ids: tuple[str, ...]  # who holds the new epoch (index = participant)
    quorum: tuple[str, ...]  # the old holders who dealt
    leftovers: tuple[str, ...]  # signers whose old-epoch share could not be deleted yet


def shape(threshold: int, participants: int) -> str:
    return f"{threshold}-of-{participants}"


def checked_request(
    ctx: LifecycleContext,
    threshold: object,
    signer_ids: Sequence[object],
    limits: ShapeLimits | None,
) -> tuple[int, tuple[str, ...]]:
    """(t', new signer ids) if the requested shape is allowed; BadRequestError if not."""
    if isinstance(signer_ids, str) or not isinstance(signer_ids, Sequence):
        raise BadRequestError("signers must be a list of signer ids")
    ids = tuple(signer_ids)
    if not all(isinstance(sid, str) for sid in ids):
        raise BadRequestError("signers must be a list of signer ids")
    new_ids = cast(tuple[str, ...], ids)
    if len(set(new_ids)) != len(new_ids):
        raise BadRequestError("signers must be distinct: one share per signer")
    unknown = [sid for sid in new_ids if sid not in ctx.pool]
    if unknown:
        raise BadRequestError(f"signers not configured on this gateway: {', '.join(unknown)}")
    max_n = dealer.MAX_PARTICIPANTS if limits is None else limits.max_participants
    if not 2 <= len(new_ids) <= max_n:
        raise BadRequestError(f"a reshape needs 2 to {max_n} signers, not {len(new_ids)}")
    if not isinstance(threshold, int) or isinstance(threshold, bool):
        raise BadRequestError("threshold must be an integer")
    low = 1 if limits is None else max(1, limits.min_threshold)
    high = len(new_ids) if limits is None else min(len(new_ids), limits.max_threshold)
    if not low <= threshold <= high:
        raise BadRequestError(
            f"threshold must be between {low} and {high} for {len(new_ids)} signers"
        )
    return threshold, new_ids


def _lifecycle(client: SignerClient) -> LifecycleSigner:
    return cast(LifecycleSigner, client)


def reshape_identity(
    ctx: LifecycleContext,
    identity_id: str,
    *,
    threshold: int,
    signer_ids: Sequence[str],
    actor: str = "system",
    request_id: str = "",
    limits: ShapeLimits | None = None,
    grace_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> ReshapeResult:
    """Move `identity_id` to `threshold`-of-len(signer_ids), index = new participant.

    BadRequestError (nothing done) for a shape that is not allowed; ReshapeAbortedError
    if it could not finish (the identity keeps signing on its old epoch); ConflictError
    if another lifecycle operation of this identity is running.
    """
    new_t, new_ids = checked_request(ctx, threshold, signer_ids, limits)
    with identity_lifecycle_lock(ctx.store, identity_id):
        return _reshape_locked(
            ctx, identity_id, new_t, new_ids, actor, request_id, grace_seconds, sleep, now
        )


@dataclass(frozen=True)
class _Plan:
    record: IdentityRecord
    from_epoch: int
    to_epoch: int
    threshold: int  # t'
    old_ids: tuple[str, ...]
    new_ids: tuple[str, ...]
    slots: tuple[ShareSlot, ...]
    infos: dict[str, SignerInfo]

    @property
    def everyone(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.old_ids + self.new_ids))


def _reshape_locked(
    ctx: LifecycleContext,
    identity_id: str,
    threshold: int,
    new_ids: tuple[str, ...],
    actor: str,
    request_id: str,
    grace_seconds: float | None,
    sleep: Callable[[float], None],
    now: Callable[[], float],
) -> ReshapeResult:
    record = ctx.identity(identity_id)
    plan = _plan(ctx, record, threshold, new_ids)
    request_id = request_id or f"reshape-{identity_id}-{plan.to_epoch}"
    quorum_ids, deals = _dealings(ctx, plan)
    commitments = _new_commitments(plan, deals)
    keys = _new_keys(plan, commitments)

    def abort(reason: str) -> ReshapeAbortedError:
        left = delete_epoch_everywhere(
            ctx.pool, identity_id, plan.to_epoch, plan.new_ids, ctx.timeout
        )
        if left:
            log.warning(
                "reshape of %s: unused epoch %d left on %s", identity_id, plan.to_epoch, left
            )
        return ReshapeAbortedError(f"reshape of {identity_id} aborted: {reason}")

    received, failures = ctx.pool.call_all(
        {sid: _receiver(plan, keys, deals) for sid in plan.new_ids}, ctx.timeout
    )
    if failures:
        raise abort(f"storing the new shares failed ({describe(failures)})")
    try:
        attestations = checked_attestations(plan.to_epoch, plan.infos, keys, received)
        verified_probe(ctx, keys, int(now()))
    except PassportError as exc:
        raise abort(str(exc)) from None
    material = EpochMaterial(plan.new_ids, keys.pubshares, commitments, attestations)
    try:
        ctx.store.run_write(
            lambda conn: _activate(ctx, conn, plan, material, quorum_ids, actor, request_id, now)
        )
    except Exception as exc:
        # As in refresh: a commit may have landed although it reported a failure.
        if active_epoch(ctx, identity_id) != plan.to_epoch:
            raise abort(f"activation failed ({type(exc).__name__})") from None
        log.warning("reshape of %s: activation reported %s but landed", identity_id, exc)

    # Requests that read the old epoch before the switch finish within the deadline.
    sleep(ctx.coordinator.deadline_seconds if grace_seconds is None else grace_seconds)
    leftovers = delete_epoch_everywhere(
        ctx.pool, identity_id, plan.from_epoch, plan.everyone, ctx.timeout
    )
    ctx.store.run_write(lambda conn: drop_epochs(conn, identity_id, [plan.from_epoch]))
    if leftovers:
        log.warning(
            "reshape of %s: old epoch %d left on %s", identity_id, plan.from_epoch, leftovers
        )
    return ReshapeResult(
        identity_id=identity_id,
        pubkey=record.group_pubkey,
        from_epoch=plan.from_epoch,
        to_epoch=plan.to_epoch,
        from_shape=shape(record.threshold, record.participants),
        to_shape=shape(threshold, len(new_ids)),
        signer_ids=new_ids,
        quorum=quorum_ids,
        leftovers=tuple(leftovers),
    )


def _plan(
    ctx: LifecycleContext, record: IdentityRecord, threshold: int, new_ids: tuple[str, ...]
) -> _Plan:
    """Who is involved, with the new set's transport keys; earlier leftovers cleared."""
    from_epoch, to_epoch = record.epoch, record.epoch + 1
    old_ids = signer_ids_of(record)
    everyone = tuple(dict.fromkeys(old_ids + new_ids))
    # An operation that died after its step 2 left unused epoch+1 shares: clear them.
    # Only the new holders must be clear (they store epoch+1 next); an unreachable old
    # holder leaving the set is retried by the next operation's clean-up.
    stale = delete_epoch_everywhere(ctx.pool, record.id, to_epoch, everyone, ctx.timeout)
    blocking = [sid for sid in stale if sid in new_ids]
    if blocking:
        raise ReshapeAbortedError(f"could not clear an earlier unfinished operation on {blocking}")
    if stale:
        log.warning("reshape of %s: epoch %d not cleared on %s", record.id, to_epoch, stale)
    if from_epoch > 0:  # and old shares an earlier retirement could not delete
        delete_epoch_everywhere(ctx.pool, record.id, from_epoch - 1, everyone, ctx.timeout)
    try:
        infos = {sid: ctx.pool.info(sid, ctx.timeout) for sid in new_ids}
    except PassportError as exc:
        raise ReshapeAbortedError(f"reshape of {record.id}: {exc}") from None
    return _Plan(
        record, from_epoch, to_epoch, threshold, old_ids, new_ids, slots_for(new_ids, infos), infos
    )


def _dealings(
    ctx: LifecycleContext, plan: _Plan
) -> tuple[tuple[str, ...], tuple[ReshapeDeal, ...]]:
    """(quorum signer ids, their checked dealings): t old holders, healthy ones first.

    λ depends on the whole quorum, so a dealer that fails makes the gateway pick another
    quorum without it and deal again, as long as t holders are left.
    """
    record = plan.record
    failed: dict[str, str] = {}
    while True:
        candidates = [sid for sid in ctx.pool.preferred_order(plan.old_ids) if sid not in failed]
        if len(candidates) < record.threshold:
            raise ReshapeAbortedError(
                f"reshape of {record.id}: fewer than {record.threshold} holders could deal "
                f"({describe(failed)})"
            )
        chosen = set(candidates[: record.threshold])
        quorum = tuple(p for p, sid in enumerate(plan.old_ids) if sid in chosen)
        quorum_ids = tuple(plan.old_ids[p] for p in quorum)

        def deal(client: SignerClient, q: tuple[int, ...] = quorum) -> ReshapeDeal:
            return _lifecycle(client).reshape_deal(
                record.id, plan.from_epoch, plan.to_epoch, q, plan.threshold, plan.slots
            )

        deals, failures = ctx.pool.call_all({sid: deal for sid in quorum_ids}, ctx.timeout)
        if not failures:
            dealt = tuple(deals[sid] for sid in quorum_ids)
            _check_dealings(plan, quorum, dealt)
            return quorum_ids, dealt
        failed.update(failures)


def _check_dealings(plan: _Plan, quorum: tuple[int, ...], deals: tuple[ReshapeDeal, ...]) -> None:
    """What every receiver checks too, here first so a bad dealer aborts before storing."""
    record = plan.record
    old = tuple(bytes.fromhex(c) for c in record.vss_commitments)
    try:
        for participant, d in zip(quorum, deals, strict=True):
            if d.dealer != participant or tuple(d.quorum) != quorum:
                raise ReshapeAbortedError(f"signer {plan.old_ids[participant]} dealt as another")
            if tuple(d.from_commitments) != old:
                raise ReshapeAbortedError(
                    f"signer {plan.old_ids[participant]} holds other commitments"
                )
            reshape_math.check_dealer_commitments(
                d.commitments, plan.threshold, d.dealer, quorum, old
            )
    except ReshapeAbortedError:
        raise
    except PassportError as exc:
        raise ReshapeAbortedError(f"reshape of {record.id}: {exc}") from None


def _new_commitments(plan: _Plan, deals: tuple[ReshapeDeal, ...]) -> tuple[bytes, ...]:
    """The new epoch's VSS commitments Σ_i C_i (constant: the group key, as dealt)."""
    try:
        return reshape_math.summed_commitments(
            [d.commitments for d in deals], bytes.fromhex(plan.record.group_pubkey_dealt)
        )
    except PassportError as exc:
        raise ReshapeAbortedError(f"reshape of {plan.record.id}: {exc}") from None


def _new_keys(plan: _Plan, commitments: tuple[bytes, ...]) -> IdentityKeys:
    """The new epoch's public key material (t'-of-n', new holders)."""
    record = plan.record
    n = len(plan.new_ids)
    return IdentityKeys(
        identity_id=record.id,
        epoch=plan.to_epoch,
        threshold=plan.threshold,
        participants=n,
        thresh_pk=bytes.fromhex(record.group_pubkey_dealt),
        pubkey=bytes.fromhex(record.group_pubkey),
        pubshares=tuple(dealer.pubshare_from_commitments(j, commitments) for j in range(n)),
        signer_ids=plan.new_ids,
    )


def _receiver(
    plan: _Plan, keys: IdentityKeys, deals: tuple[ReshapeDeal, ...]
) -> Callable[[SignerClient], Attestation]:
    """The reshape_receive call of one new holder (its participant from its signer id)."""

    def receive(client: SignerClient) -> Attestation:
        return _lifecycle(client).reshape_receive(
            plan.record.id,
            plan.to_epoch,
            keys.participant_of(client.signer_id),
            plan.threshold,
            keys.participants,
            keys.thresh_pk,
            deals,
        )

    return receive


def _activate(
    ctx: LifecycleContext,
    conn: Connection,
    plan: _Plan,
    material: EpochMaterial,
    quorum_ids: tuple[str, ...],
    actor: str,
    request_id: str,
    now: Callable[[], float],
) -> None:
    """Switch epoch and shape in one transaction, with the audit record."""
    c = conn
    record = plan.record
    activate_epoch(c, record.id, plan.from_epoch, plan.to_epoch, material, int(now()))
    # Same transaction, and the compare-and-swap above made the row ours.
    c.execute(
        update(identities)
        .where(identities.c.id == record.id, identities.c.epoch == plan.to_epoch)
        .values(threshold=plan.threshold, participants=len(plan.new_ids))
    )
    ctx.audit.append(
        c,
        ctx.audit.entry(
            actor=actor,
            tenant_id=record.tenant_id,
            action=RESHAPE_ACTION,
            outcome=OK,
            request_id=request_id,
            identity_id=record.id,
            details={
                "from": shape(record.threshold, record.participants),
                "to": shape(plan.threshold, len(plan.new_ids)),
                "signers": list(plan.new_ids),
                "previous_signers": list(plan.old_ids),
                "quorum": list(quorum_ids),
                "from_epoch": plan.from_epoch,
                "to_epoch": plan.to_epoch,
            },
        ),
    )
