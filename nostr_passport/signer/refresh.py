"""Proactive share refresh (zero-constant resharing), the signer's half: pure functions.

Every participant i deals a random polynomial δ_i of degree t-1 with δ_i(0) = 0 and
publishes Feldman commitments to it; participant j's new share is

    s'_j = s_j + Σ_i δ_i(j + 1)

and the new commitments are the old ones plus Σ_i of the dealers' commitments. The
constant term (the group key) is unchanged because every δ_i(0) is 0, which each
receiver checks on the commitments: a dealer that slipped in a non-zero constant would
otherwise move the npub. Old and new shares lie on different polynomials, so a thief
who collects shares across epochs learns nothing from mixing them.

No I/O here: local.py unwraps, calls these, and wraps the result.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from nostr_passport.crypto import curve, dealer
from nostr_passport.crypto.errors import InvalidContributionError, InvalidInputError
from nostr_passport.signer.errors import InvalidShareError

REFRESH_PREFIX = b"np-refresh-transport|"
ZERO_COMMITMENT = bytes(33)


def refresh_aad(identity_id: str, dealer_id: int, recipient: int, to_epoch: int) -> bytes:
    """AAD of a refresh sub-share sealed to a recipient's transport key.

    Binding dealer, recipient and target epoch means a sub-share cannot be replayed as
    another dealer's, delivered to another participant, or reused in a later refresh.
    """
    raw = identity_id.encode("utf-8")
    return (
        REFRESH_PREFIX
        + struct.pack(">H", len(raw))
        + raw
        + struct.pack(">IIQ", dealer_id, recipient, to_epoch)
    )


def zero_polynomial(threshold: int, rand: dealer.RandomSource) -> dealer.Polynomial:
    """δ with δ(0) = 0 and t-1 random non-zero higher coefficients (from the HSM RNG)."""
    return dealer.Polynomial(
        threshold, [0, *(dealer.generate_secret(rand) for _ in range(threshold - 1))]
    )


def check_zero_commitments(commitments: Sequence[bytes], threshold: int, dealer_id: int) -> None:
    """A refresh dealer's commitments: t of them, the constant one the point at infinity."""
    if len(commitments) != threshold:
        raise InvalidShareError(f"refresh dealer {dealer_id} sent the wrong number of commitments")
    if bytes(commitments[0]) != ZERO_COMMITMENT:
        # The whole point: a non-zero constant would change the identity's key.
        raise InvalidShareError(f"refresh dealer {dealer_id} committed to a non-zero constant")
    try:
        for c in commitments[1:]:
            curve.point_from_cbytes(bytes(c), what="refresh commitment")
    except InvalidInputError:
        raise InvalidShareError(f"refresh dealer {dealer_id} sent a malformed commitment") from None


def require_consistent_share(
    participant: int, share: int, commitments: Sequence[bytes], failure: str
) -> None:
    """InvalidShareError(`failure`) unless `share` is participant's point on `commitments`
    (Feldman check; refresh and reshape sub-shares and the summed shares alike)."""
    try:
        dealer.verify_share(participant, share, commitments)
    except (InvalidContributionError, InvalidInputError):
        raise InvalidShareError(failure) from None


def summed_commitments(
    old: Sequence[bytes], deltas: Sequence[Sequence[bytes]]
) -> tuple[bytes, ...]:
    """The new epoch's VSS commitments: old + Σ dealers', position by position."""
    out = []
    for k, base in enumerate(old):
        point = curve.point_from_cbytes_ext(bytes(base), what="VSS commitment")
        for delta in deltas:
            point = curve.point_add(
                point, curve.point_from_cbytes_ext(bytes(delta[k]), what="refresh commitment")
            )
        if point is None and k > 0:
            raise InvalidShareError("refreshed commitments degenerate (point at infinity)")
        out.append(curve.cbytes_ext(point))
    return tuple(out)
