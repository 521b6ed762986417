"""Threshold and signer-set change (Lagrange-weighted resharing), the signer's half.

A quorum Q of t current participants reshares the group secret s to a new t'-of-n' set.
Dealer i holds s_i = f(i + 1); with λ_i its Lagrange coefficient at 0 over Q,
Σ_{i∈Q} λ_i·s_i = s. Dealer i draws a polynomial g_i of degree t'-1 with constant
λ_i·s_i, publishes Feldman commitments to it and sends g_i(j + 1) to every new
participant j. The new share of j is

    s'_j = Σ_{i∈Q} g_i(j + 1)

which lies on g = Σ g_i, of degree t'-1 and constant s: the same group key, new shares.
Unlike a refresh the old share is NOT added: the old and new polynomials are unrelated
beyond their constant, so old shares are useless once the new epoch is active.

A receiver checks, per dealer, that the constant commitment equals λ_i·S_i (S_i the
dealer's public share at the old epoch), so no dealer can move the key on its own, and
that the constants sum to the group key. No I/O here: local.py unwraps, calls these,
and wraps the result.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from nostr_passport.crypto import curve, dealer
from nostr_passport.crypto.errors import CryptoError, InvalidInputError
from nostr_passport.signer.errors import InvalidShareError

# Distinct from the refresh prefix, so a reshape sub-share never opens as a refresh one
# (or the other way round) even for the same identity, dealer, recipient and epoch.
RESHAPE_PREFIX = b"np-reshape-transport|"


def reshape_aad(
    identity_id: str,
    dealer_id: int,
    recipient: int,
    from_epoch: int,
    to_epoch: int,
    new_threshold: int,
    new_participants: int,
    quorum: Sequence[int],
) -> bytes:
    """AAD of a reshape sub-share sealed to a new participant's transport key.

    Dealer (old participant id), recipient (new participant id), both epochs, the new
    t'-of-n' and the quorum (which fixes λ) are bound: a sub-share cannot be replayed as
    another dealer's, to another participant, into another reshape or quorum, or as a
    refresh sub-share.
    """
    raw = identity_id.encode("utf-8")
    return (
        RESHAPE_PREFIX
        + struct.pack(">H", len(raw))
        + raw
        + struct.pack(
            ">IIQQII", dealer_id, recipient, from_epoch, to_epoch, new_threshold, new_participants
        )
        + struct.pack(f">H{len(quorum)}I", len(quorum), *quorum)
    )


def check_quorum(quorum: object, threshold: int, participants: int) -> tuple[int, ...]:
    """Exactly t distinct old participant ids in 0..n-1, ascending."""
    if not isinstance(quorum, tuple | list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in quorum
    ):
        raise InvalidShareError("the reshape quorum must be a list of participant ids")
    ids = tuple(quorum)
    if len(set(ids)) != len(ids) or any(not 0 <= i < participants for i in ids):
        raise InvalidShareError(f"the reshape quorum must be distinct ids in 0..{participants - 1}")
    if len(ids) != threshold:
        raise InvalidShareError(f"the reshape quorum must have exactly {threshold} participants")
    return tuple(sorted(ids))


def quorum_coefficient(quorum: Sequence[int], participant: int) -> int:
    """λ_participant: the Lagrange coefficient at 0 over the quorum (BIP 445 x = id + 1)."""
    return curve.lagrange_coefficient([q + 1 for q in quorum], participant + 1)


def reshape_polynomial(
    constant: int, new_threshold: int, rand: dealer.RandomSource
) -> dealer.Polynomial:
    """g_i: constant λ_i·s_i, t'-1 random non-zero higher coefficients (from the HSM RNG)."""
    return dealer.Polynomial(
        new_threshold, [constant, *(dealer.generate_secret(rand) for _ in range(new_threshold - 1))]
    )


def expected_constant(
    dealer_id: int, quorum: Sequence[int], from_commitments: Sequence[bytes]
) -> bytes:
    """λ_i·S_i (33 bytes), what dealer i's constant commitment must be."""
    try:
        pubshare = curve.point_from_cbytes(
            dealer.pubshare_from_commitments(dealer_id, from_commitments), what="public share"
        )
    except (InvalidInputError, CryptoError):
        raise InvalidShareError("the old VSS commitments are malformed") from None
    point = curve.point_mul(pubshare, quorum_coefficient(quorum, dealer_id))
    return curve.cbytes_ext(point)


def check_dealer_commitments(
    commitments: Sequence[bytes],
    new_threshold: int,
    dealer_id: int,
    quorum: Sequence[int],
    from_commitments: Sequence[bytes],
) -> None:
    """t' well-formed commitments whose constant is λ_i·S_i: the dealer reshared its share."""
    if len(commitments) != new_threshold:
        raise InvalidShareError(f"reshape dealer {dealer_id} sent the wrong number of commitments")
    try:
        for c in commitments:
            curve.point_from_cbytes(bytes(c), what="reshape commitment")
    except InvalidInputError:
        raise InvalidShareError(f"reshape dealer {dealer_id} sent a malformed commitment") from None
    if not curve.ct_equal(
        bytes(commitments[0]), expected_constant(dealer_id, quorum, from_commitments)
    ):
        # A shifted constant would move the key (or, with an accomplice, hide a shift).
        raise InvalidShareError(
            f"reshape dealer {dealer_id} committed to a constant other than its weighted share"
        )


def summed_commitments(dealt: Sequence[Sequence[bytes]], group_pubkey: bytes) -> tuple[bytes, ...]:
    """The new epoch's VSS commitments Σ_i C_ik; the constant must be the group key."""
    out = []
    for k in range(len(dealt[0])):
        point = None
        for commitments in dealt:
            point = curve.point_add(
                point, curve.point_from_cbytes(bytes(commitments[k]), what="reshape commitment")
            )
        if point is None:
            raise InvalidShareError("reshaped commitments degenerate (point at infinity)")
        out.append(curve.cbytes(point))
    if not curve.ct_equal(out[0], bytes(group_pubkey)):
        raise InvalidShareError("the reshape dealers' constants do not add up to the group key")
    return tuple(out)
