"""EncPedPop: SimplPedPop with the secret shares encrypted to their recipients.

(BIP-FROST-DKG, "DKG Protocol EncPedPop".) Participant i encrypts the share for
participant j with a one-time pad derived from ephemeral-static ECDH between i's
encryption nonce and j's long-term encryption key, hashed together with both public
keys, j's index and the session context (a multi-recipient "hashed ElGamal" KEM). The
pad for itself comes from hashing its own decryption key, saving an ECDH. Pads are
scalars, so the coordinator can add the ciphertexts for each recipient and send every
participant one encrypted sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from coincurve import PrivateKey

from ..curve import MaybePoint, N, cbytes, point_from_cbytes, point_mul_g, scalar_from_bytes
from ..errors import (
    FaultyCoordinatorError,
    InvalidContributionError,
    InvalidInputError,
    UnknownFaultyPartyError,
)
from . import simplpedpop
from .common import (
    check_length,
    dkg_hash,
    points_from_bytes,
    points_to_bytes,
    scalars_from_bytes,
    scalars_to_bytes,
    sum_scalars,
    u32,
)
from .simplpedpop import DKGOutput, SecshareSumError

# ---------------------------------------------------------------- encryption


def ecdh_pad(
    seckey: bytes, my_pubkey: bytes, their_pubkey: bytes, context: bytes, sending: bool
) -> int:
    """The pad shared by a sender's nonce and a recipient's key (same value on both sides).

    Raises InvalidInputError if `their_pubkey` is not a compressed point.
    """
    their_point = point_from_cbytes(their_pubkey, what="public key")
    # libsecp256k1's ECDH: SHA256 of the compressed shared point, constant time.
    shared = PrivateKey(seckey).ecdh(cbytes(their_point))
    sender_then_recipient = my_pubkey + their_pubkey if sending else their_pubkey + my_pubkey
    return int.from_bytes(dkg_hash("encpedpop ecdh", shared + sender_then_recipient + context)) % N


def self_pad(symkey: bytes, nonce: bytes, context: bytes) -> int:
    """The pad for a share a participant encrypts to itself (its deckey as a symmetric key)."""
    return int.from_bytes(dkg_hash("encaps_multi self_pad", symkey + nonce + context)) % N


def encaps_multi(
    secnonce: bytes,
    pubnonce: bytes,
    deckey: bytes,
    enckeys: tuple[bytes, ...],
    context: bytes,
    idx: int,
) -> list[int]:
    """The pads for every recipient; the recipient's index is hashed in (the KEM's key)."""
    pads = []
    for i, enckey in enumerate(enckeys):
        context_i = u32(i) + context
        if i == idx:
            pads.append(self_pad(deckey, pubnonce, context_i))
        else:
            pads.append(ecdh_pad(secnonce, pubnonce, enckey, context_i, sending=True))
    return pads


def encrypt_multi(
    secnonce: bytes,
    pubnonce: bytes,
    deckey: bytes,
    enckeys: tuple[bytes, ...],
    context: bytes,
    idx: int,
    plaintexts: list[int],
) -> list[int]:
    pads = encaps_multi(secnonce, pubnonce, deckey, enckeys, context, idx)
    return [(plaintext + pad) % N for plaintext, pad in zip(plaintexts, pads, strict=True)]


def decaps_multi(
    deckey: bytes, enckey: bytes, pubnonces: tuple[bytes, ...], context: bytes, idx: int
) -> list[int]:
    """The pads every sender used for us; blames a sender whose pubnonce is no point."""
    context_idx = u32(idx) + context
    pads = []
    for sender, pubnonce in enumerate(pubnonces):
        if sender == idx:
            pads.append(self_pad(deckey, pubnonce, context_idx))
            continue
        try:
            pads.append(ecdh_pad(deckey, enckey, pubnonce, context_idx, sending=False))
        except InvalidInputError as exc:
            # Our own key is well formed, so the nonce is what is wrong.
            raise InvalidContributionError(sender, "pubnonce", "invalid public nonce") from exc
    return pads


def decrypt_sum(
    deckey: bytes,
    enckey: bytes,
    pubnonces: tuple[bytes, ...],
    context: bytes,
    idx: int,
    sum_ciphertexts: int,
) -> int:
    """The sum of the plaintexts sent to participant idx, from the sum of ciphertexts."""
    if not 0 <= idx < len(pubnonces):
        raise InvalidInputError("participant index out of range")
    pads = decaps_multi(deckey, enckey, pubnonces, context, idx)
    return (sum_ciphertexts - sum_scalars(pads)) % N


def enc_context(t: int, enckeys: tuple[bytes, ...]) -> bytes:
    return u32(t) + b"".join(enckeys)


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class ParticipantMsg:
    """Round 1: the SimplPedPop message, the encryption nonce and n encrypted shares."""

    simpl_pmsg: simplpedpop.ParticipantMsg
    pubnonce: bytes
    enc_shares: tuple[int, ...]

    @staticmethod
    def length(t: int, n: int) -> int:
        return simplpedpop.ParticipantMsg.length(t) + 33 + 32 * n

    @staticmethod
    def from_bytes(data: bytes, t: int, n: int) -> ParticipantMsg:
        data = check_length(data, ParticipantMsg.length(t, n), "EncPedPop participant message")
        simpl_len = simplpedpop.ParticipantMsg.length(t)
        return ParticipantMsg(
            simplpedpop.ParticipantMsg.from_bytes(data[:simpl_len], t),
            data[simpl_len : simpl_len + 33],
            tuple(scalars_from_bytes(data[simpl_len + 33 :], n, "encrypted share")),
        )

    def to_bytes(self) -> bytes:
        return self.simpl_pmsg.to_bytes() + self.pubnonce + scalars_to_bytes(self.enc_shares)


@dataclass(frozen=True)
class CoordinatorMsg:
    """Round 1 to all: the SimplPedPop message and every participant's pubnonce.

    The pubnonces stay raw bytes: an invalid one is blamed on its sender when used.
    """

    simpl_cmsg: simplpedpop.CoordinatorMsg
    pubnonces: tuple[bytes, ...]

    @staticmethod
    def length(t: int, n: int) -> int:
        return simplpedpop.CoordinatorMsg.length(t, n) + 33 * n

    @staticmethod
    def from_bytes(data: bytes, t: int, n: int) -> CoordinatorMsg:
        data = check_length(data, CoordinatorMsg.length(t, n), "EncPedPop coordinator message")
        simpl_len = simplpedpop.CoordinatorMsg.length(t, n)
        pubnonces = data[simpl_len:]
        return CoordinatorMsg(
            simplpedpop.CoordinatorMsg.from_bytes(data[:simpl_len], t, n),
            tuple(pubnonces[i * 33 : (i + 1) * 33] for i in range(n)),
        )

    def to_bytes(self) -> bytes:
        return self.simpl_cmsg.to_bytes() + b"".join(self.pubnonces)


@dataclass(frozen=True)
class CoordinatorInvestigationMsg:
    """For one participant: each sender's encrypted share to it and its partial pubshare."""

    enc_partial_secshares: tuple[int, ...]
    partial_pubshares: tuple[MaybePoint, ...]

    @staticmethod
    def length(n: int) -> int:
        return 65 * n

    @staticmethod
    def from_bytes(data: bytes, n: int) -> CoordinatorInvestigationMsg:
        data = check_length(data, CoordinatorInvestigationMsg.length(n), "investigation message")
        return CoordinatorInvestigationMsg(
            tuple(scalars_from_bytes(data[: 32 * n], n, "encrypted partial secshare")),
            tuple(points_from_bytes(data[32 * n :], n, "partial pubshare")),
        )

    def to_bytes(self) -> bytes:
        return scalars_to_bytes(self.enc_partial_secshares) + points_to_bytes(
            self.partial_pubshares
        )


