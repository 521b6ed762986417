"""ChillDKG: EncPedPop plus the CertEq equality check, with host keys and recovery.

(BIP-FROST-DKG, "DKG Protocol ChillDKG" and "API Documentation".) Each participant has
a long-term host key pair, used three ways: as its identity in `SessionParams`, as its
EncPedPop encryption key pair, and as its CertEq signing key. Messages on the wire are
bytes, laid out as in the BIP's reference code. A session is:

    participant_step1 -> coordinator_step1 -> participant_step2 -> coordinator_finalize
    -> participant_finalize,   and `recover` any time later from the recovery data.

Errors, mapped from the BIP's exceptions onto `nostr_passport.crypto.errors`:

- caller mistakes (wrong lengths, invalid secret key or randomness, bad parameters)
  raise `InvalidInputError` or one of its subclasses below;
- a participant's invalid contribution raises `InvalidContributionError(participant,
  contrib)`. Raised by participant code, it is the BIP's
  `FaultyParticipantOrCoordinatorError`: the coordinator may have framed that
  participant. Raised by coordinator code it is `FaultyParticipantError`;
- `FaultyCoordinatorError` (participant None) blames the coordinator;
- `UnknownFaultyPartyError` says some share was bad; `participant_investigate` with the
  coordinator's investigation message turns it into one of the two above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from ..curve import N, cbytes, point_from_cbytes, point_mul_g
from ..errors import (
    CryptoError,
    FaultyCoordinatorError,
    InvalidContributionError,
    InvalidInputError,
    UnknownFaultyPartyError,
)
from . import certeq, encpedpop
from .common import (
    MalformedMessageError,
    check_length,
    chunks,
    dkg_hash,
    scalars_from_bytes,
    scalars_to_bytes,
    u32,
)
from .simplpedpop import DKGOutput, dkg_output
from .vss import VSSCommitment, verify_secshare

MAX_PARTICIPANTS = 2**32 - 1

# ---------------------------------------------------------------- errors


class HostSeckeyError(InvalidInputError):
    """The host secret key is out of range or does not match the session's host keys."""


class ThresholdOrCountError(InvalidInputError):
    """`1 <= t <= len(hostpubkeys) <= 2**32 - 1` does not hold."""


class RandomnessError(InvalidInputError):
    """The randomness is all zeros: the random number generator is broken."""


class RecoveryDataError(InvalidInputError):
    """The recovery data is malformed, inconsistent or not certified."""


class DuplicateHostPubkeyError(InvalidContributionError):
    """Two participants have the same host public key, so one of them is faulty.

    `participant1` < `participant2` are their indices; `participant` is the second.
    """

    def __init__(self, participant1: int, participant2: int) -> None:
        self.participant1 = participant1
        self.participant2 = participant2
        super().__init__(
            participant2,
            "hostpubkey",
            f"participants {participant1} and {participant2} have the same host public key",
        )


# ---------------------------------------------------------------- host keys and parameters


def hostseckey_int(hostseckey: bytes) -> int:
    """The host secret key as a scalar in [1, n)."""
    check_length(hostseckey, 32, "host secret key")
    d = int.from_bytes(hostseckey, "big")
    if not 0 < d < N:
        raise HostSeckeyError("host secret key is out of range")
    return d


def hostpubkey_gen(hostseckey: bytes) -> bytes:
    """The 33-byte compressed host public key (BIP 327 IndividualPubkey) of a host secret key.

    The host key is a participant's long-term identity; it may be reused across sessions.
    """
    pubkey = point_mul_g(hostseckey_int(hostseckey))
    assert pubkey is not None
    return cbytes(pubkey)


@dataclass(frozen=True)
class SessionParams:
    """The common parameters of a session: ordered host public keys and threshold t.

    Every participant must hold authentic copies of all host public keys (compare
    `params_id` out of band); the order is part of the session and fixes the indices.
    """

    hostpubkeys: tuple[bytes, ...]
    t: int

    @property
    def n(self) -> int:
        return len(self.hostpubkeys)


def params_validate(params: SessionParams) -> None:
    """Raise unless t and n are in range and the host keys are valid and distinct."""
    if isinstance(params.t, bool) or not isinstance(params.t, int):
        raise ThresholdOrCountError("t must be an integer")
    if not 1 <= params.t <= params.n <= MAX_PARTICIPANTS:
        raise ThresholdOrCountError("need 1 <= t <= n <= 2**32 - 1")
    for i, hostpubkey in enumerate(params.hostpubkeys):
        try:
            point_from_cbytes(hostpubkey, what="host public key")
        except InvalidInputError:
            raise InvalidContributionError(i, "hostpubkey", "invalid host public key") from None
    first_index: dict[bytes, int] = {}
    for i, hostpubkey in enumerate(params.hostpubkeys):
        if hostpubkey in first_index:
            raise DuplicateHostPubkeyError(first_index[hostpubkey], i)
        first_index[hostpubkey] = i


