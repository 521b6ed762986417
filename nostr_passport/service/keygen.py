"""Dealer key generation across signers, and the checks the gateway makes of its result.

One signer deals inside its own provider (keeps its share, wraps every other share to
the recipient signer's transport key); the others receive and verify their share. The
gateway sees only public data, which it checks before anything is stored: the public
shares follow from the VSS commitments, any t of them give the group key, and every
attestation is signed by the holding signer's HSM key and says what we expect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from nostr_passport.crypto import dealer, frost
from nostr_passport.crypto.errors import CryptoError
from nostr_passport.errors import PassportError, SignersUnavailableError
from nostr_passport.signer.attestation import verified_statement
from nostr_passport.signer.protocol import (
    Attestation,
    DealtIdentity,
    ShareSlot,
    SignerClient,
    SignerInfo,
)

from .signer_pool import SignerPool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeygenResult:
    identity_id: str
    threshold: int
    group_pubkey_dealt: bytes  # 33-byte compressed
    group_pubkey: bytes  # 32-byte x-only (Nostr)
    vss_commitments: tuple[bytes, ...]
    pubshares: tuple[bytes, ...]  # index = participant
    signer_ids: tuple[str, ...]  # index = participant
    attestations: tuple[Attestation, ...]  # index = participant


class KeygenError(SignersUnavailableError):
    """Dealing failed or its public output did not check out; nothing was stored."""


def _check_dealt(dealt: DealtIdentity, identity_id: str, threshold: int, n: int) -> None:
    if dealt.identity_id != identity_id or dealt.threshold != threshold:
        raise KeygenError("dealer answered for another identity or threshold")
    if len(dealt.pubshares) != n or len(dealt.vss_commitments) != threshold:
        raise KeygenError("dealer returned the wrong number of public shares or commitments")
    try:
        if dealt.vss_commitments[0] != dealt.group_pubkey:
            raise KeygenError("dealer's group key is not its first VSS commitment")
        for participant, pubshare in enumerate(dealt.pubshares):
            if dealer.pubshare_from_commitments(participant, dealt.vss_commitments) != pubshare:
                raise KeygenError(f"public share {participant} does not match the commitments")
        # BIP 445's own check that a signer set reproduces the threshold key.
        frost.SignersContext(
            n, threshold, tuple(range(threshold)), dealt.pubshares[:threshold], dealt.group_pubkey
        )
    except CryptoError as exc:
        raise KeygenError(f"dealer output is inconsistent: {exc}") from None


def check_attestation(
    attestation: Attestation,
    info: SignerInfo,
    *,
    identity_id: str,
    participant: int,
    pubshare: bytes,
    group_pubkey: bytes,
    threshold: int,
    epoch: int,
) -> None:
    """The attestation is signed by this signer's HSM key and states what we expect."""
    who = f"signer {info.signer_id}"
    try:
        statement = verified_statement(attestation, info.attestation_public_key)
    except PassportError as exc:
        raise KeygenError(f"{who} sent an unusable attestation: {exc}") from None
    expected = (identity_id, participant, pubshare, group_pubkey, threshold, epoch, info.signer_id)
    stated = (
        statement.identity_id,
        statement.participant,
        statement.pubshare,
        statement.group_pubkey,
        statement.threshold,
        statement.epoch,
        statement.signer_id,
    )
    if stated != expected:
        raise KeygenError(f"{who} attested to something other than its share")


def deal_identity(
    pool: SignerPool,
    identity_id: str,
    threshold: int,
    signer_ids: tuple[str, ...],
    *,
    timeout: float,
    epoch: int = 0,
) -> KeygenResult:
    """Deal a t-of-n key: signer_ids[0] deals, the rest receive (in parallel)."""
    n = len(signer_ids)
    infos = {sid: pool.info(sid, timeout) for sid in signer_ids}
    slots = tuple(
        ShareSlot(
            participant=i, signer_id=sid, transport_public_key=infos[sid].transport_public_key
        )
        for i, sid in enumerate(signer_ids)
    )
    dealer_id = signer_ids[0]

    def deal(client: SignerClient) -> DealtIdentity:
        return client.deal_identity(identity_id, threshold, slots, epoch)

    dealt_by, failures = pool.call_all({dealer_id: deal}, timeout)
    if failures:
        raise KeygenError(f"dealer signer {dealer_id} failed: {failures[dealer_id]}")
    dealt = dealt_by[dealer_id]
    _check_dealt(dealt, identity_id, threshold, n)
    blobs = {w.participant: w for w in dealt.wrapped_shares}
    if sorted(blobs) != list(range(1, n)) or any(
        blobs[i].signer_id != signer_ids[i] for i in blobs
    ):
        raise KeygenError("dealer did not wrap exactly one share for each other signer")

    def receiver(participant: int) -> Callable[[SignerClient], Attestation]:
        def receive(client: SignerClient) -> Attestation:
            return client.receive_share(
                identity_id,
                participant,
                epoch,
                threshold,
                dealt.group_pubkey,
                dealt.vss_commitments,
                blobs[participant].blob,
            )

        return receive

    received, failures = pool.call_all({signer_ids[i]: receiver(i) for i in range(1, n)}, timeout)
    if failures:
        reasons = "; ".join(f"{k}: {v}" for k, v in sorted(failures.items()))
        raise KeygenError(f"share distribution failed ({reasons})")
    attestations = (dealt.dealer_attestation, *(received[signer_ids[i]] for i in range(1, n)))
    for participant, (sid, att) in enumerate(zip(signer_ids, attestations, strict=True)):
        check_attestation(
            att,
            infos[sid],
            identity_id=identity_id,
            participant=participant,
            pubshare=dealt.pubshares[participant],
            group_pubkey=dealt.group_pubkey,
            threshold=threshold,
            epoch=epoch,
        )
    return KeygenResult(
        identity_id=identity_id,
        threshold=threshold,
        group_pubkey_dealt=dealt.group_pubkey,
        group_pubkey=frost.group_pubkey_xonly(dealt.group_pubkey),
        vss_commitments=dealt.vss_commitments,
        pubshares=dealt.pubshares,
        signer_ids=signer_ids,
        attestations=attestations,
    )


def discard_shares(
    pool: SignerPool, identity_id: str, signer_ids: tuple[str, ...], timeout: float
) -> list[str]:
    """Best-effort delete_share everywhere (after a failed creation); ids that failed."""

    def delete(client: SignerClient) -> None:
        client.delete_share(identity_id)

    _, failures = pool.call_all({sid: delete for sid in signer_ids}, timeout)
    return sorted(failures)
