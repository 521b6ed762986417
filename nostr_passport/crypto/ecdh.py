"""Threshold ECDH for NIP-44 / NIP-04 decryption, with verifiable shares.

The group secret s = Σ λ_i·s_i over any t participants, so s·P = Σ λ_i·s_i·P. Each
signer returns C_i = λ_i·s_i·P together with a BIP 374 DLEQ proof that
log_G(λ_i·S_i) == log_P(C_i), where S_i = s_i·G is its public share; the combiner checks
every proof before adding, so one faulty signer is caught and named instead of silently
producing a wrong conversation key.

Only the x coordinate of s·P is returned: that is what NIP-04 and NIP-44 use. Because
x(s·P) == x(-s·P), the y parity of the group key (BIP 445's even-y negation) does not
change the result, so the shares need no parity adjustment.

The proofs carry a session message m (BIP 374's optional message) binding the peer key
and the participant set:

    m = hash_{NostrPassport/ecdh}(cbytes(P) || id_1 || … || id_k)

with the ids sorted ascending, one byte each. A proof made for one peer or one set of
signers (hence one Lagrange coefficient) is therefore useless in any other session.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from . import curve, dleq
from .curve import N, Point
from .dealer import check_participant
from .errors import CryptoError, InvalidContributionError, InvalidInputError

TAG_SESSION = "NostrPassport/ecdh"


@dataclass(frozen=True)
class EcdhShare:
    """C_i = λ_i·s_i·P (33-byte compressed) and its 64-byte DLEQ proof.

    The point is hidden from repr: t of them add up to the shared secret.
    """

    participant: int
    point: bytes = field(repr=False)
    proof: bytes


# ---------------------------------------------------------------- inputs


def peer_point(peer: bytes) -> Point:
    """The peer's public key: 32-byte x-only (Nostr; even y) or 33-byte compressed."""
    if isinstance(peer, bytes | bytearray) and len(peer) == 32:
        return curve.lift_x(bytes(peer))
    if isinstance(peer, bytes | bytearray) and len(peer) == 33:
        return curve.point_from_cbytes(bytes(peer), what="peer public key")
    raise InvalidInputError("peer public key must be 32 bytes (x-only) or 33 bytes")


def session_ids(ids: Sequence[int]) -> tuple[int, ...]:
    """The participant set, validated: non-empty, distinct BIP 445 ids in [0, 255).

    Ids below 255 also make the one-byte encoding in the session message unambiguous.
    """
    if isinstance(ids, bytes | bytearray | str) or not isinstance(ids, Sequence):
        raise InvalidInputError("participant ids must be a sequence of integers")
    if not ids:
        raise InvalidInputError("participant set is empty")
    for i in ids:
        check_participant(i)
    if len(set(ids)) != len(ids):
        raise InvalidInputError("duplicate participant ids")
    return tuple(ids)


def session_message(peer: Point, ids: Sequence[int]) -> bytes:
    """The 32-byte DLEQ message m binding peer key and participant set (module docstring)."""
    return curve.tagged_hash(TAG_SESSION, curve.cbytes(peer) + bytes(sorted(ids)))


def lagrange_at(participant: int, ids: Sequence[int]) -> int:
    """λ_i for BIP 445 id `participant` in set `ids` (evaluation points are id + 1)."""
    return curve.lagrange_coefficient([i + 1 for i in ids], participant + 1)


# ---------------------------------------------------------------- signer side


def ecdh_share(
    secshare: int, participant: int, ids: Sequence[int], peer: bytes, rand: bytes
) -> EcdhShare:
    """Participant `participant`'s verifiable ECDH share for `peer` in session `ids`.

    `rand` is 32 bytes of fresh randomness for the DLEQ proof (BIP 374 auxiliary data).
    """
    curve.check_scalar(secshare, what="secret share", nonzero=True)
    check_participant(participant)
    ids = session_ids(ids)
    if participant not in ids:
        raise InvalidInputError("participant is not in the session's participant set")
    P = peer_point(peer)
    # λ_i·s_i is nonzero: λ_i is a ratio of nonzero values mod a prime, and s_i != 0.
    a = lagrange_at(participant, ids) * secshare % N
    C = curve.point_mul(P, a)
    if C is None:
        raise CryptoError("unexpected point at infinity")
    proof = dleq.generate_proof(a, P, rand, curve.G, session_message(P, ids))
    return EcdhShare(participant, curve.cbytes(C), proof)


# ---------------------------------------------------------------- combiner side


def _shares_by_participant(shares: Iterable[EcdhShare], ids: Sequence[int]) -> dict[int, EcdhShare]:
    """Index shares by participant, insisting on exactly one share per id in `ids`.

    These are the coordinator's own bookkeeping errors (it must have matched each reply
    to the signer it asked), so they raise InvalidInputError, not a contribution error.
    """
    by_id: dict[int, EcdhShare] = {}
    for share in shares:
        if not isinstance(share, EcdhShare):
            raise InvalidInputError("ECDH shares must be EcdhShare objects")
        check_participant(share.participant)
        if share.participant not in ids:
            raise InvalidInputError("ECDH share from a participant outside the session")
        if share.participant in by_id:
            raise InvalidInputError("two ECDH shares from the same participant")
        by_id[share.participant] = share
    if len(by_id) != len(ids):
        raise InvalidInputError("missing ECDH shares for some participants")
    return by_id


def verified_share_point(
    share: EcdhShare, pubshare: bytes, ids: Sequence[int], P: Point, m: bytes
) -> Point:
    """C_i after checking its proof against A_i = λ_i·S_i; raises naming the participant."""
    i = share.participant
    try:
        S_i = curve.point_from_cbytes(pubshare, what="public share")
    except InvalidInputError as exc:
        raise InvalidContributionError(i, "pubshare") from exc
    try:
        C_i = curve.point_from_cbytes(share.point, what="ECDH share")
    except InvalidInputError as exc:
        raise InvalidContributionError(i, "ecdh_share") from exc
    A_i = curve.point_mul(S_i, lagrange_at(i, ids))
    if not dleq.verify_proof(A_i, P, C_i, share.proof, curve.G, m):
        raise InvalidContributionError(i, "ecdh_share")
    return C_i


def combine_ecdh_shares(
    shares: Iterable[EcdhShare],
    pubshares: Mapping[int, bytes],
    ids: Sequence[int],
    peer: bytes,
    tweak: int = 0,
) -> bytes:
    """The 32-byte x coordinate of (s + tweak)·P, from one verified share per id in `ids`.

    Every proof is checked first, in the order of `ids`; the first bad one raises
    InvalidContributionError(participant, "ecdh_share") (or "pubshare" for an unusable
    public share). For a tweaked key d = g·s + t (g = ±1 the accumulated negation) pass
    tweak = g·t mod N: x(d·P) == x(g·d·P) == x((s + g·t)·P).
    """
    ids = session_ids(ids)
    P = peer_point(peer)
    curve.check_scalar(tweak, what="tweak")
    if not isinstance(pubshares, Mapping):
        raise InvalidInputError("public shares must be a mapping of participant id to bytes")
    missing = [i for i in ids if i not in pubshares]
    if missing:
        raise InvalidInputError("no public share for some participants")
    by_id = _shares_by_participant(shares, ids)
    m = session_message(P, ids)
    points = [verified_share_point(by_id[i], pubshares[i], ids, P, m) for i in ids]
    total = curve.point_add(curve.point_sum(points), curve.point_mul(P, tweak))
    if total is None:
        raise InvalidInputError("tweaked ECDH result is the point at infinity")
    return curve.xbytes(total)