def params_id(params: SessionParams) -> bytes:
    """A 32-byte hash of the parameters, for comparing them out of band.

    If all participants see the same params_id, they agree on every host public key
    and on t, and so hold authentic host keys even if these were relayed unauthenticated.
    """
    params_validate(params)
    return dkg_hash("params_hash", u32(params.t) + b"".join(params.hostpubkeys))


def index_of(hostpubkey: bytes, hostpubkeys: tuple[bytes, ...], error: str) -> int:
    """Our index among the host keys, or HostSeckeyError(error)."""
    try:
        return hostpubkeys.index(hostpubkey)
    except ValueError:
        raise HostSeckeyError(error) from None


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class CoordinatorMsg1:
    """Round 1 to all: the EncPedPop message and every participant's encrypted share sum.

    All sums go to everyone (not just each its own) so that they enter the transcript
    and every participant can later recover from the common recovery data.
    """

    enc_cmsg: encpedpop.CoordinatorMsg
    enc_secshares: tuple[int, ...]

    @staticmethod
    def length(t: int, n: int) -> int:
        return encpedpop.CoordinatorMsg.length(t, n) + 32 * n

    @staticmethod
    def from_bytes(data: bytes, t: int, n: int) -> CoordinatorMsg1:
        data = check_length(data, CoordinatorMsg1.length(t, n), "cmsg1")
        enc_len = encpedpop.CoordinatorMsg.length(t, n)
        return CoordinatorMsg1(
            encpedpop.CoordinatorMsg.from_bytes(data[:enc_len], t, n),
            tuple(scalars_from_bytes(data[enc_len:], n, "encrypted secret share")),
        )

    def to_bytes(self) -> bytes:
        return self.enc_cmsg.to_bytes() + scalars_to_bytes(self.enc_secshares)


@dataclass(frozen=True)
class RecoveryData:
    """The transcript and certificate of a successful session (public; shares encrypted).

    Its bytes are what `participant_finalize`, `coordinator_finalize` and `recover` use:
    t || sum_coms || hostpubkeys || pubnonces || enc_secshares || cert. Anyone can read
    the parameters and public output from it, so it may need encrypting for privacy.
    """

    t: int
    sum_coms: VSSCommitment
    hostpubkeys: tuple[bytes, ...]
    pubnonces: tuple[bytes, ...]
    enc_secshares: tuple[int, ...]
    cert: bytes

    @staticmethod
    def from_bytes(data: bytes) -> RecoveryData:
        """Parse recovery data, or RecoveryDataError."""
        try:
            return RecoveryData._parsed(bytes(data))
        except InvalidInputError:
            raise RecoveryDataError("Failed to deserialize recovery data") from None

    @staticmethod
    def _parsed(data: bytes) -> RecoveryData:
        if len(data) < 4:
            raise InvalidInputError("recovery data too short")
        t = int.from_bytes(data[:4], "big")
        rest = data[4:]
        if len(rest) < 33 * t:
            raise InvalidInputError("recovery data too short")
        sum_coms = VSSCommitment.from_bytes(rest[: 33 * t], t)
        rest = rest[33 * t :]
        # Per participant: host key, pubnonce, encrypted share, signature.
        n, remainder = divmod(len(rest), 33 + 33 + 32 + 64)
        if remainder:
            raise InvalidInputError("recovery data has a partial participant entry")
        hostpubkeys = tuple(chunks(rest, 33, n))
        pubnonces = tuple(chunks(rest[33 * n :], 33, n))
        enc_secshares = tuple(scalars_from_bytes(rest[66 * n : 98 * n], n, "encrypted share"))
        cert = rest[98 * n :]
        return RecoveryData(t, sum_coms, hostpubkeys, pubnonces, enc_secshares, cert)

    @property
    def params(self) -> SessionParams:
        return SessionParams(self.hostpubkeys, self.t)

    @property
    def eq_input(self) -> bytes:
        """The ChillDKG transcript the certificate signs."""
        return (
            u32(self.t)
            + self.sum_coms.to_bytes()
            + b"".join(self.hostpubkeys)
            + b"".join(self.pubnonces)
            + scalars_to_bytes(self.enc_secshares)
        )

    def to_bytes(self) -> bytes:
        return self.eq_input + self.cert


# ---------------------------------------------------------------- participant


@dataclass(frozen=True)
class ParticipantState1:
    """After step 1 (holds nothing secret: the host key is passed again to step 2)."""

    params: SessionParams
    idx: int
    enc_state: encpedpop.ParticipantState


