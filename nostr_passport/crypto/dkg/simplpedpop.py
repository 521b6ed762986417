"""SimplPedPop: Pedersen DKG with proofs of possession, through a coordinator.

The core of ChillDKG (BIP-FROST-DKG, "DKG Protocol SimplPedPop"). It assumes the
secret shares reach their recipients privately (EncPedPop provides that) and leaves the
final equality check of `eq_input` to the caller (CertEq in ChillDKG). Not a DKG to use
on its own: the BIP forbids exposing the building blocks as an API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from ..curve import (
    MaybePoint,
    N,
    Point,
    cbytes,
    cbytes_ext,
    point_eq,
    point_neg,
    xbytes,
)
from ..errors import (
    CryptoError,
    FaultyCoordinatorError,
    InvalidContributionError,
    InvalidInputError,
    UnknownFaultyPartyError,
)
from . import schnorr
from .common import (
    BIP_TAG,
    check_length,
    chunks,
    points_from_bytes,
    points_to_bytes,
    sum_points,
    sum_scalars,
    u32,
)
from .vss import VSS, VSSCommitment, verify_secshare

POP_TAG_PREFIX = BIP_TAG + "pop message"


class SecshareSumError(CryptoError):
    """The partial secret shares do not add up to the secret share.

    Internal to the DKG layers: EncPedPop knows whose fault that is and re-raises.
    """


# ---------------------------------------------------------------- proofs of possession


def pop_msg(idx: int) -> bytes:
    return u32(idx)


def pop_prove(seckey: int, idx: int, aux_rand: bytes) -> bytes:
    """A BIP-340 signature (under the pop tag prefix) on the prover's index."""
    return schnorr.sign(pop_msg(idx), seckey, aux_rand, POP_TAG_PREFIX)


def pop_verify(pop: bytes, pubkey_x: bytes, idx: int) -> bool:
    return schnorr.verify(pop_msg(idx), pubkey_x, pop, POP_TAG_PREFIX)


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class ParticipantMsg:
    """Round 1, participant to coordinator: the VSS commitment and the pop."""

    com: VSSCommitment
    pop: bytes

    @staticmethod
    def length(t: int) -> int:
        return 33 * t + 64

    @staticmethod
    def from_bytes(data: bytes, t: int) -> ParticipantMsg:
        data = check_length(data, ParticipantMsg.length(t), "SimplPedPop participant message")
        return ParticipantMsg(VSSCommitment.from_bytes(data[: 33 * t], t), data[33 * t :])

    def to_bytes(self) -> bytes:
        return self.com.to_bytes() + self.pop


@dataclass(frozen=True)
class CoordinatorMsg:
    """Round 1, coordinator to all: commitments to secrets, summed other terms, pops."""

    coms_to_secrets: tuple[MaybePoint, ...]
    sum_coms_to_nonconst_terms: tuple[MaybePoint, ...]
    pops: tuple[bytes, ...]

    @staticmethod
    def length(t: int, n: int) -> int:
        return 97 * n + 33 * (t - 1)

    @staticmethod
    def from_bytes(data: bytes, t: int, n: int) -> CoordinatorMsg:
        data = check_length(data, CoordinatorMsg.length(t, n), "SimplPedPop coordinator message")
        nonconst_end = 33 * n + 33 * (t - 1)
        return CoordinatorMsg(
            tuple(points_from_bytes(data[: 33 * n], n, "commitment to secret")),
            tuple(points_from_bytes(data[33 * n : nonconst_end], t - 1, "summed commitment")),
            tuple(chunks(data[nonconst_end:], 64, n)),
        )

    def to_bytes(self) -> bytes:
        points = self.coms_to_secrets + self.sum_coms_to_nonconst_terms
        return points_to_bytes(points) + b"".join(self.pops)


@dataclass(frozen=True)
class CoordinatorInvestigationMsg:
    """Every participant's contribution f_j(i+1)*G to participant i's public share."""

    partial_pubshares: tuple[MaybePoint, ...]

    @staticmethod
    def length(n: int) -> int:
        return 33 * n

    @staticmethod
    def from_bytes(data: bytes, n: int) -> CoordinatorInvestigationMsg:
        data = check_length(data, CoordinatorInvestigationMsg.length(n), "investigation message")
        return CoordinatorInvestigationMsg(tuple(points_from_bytes(data, n, "partial pubshare")))

    def to_bytes(self) -> bytes:
        return points_to_bytes(self.partial_pubshares)


