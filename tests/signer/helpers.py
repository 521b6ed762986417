"""Test-side coordinator: deal an identity over signers, sign and verify like the gateway."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from coincurve import PublicKeyXOnly

from nostr_passport.crypto import frost
from nostr_passport.signer.message import event_message
from nostr_passport.signer.protocol import (
    DealtIdentity,
    EventToSign,
    ShareSlot,
    SignerClient,
    SignRequest,
)

_counter = itertools.count()


@dataclass(frozen=True)
class Identity:
    identity_id: str
    dealt: DealtIdentity
    signers: tuple[SignerClient, ...]  # index = participant
    epoch: int = 0

    @property
    def n(self) -> int:
        return len(self.signers)

    @property
    def xonly(self) -> bytes:
        return frost.group_pubkey_xonly(self.dealt.group_pubkey)


def deal(
    signers: Sequence[SignerClient], threshold: int, identity_id: str = "", dealer: int = 0
) -> Identity:
    """Keygen on signers[dealer]; every other signer receives its wrapped share."""
    identity_id = identity_id or f"id-{next(_counter)}"
    slots = tuple(
        ShareSlot(i, s.signer_id, s.info().transport_public_key) for i, s in enumerate(signers)
    )
    dealt = signers[dealer].deal_identity(identity_id, threshold, slots)
    assert len(dealt.wrapped_shares) == len(signers) - 1
    for wrapped in dealt.wrapped_shares:
        recipient = signers[wrapped.participant]
        assert recipient.signer_id == wrapped.signer_id
        recipient.receive_share(
            identity_id,
            wrapped.participant,
            0,
            threshold,
            dealt.group_pubkey,
            dealt.vss_commitments,
            wrapped.blob,
        )
    return Identity(identity_id, dealt, tuple(signers))


def event_for(identity: Identity, content: str = "hello", kind: int = 1) -> EventToSign:
    return EventToSign(
        pubkey=identity.xonly.hex(),
        created_at=1_700_000_000 + next(_counter),
        kind=kind,
        tags=(("t", "test"),),
        content=content,
    )


def sign_requests(
    identity: Identity, ids: Sequence[int], events: Sequence[EventToSign]
) -> dict[int, tuple[SignRequest, ...]]:
    """One batch per participant in `ids`, each event with fresh commitments."""
    ids = tuple(ids)
    commitments = {i: identity.signers[i].commitments(len(events)) for i in ids}
    out: dict[int, list[SignRequest]] = {i: [] for i in ids}
    for j, event in enumerate(events):
        pubnonces = tuple(commitments[i][j].pubnonce for i in ids)
        for i in ids:
            out[i].append(
                SignRequest(
                    identity_id=identity.identity_id,
                    epoch=identity.epoch,
                    ids=ids,
                    pubnonces=pubnonces,
                    nonce_id=commitments[i][j].nonce_id,
                    event=event,
                )
            )
    return {i: tuple(reqs) for i, reqs in out.items()}


def aggregate(
    identity: Identity, ids: Sequence[int], request: SignRequest, psigs: Sequence[bytes]
) -> bytes:
    ids = tuple(ids)
    signers_ctx = frost.SignersContext(
        identity.n,
        identity.dealt.threshold,
        ids,
        tuple(identity.dealt.pubshares[i] for i in ids),
        identity.dealt.group_pubkey,
    )
    session = frost.SessionContext(
        signers_ctx,
        frost.nonce_agg(request.pubnonces, ids),
        (),
        (),
        event_message(request.event),
    )
    return frost.partial_sig_agg(list(psigs), session)


def sign_events(
    identity: Identity, ids: Sequence[int], events: Sequence[EventToSign]
) -> list[bytes]:
    """Signatures of `events` by the signer subset `ids`, each checked with BIP-340."""
    batches = sign_requests(identity, ids, events)
    replies = {i: identity.signers[i].partial_sign(batches[i]) for i in ids}
    signatures = []
    for j, event in enumerate(events):
        for i in ids:
            assert replies[i][j].participant == i
            assert replies[i][j].nonce_id == batches[i][j].nonce_id
        sig = aggregate(identity, ids, batches[ids[0]][j], [replies[i][j].psig for i in ids])
        assert PublicKeyXOnly(identity.xonly).verify(sig, event_message(event))
        signatures.append(sig)
    return signatures
