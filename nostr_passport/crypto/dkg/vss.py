"""Feldman verifiable secret sharing, as ChillDKG uses it.

A dealer's polynomial f of degree t-1 gives participant i (0-based) the share f(i+1);
the commitment is (a_0*G, ..., a_{t-1}*G). Commitments may contain the point at
infinity: sums of valid commitments can be infinite, and refusing them would let one
participant make an honest sum unparseable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..curve import (
    MaybePoint,
    N,
    Point,
    point_eq,
    point_mul,
    point_mul_g,
    scalar_from_bytes,
    tagged_hash,
    xbytes,
)
from ..errors import CryptoError
from .common import dkg_hash, points_from_bytes, points_to_bytes, sum_points, u32


def polynomial_value(coeffs: tuple[int, ...], x: int) -> int:
    """f(x) for f(X) = coeffs[0] + coeffs[1]*X + ..., by Horner's rule."""
    value = 0
    for coeff in reversed(coeffs):
        value = (value * x + coeff) % N
    return value


def verify_secshare(secshare: int, pubshare: MaybePoint) -> bool:
    """Whether secshare*G equals the (caller-computed) pubshare."""
    return point_eq(point_mul_g(secshare), pubshare)


@dataclass(frozen=True)
class VSSCommitment:
    """Commitments to the t coefficients of a polynomial (infinity allowed)."""

    ges: tuple[MaybePoint, ...]

    @property
    def t(self) -> int:
        return len(self.ges)

    @staticmethod
    def from_bytes(data: bytes, t: int) -> VSSCommitment:
        """Parse 33*t bytes (length checked by the caller's message parser)."""
        return VSSCommitment(tuple(points_from_bytes(data, t, "VSS commitment")))

    def to_bytes(self) -> bytes:
        return points_to_bytes(self.ges)

    def pubshare(self, i: int) -> MaybePoint:
        """The commitment evaluated at participant i's point x = i+1: f(i+1)*G."""
        x = i + 1
        return sum_points(point_mul(ge, pow(x, j, N)) for j, ge in enumerate(self.ges))

    def __add__(self, other: VSSCommitment) -> VSSCommitment:
        if self.t != other.t:
            raise CryptoError("VSS commitments of different thresholds cannot be added")
        return VSSCommitment(
            tuple(sum_points(pair) for pair in zip(self.ges, other.ges, strict=True))
        )

    def commitment_to_secret(self) -> MaybePoint:
        return self.ges[0]

    def commitment_to_nonconst_terms(self) -> tuple[MaybePoint, ...]:
        return self.ges[1:]

    def invalid_taproot_commit(self) -> tuple[VSSCommitment, int, Point]:
        """This commitment moved by tweak*G, the tweak, and tweak*G.

        tweak = hash_TapTweak(x(secret commitment)) is BIP 341's commitment to an
        unspendable script path. Without it a malicious participant could hide a
        Taproot script path in the threshold key (BIP-FROST-DKG, "Taproot-safe").
        Every secret share must be moved by the same tweak.
        """
        secret_point = self.commitment_to_secret()
        if secret_point is None:
            # Needs every participant to collude against its own pops; never honest.
            raise CryptoError("the sum of the commitments to the secrets is infinity")
        tweak = scalar_from_bytes(tagged_hash("TapTweak", xbytes(secret_point)), what="tweak")
        pubtweak = point_mul_g(tweak)
        assert pubtweak is not None  # a zero tweak would need a SHA-256 preimage
        shift = VSSCommitment((pubtweak,) + (None,) * (self.t - 1))
        return self + shift, tweak, pubtweak


@dataclass(frozen=True)
class VSS:
    """One dealer's secret polynomial; the coefficients never appear in a repr."""

    coeffs: tuple[int, ...] = field(repr=False)

    @staticmethod
    def generate(seed: bytes, t: int) -> VSS:
        """The polynomial derived from `seed`: a_j = hash(seed || j)."""
        coeffs = tuple(
            scalar_from_bytes(dkg_hash("vss coeffs", seed + u32(j)), what="VSS coefficient")
            for j in range(t)
        )
        return VSS(coeffs)

    def secshare_for(self, i: int) -> int:
        """f(i+1), the share of participant i (never f(0), the secret)."""
        if i < 0:
            raise CryptoError("participant index must not be negative")
        return polynomial_value(self.coeffs, i + 1)

    def secshares(self, n: int) -> list[int]:
        return [self.secshare_for(i) for i in range(n)]

    def commit(self) -> VSSCommitment:
        return VSSCommitment(tuple(point_mul_g(c) for c in self.coeffs))

    def secret(self) -> int:
        return self.coeffs[0]