# ---------------------------------------------------------------- participant


@dataclass(frozen=True)
class ParticipantState:
    simpl_state: simplpedpop.ParticipantState
    pubnonce: bytes
    enckeys: tuple[bytes, ...]
    idx: int


@dataclass(frozen=True)
class ParticipantInvestigationData:
    simpl_inv_data: simplpedpop.ParticipantInvestigationData
    enc_secshare: int
    pads: tuple[int, ...] = field(repr=False)


def participant_step1(
    seed: bytes, deckey: bytes, enckeys: tuple[bytes, ...], t: int, idx: int, random: bytes
) -> tuple[ParticipantState, ParticipantMsg]:
    """Our commitment, pop, encryption nonce and encrypted shares."""
    if len(random) != 32:
        raise InvalidInputError("randomness must be 32 bytes")
    n = len(enckeys)
    context = enc_context(t, enckeys)
    # Every input of the shares also goes into the nonce (derived from simpl_seed), so
    # different shares are never encrypted under the same pads, even if `random` repeats.
    simpl_seed = dkg_hash("encpedpop seed", seed + random + context)
    simpl_aux_rand = dkg_hash("simplpedpop aux", simpl_seed)
    secnonce = dkg_hash("encpedpop secnonce", simpl_seed)
    nonce_point = point_mul_g(scalar_from_bytes(secnonce, what="secnonce", nonzero=True))
    assert nonce_point is not None
    pubnonce = cbytes(nonce_point)
    simpl_state, simpl_pmsg, shares = simplpedpop.participant_step1(
        simpl_seed, t, n, idx, simpl_aux_rand
    )
    enc_shares = encrypt_multi(secnonce, pubnonce, deckey, enckeys, context, idx, shares)
    state = ParticipantState(simpl_state, pubnonce, enckeys, idx)
    return state, ParticipantMsg(simpl_pmsg, pubnonce, tuple(enc_shares))