# ---------------------------------------------------------------- outputs and state


@dataclass(frozen=True)
class DKGOutput:
    """What a DKG session gives a party.

    `secshare` (32 bytes; None for the coordinator) is this participant's share of the
    threshold secret key; `threshold_pubkey` (33 bytes, compressed) is the group key;
    `pubshares[i]` (33 bytes, compressed) is participant i's share times G.
    """

    secshare: bytes | None = field(repr=False)
    threshold_pubkey: bytes
    pubshares: tuple[bytes, ...]

    @property
    def threshold_xonly(self) -> bytes:
        """The 32-byte x-only threshold key: a Nostr identity's public key (npub)."""
        return self.threshold_pubkey[1:]


@dataclass(frozen=True)
class ParticipantState:
    t: int
    n: int
    idx: int
    com_to_secret: Point


@dataclass(frozen=True)
class ParticipantInvestigationData:
    n: int
    idx: int
    secshare: int = field(repr=False)
    pubshare: MaybePoint


def assemble_sum_coms(
    coms_to_secrets: tuple[MaybePoint, ...], sum_coms_to_nonconst_terms: tuple[MaybePoint, ...]
) -> VSSCommitment:
    """The commitment to the sum of all polynomials (secrets summed here, the rest already)."""
    return VSSCommitment((sum_points(coms_to_secrets), *sum_coms_to_nonconst_terms))


def dkg_output(secshare: int | None, sum_coms_tweaked: VSSCommitment, n: int) -> DKGOutput:
    threshold_pubkey = sum_coms_tweaked.commitment_to_secret()
    if threshold_pubkey is None:
        raise CryptoError("threshold public key is the point at infinity")
    return DKGOutput(
        None if secshare is None else secshare.to_bytes(32, "big"),
        cbytes(threshold_pubkey),
        # A pubshare is infinity exactly when that share is zero: valid, if useless.
        tuple(cbytes_ext(sum_coms_tweaked.pubshare(i)) for i in range(n)),
    )


def eq_input_of(t: int, sum_coms: VSSCommitment) -> bytes:
    """SimplPedPop's transcript for the equality check: t and the summed commitment."""
    return u32(t) + sum_coms.to_bytes()


# ---------------------------------------------------------------- participant


def participant_step1(
    seed: bytes, t: int, n: int, idx: int, aux_rand: bytes
) -> tuple[ParticipantState, ParticipantMsg, list[int]]:
    """Our commitment and pop, and the n shares f(1..n) to deliver privately."""
    if not 1 <= t <= n or not 0 <= idx < n:
        raise InvalidInputError("need 1 <= t <= n and 0 <= idx < n")
    if len(seed) != 32 or len(aux_rand) != 32:
        raise InvalidInputError("seed and aux randomness must be 32 bytes")
    vss = VSS.generate(seed, t)
    com = vss.commit()
    com_to_secret = com.commitment_to_secret()
    assert com_to_secret is not None  # the secret is a nonzero hash output
    pop = pop_prove(vss.secret(), idx, aux_rand)
    state = ParticipantState(t, n, idx, com_to_secret)
    return state, ParticipantMsg(com, pop), vss.secshares(n)


def check_coms_to_secrets(state: ParticipantState, cmsg: CoordinatorMsg) -> None:
    """Raise unless our own commitment came back and every other one has a valid pop."""
    if not point_eq(cmsg.coms_to_secrets[state.idx], state.com_to_secret):
        raise FaultyCoordinatorError(
            "commitment", "Coordinator sent unexpected first group element for local participant"
        )
    for i, com in enumerate(cmsg.coms_to_secrets):
        if i == state.idx:
            continue  # our own pop needs no check
        if com is None:
            raise InvalidContributionError(i, "commitment", "Participant sent invalid commitment")
        if not pop_verify(cmsg.pops[i], xbytes(com), i):
            raise InvalidContributionError(i, "pop", "Participant sent invalid proof-of-knowledge")