@dataclass(frozen=True)
class ParticipantState2:
    """After step 2: the output waiting for the certificate (secshare hidden in repr)."""

    params: SessionParams
    eq_input: bytes
    dkg_output: DKGOutput


def participant_step1(
    hostseckey: bytes, params: SessionParams, random: bytes
) -> tuple[ParticipantState1, bytes]:
    """Start a session: our state and our first message (pmsg1) for the coordinator.

    `random` must be 32 FRESH random bytes; the state must be used only once.
    """
    hostpubkey = hostpubkey_gen(hostseckey)
    params_validate(params)
    idx = index_of(
        hostpubkey, params.hostpubkeys, "Host secret key does not match any host public key"
    )
    check_length(random, 32, "randomness")
    if not any(random):
        raise RandomnessError("randomness is all zeros")
    enc_state, enc_pmsg = encpedpop.participant_step1(
        # EncPedPop only hashes its seed, so the high-entropy host key can serve as seed;
        # the host key is also the ECDH key pair (Schnorr and ECDH are jointly secure).
        seed=hostseckey,
        deckey=hostseckey,
        enckeys=params.hostpubkeys,
        t=params.t,
        idx=idx,
        random=random,
    )
    return ParticipantState1(params, idx, enc_state), enc_pmsg.to_bytes()


def participant_step2(
    hostseckey: bytes, state1: ParticipantState1, cmsg1: bytes, aux_rand: bytes
) -> tuple[ParticipantState2, bytes]:
    """Check the coordinator's first message; our state and our signature (pmsg2).

    `aux_rand` is BIP-340 auxiliary randomness (32 fresh bytes). After sending pmsg2
    the host key must be kept even if the session seems to fail: another participant
    may finish and later convince us with the recovery data.
    """
    hostpubkey = hostpubkey_gen(hostseckey)
    check_length(aux_rand, 32, "aux randomness")
    params, idx = state1.params, state1.idx
    if hostpubkey != params.hostpubkeys[idx]:
        raise HostSeckeyError("Host secret key does not match the one used in participant_step1")
    try:
        cmsg = CoordinatorMsg1.from_bytes(cmsg1, params.t, params.n)
    except MalformedMessageError as exc:
        raise FaultyCoordinatorError(
            "cmsg1", f"coordinator sent a malformed cmsg1: {exc}"
        ) from None
    output, eq_input = encpedpop.participant_step2(
        state1.enc_state, hostseckey, cmsg.enc_cmsg, cmsg.enc_secshares[idx]
    )
    # The transcript includes every encrypted share, so all agree on the recovery data.
    eq_input += scalars_to_bytes(cmsg.enc_secshares)
    sig = certeq.participant_step(hostseckey_int(hostseckey), idx, eq_input, aux_rand)
    return ParticipantState2(params, eq_input, output), sig


def participant_finalize(state2: ParticipantState2, cmsg2: bytes) -> tuple[DKGOutput, bytes]:
    """Check the certificate (cmsg2): our DKG output and the recovery data.

    On success this participant deems the session successful. On an error it must NOT
    conclude the session failed (others may have succeeded): keep the host key.
    """
    cert = check_length(cmsg2, certeq.cert_len(state2.params.n), "cmsg2")
    if certeq.first_invalid_signature(state2.params.hostpubkeys, state2.eq_input, cert) is not None:
        # The coordinator checked every signature before assembling the certificate.
        raise FaultyCoordinatorError(
            "cert", "Coordinator has provided a certificate with an invalid signature"
        )
    return state2.dkg_output, state2.eq_input + cert


def participant_investigate(error: UnknownFaultyPartyError, cinv: bytes) -> NoReturn:
    """Blame a party after participant_step2 raised UnknownFaultyPartyError.

    `cinv` is the coordinator's investigation message for us. Always raises
    InvalidContributionError (a suspected participant) or FaultyCoordinatorError.
    """
    inv_data = error.inv_data
    if not isinstance(inv_data, encpedpop.ParticipantInvestigationData):
        raise InvalidInputError("error does not come from ChillDKG participant_step2")
    n = inv_data.simpl_inv_data.n
    try:
        cinv_parsed = encpedpop.CoordinatorInvestigationMsg.from_bytes(cinv, n)
    except MalformedMessageError as exc:
        raise FaultyCoordinatorError("cinv", f"malformed investigation message: {exc}") from None
    encpedpop.participant_investigate(inv_data, cinv_parsed)


# ---------------------------------------------------------------- coordinator


@dataclass(frozen=True)
class CoordinatorState:
    params: SessionParams
    eq_input: bytes
    dkg_output: DKGOutput