def participant_step2(
    state: ParticipantState, deckey: bytes, cmsg: CoordinatorMsg, enc_secshare: int
) -> tuple[DKGOutput, bytes]:
    """Decrypt our share, run SimplPedPop's step 2, and extend the transcript."""
    if cmsg.pubnonces[state.idx] != state.pubnonce:
        raise FaultyCoordinatorError("pubnonce", "Coordinator replied with wrong pubnonce")
    context = enc_context(state.simpl_state.t, state.enckeys)
    pads = decaps_multi(deckey, state.enckeys[state.idx], cmsg.pubnonces, context, state.idx)
    secshare = (enc_secshare - sum_scalars(pads)) % N
    try:
        output, eq_input = simplpedpop.participant_step2(
            state.simpl_state, cmsg.simpl_cmsg, secshare
        )
    except UnknownFaultyPartyError as exc:
        assert isinstance(exc.inv_data, simplpedpop.ParticipantInvestigationData)
        inv_data = ParticipantInvestigationData(exc.inv_data, enc_secshare, tuple(pads))
        raise UnknownFaultyPartyError(inv_data, str(exc)) from None
    # Agreeing on the encryption keys rules out a man in the middle once Eq authenticates.
    return output, eq_input + b"".join(state.enckeys) + b"".join(cmsg.pubnonces)


def participant_investigate(
    inv_data: ParticipantInvestigationData, cinv: CoordinatorInvestigationMsg
) -> NoReturn:
    """Decrypt each sender's share to us and let SimplPedPop find the culprit."""
    partial_secshares = [
        (enc - pad) % N for enc, pad in zip(cinv.enc_partial_secshares, inv_data.pads, strict=True)
    ]
    simpl_cinv = simplpedpop.CoordinatorInvestigationMsg(cinv.partial_pubshares)
    try:
        simplpedpop.participant_investigate(inv_data.simpl_inv_data, simpl_cinv, partial_secshares)
    except SecshareSumError:
        # Encryption is additively homomorphic: the plaintexts fail to add up only if the
        # ciphertexts the coordinator showed us fail to add up to what it sent before.
        raise FaultyCoordinatorError(
            "enc_partial_secshares",
            "Sum of encrypted partial secshares not equal to encrypted secshare",
        ) from None


# ---------------------------------------------------------------- coordinator


def coordinator_step(
    pmsgs: list[ParticipantMsg], t: int, enckeys: tuple[bytes, ...]
) -> tuple[CoordinatorMsg, DKGOutput, bytes, list[int]]:
    """The round-1 broadcast, the public output, the transcript, and each encrypted sum."""
    n = len(enckeys)
    if len(pmsgs) != n:
        raise InvalidInputError("need one message per participant")
    simpl_cmsg, output, eq_input = simplpedpop.coordinator_step(
        [pmsg.simpl_pmsg for pmsg in pmsgs], t, n
    )
    pubnonces = tuple(pmsg.pubnonce for pmsg in pmsgs)
    enc_secshares = [sum_scalars(pmsg.enc_shares[i] for pmsg in pmsgs) for i in range(n)]
    eq_input += b"".join(enckeys) + b"".join(pubnonces)
    return CoordinatorMsg(simpl_cmsg, pubnonces), output, eq_input, enc_secshares


def coordinator_investigate(pmsgs: list[ParticipantMsg]) -> list[CoordinatorInvestigationMsg]:
    n = len(pmsgs)
    simpl_cinvs = simplpedpop.coordinator_investigate([pmsg.simpl_pmsg for pmsg in pmsgs])
    return [
        CoordinatorInvestigationMsg(
            tuple(pmsg.enc_shares[i] for pmsg in pmsgs), simpl_cinvs[i].partial_pubshares
        )
        for i in range(n)
    ]