def participant_step2(
    state: ParticipantState, cmsg: CoordinatorMsg, secshare: int
) -> tuple[DKGOutput, bytes]:
    """Our DKG output and the transcript to check for equality, or blame."""
    check_coms_to_secrets(state, cmsg)
    sum_coms = assemble_sum_coms(cmsg.coms_to_secrets, cmsg.sum_coms_to_nonconst_terms)
    sum_coms_tweaked, tweak, pubtweak = sum_coms.invalid_taproot_commit()
    # Checking the tweaked share against the tweaked commitment is equivalent and spares
    # computing the untweaked pubshare on the happy path.
    secshare_tweaked = (secshare + tweak) % N
    pubshare_tweaked = sum_coms_tweaked.pubshare(state.idx)
    if not verify_secshare(secshare_tweaked, pubshare_tweaked):
        pubshare = sum_points([pubshare_tweaked, point_neg(pubtweak)])
        raise UnknownFaultyPartyError(
            ParticipantInvestigationData(state.n, state.idx, secshare, pubshare),
            "Received invalid secshare; consider using participant_investigate() "
            "to determine a faulty party",
        )
    return dkg_output(secshare_tweaked, sum_coms_tweaked, state.n), eq_input_of(state.t, sum_coms)


def participant_investigate(
    inv_data: ParticipantInvestigationData,
    cinv: CoordinatorInvestigationMsg,
    partial_secshares: list[int],
) -> NoReturn:
    """Blame whoever made our secret share inconsistent; never returns."""
    if len(partial_secshares) != inv_data.n or len(cinv.partial_pubshares) != inv_data.n:
        raise InvalidInputError("investigation needs one partial share per participant")
    if not point_eq(sum_points(cinv.partial_pubshares), inv_data.pubshare):
        raise FaultyCoordinatorError(
            "partial_pubshares", "Sum of partial pubshares not equal to pubshare"
        )
    if sum_scalars(partial_secshares) != inv_data.secshare:
        raise SecshareSumError("Sum of partial secshares not equal to secshare")
    for i, (secshare, pubshare) in enumerate(
        zip(partial_secshares, cinv.partial_pubshares, strict=True)
    ):
        if verify_secshare(secshare, pubshare):
            continue
        if i != inv_data.idx:
            raise InvalidContributionError(
                i, "secshare", "Participant sent invalid partial secshare"
            )
        # Our own share to ourselves was right when we sent it.
        raise FaultyCoordinatorError(
            "secshare", "Coordinator fiddled with the share from me to myself"
        )
    # Shares and pubshares each add up and match one by one, so the share was valid.
    raise InvalidInputError("investigation found every input consistent; nothing to blame")


# ---------------------------------------------------------------- coordinator


def coordinator_step(
    pmsgs: list[ParticipantMsg], t: int, n: int
) -> tuple[CoordinatorMsg, DKGOutput, bytes]:
    """The aggregated round-1 message, the public DKG output and the transcript."""
    if len(pmsgs) != n:
        raise InvalidInputError("need one message per participant")
    for i, pmsg in enumerate(pmsgs):
        if pmsg.com.commitment_to_secret() is None:
            # Participants would blame it too; an honest secret is never zero.
            raise InvalidContributionError(i, "commitment", "Participant sent invalid commitment")
    # Secrets' commitments stay separate so participants can check the pops (Pedersen's
    # sum, Section 5.1), the other coefficients are summed to save bandwidth.
    coms_to_secrets = tuple(pmsg.com.commitment_to_secret() for pmsg in pmsgs)
    sum_coms_to_nonconst_terms = tuple(
        sum_points(pmsg.com.commitment_to_nonconst_terms()[j] for pmsg in pmsgs)
        for j in range(t - 1)
    )
    cmsg = CoordinatorMsg(coms_to_secrets, sum_coms_to_nonconst_terms, tuple(p.pop for p in pmsgs))
    sum_coms = assemble_sum_coms(coms_to_secrets, sum_coms_to_nonconst_terms)
    sum_coms_tweaked, _, _ = sum_coms.invalid_taproot_commit()
    return cmsg, dkg_output(None, sum_coms_tweaked, n), eq_input_of(t, sum_coms)


def coordinator_investigate(pmsgs: list[ParticipantMsg]) -> list[CoordinatorInvestigationMsg]:
    """For each participant i, every participant's f_j(i+1)*G."""
    n = len(pmsgs)
    return [
        CoordinatorInvestigationMsg(tuple(pmsg.com.pubshare(i) for pmsg in pmsgs)) for i in range(n)
    ]