def parsed_pmsgs1(pmsgs1: Sequence[bytes], params: SessionParams) -> list[encpedpop.ParticipantMsg]:
    """The participants' first messages, parsed; blames the sender of a malformed one."""
    if len(pmsgs1) != params.n:
        raise InvalidInputError("need exactly one pmsg1 per participant")
    parsed = []
    for i, pmsg1 in enumerate(pmsgs1):
        try:
            parsed.append(encpedpop.ParticipantMsg.from_bytes(pmsg1, params.t, params.n))
        except MalformedMessageError as exc:
            raise InvalidContributionError(i, "pmsg1", f"malformed pmsg1: {exc}") from None
    return parsed


def coordinator_step1(
    pmsgs1: Sequence[bytes], params: SessionParams
) -> tuple[CoordinatorState, bytes]:
    """Aggregate the first messages: our state and the broadcast cmsg1."""
    params_validate(params)
    enc_cmsg, output, eq_input, enc_secshares = encpedpop.coordinator_step(
        parsed_pmsgs1(pmsgs1, params), params.t, params.hostpubkeys
    )
    eq_input += scalars_to_bytes(enc_secshares)
    cmsg1 = CoordinatorMsg1(enc_cmsg, tuple(enc_secshares))
    return CoordinatorState(params, eq_input, output), cmsg1.to_bytes()


def coordinator_finalize(
    state: CoordinatorState, pmsgs2: Sequence[bytes]
) -> tuple[bytes, DKGOutput, bytes]:
    """Assemble the certificate: cmsg2 for everyone, the public output, the recovery data."""
    n = state.params.n
    if len(pmsgs2) != n:
        raise InvalidInputError("need exactly one pmsg2 per participant")
    sigs = [check_length(pmsg2, 64, "pmsg2") for pmsg2 in pmsgs2]
    cert = certeq.coordinator_step(sigs)
    bad = certeq.first_invalid_signature(state.params.hostpubkeys, state.eq_input, cert)
    if bad is not None:
        raise InvalidContributionError(
            bad, "signature", "Participant has provided an invalid signature for the certificate"
        )
    return cert, state.dkg_output, state.eq_input + cert


def coordinator_investigate(pmsgs1: Sequence[bytes], params: SessionParams) -> list[bytes]:
    """One investigation message per participant (public; may be broadcast to all)."""
    params_validate(params)
    cinvs = encpedpop.coordinator_investigate(parsed_pmsgs1(pmsgs1, params))
    return [cinv.to_bytes() for cinv in cinvs]


# ---------------------------------------------------------------- recovery


def certified(recovery_data: bytes) -> RecoveryData:
    """Parsed recovery data with valid parameters and a valid certificate."""
    data = RecoveryData.from_bytes(recovery_data)
    try:
        params_validate(data.params)
    except (InvalidInputError, InvalidContributionError):
        raise RecoveryDataError("Invalid session parameters in recovery data") from None
    if certeq.first_invalid_signature(data.hostpubkeys, data.eq_input, data.cert) is not None:
        raise RecoveryDataError("Invalid certificate in recovery data")
    return data


def recover(hostseckey: bytes | None, recovery_data: bytes) -> tuple[DKGOutput, SessionParams]:
    """The DKG output and parameters of a finished session, from its recovery data.

    `hostseckey` None recovers the coordinator's output (no secshare). Use it after a
    finalize error once another party shares the recovery data, or to restore a device
    from a backup of its host key and the recovery data.
    """
    data = certified(recovery_data)
    n = len(data.hostpubkeys)
    try:
        sum_coms_tweaked, tweak, _ = data.sum_coms.invalid_taproot_commit()
    except CryptoError:
        raise RecoveryDataError("Invalid commitments in recovery data") from None
    if hostseckey is None:
        return dkg_output(None, sum_coms_tweaked, n), data.params
    idx = index_of(
        hostpubkey_gen(hostseckey),
        data.hostpubkeys,
        "Host secret key does not match any host public key in the recovery data",
    )
    try:
        secshare = encpedpop.decrypt_sum(
            hostseckey,
            data.hostpubkeys[idx],
            data.pubnonces,
            encpedpop.enc_context(data.t, data.hostpubkeys),
            idx,
            data.enc_secshares[idx],
        )
    except InvalidContributionError:
        raise RecoveryDataError("Invalid public nonce in recovery data") from None
    secshare_tweaked = (secshare + tweak) % N
    # Our own signature certifies this check passed in the session; re-check anyway.
    if not verify_secshare(secshare_tweaked, sum_coms_tweaked.pubshare(idx)):
        raise RecoveryDataError("Recovered secret share does not match the commitments")
    return dkg_output(secshare_tweaked, sum_coms_tweaked, n), data.params
