"""Trusted-dealer key generation for secp256k1 (RFC 9591 Appendix C).

The dealer picks f(x) = a_0 + a_1·x + … + a_{t-1}·x^{t-1} mod N with a_0 the group
secret, hands out f(x) at one point per participant, and publishes the Feldman VSS
commitments a_k·G so that each participant can check its share.

Identifiers follow BIP 445, not RFC 9591: participant ids are 0..n-1 and participant `i`
holds f(i + 1). RFC 9591's identifier j (1..n) is our participant j - 1; the share
values are identical, only the label is shifted.

Where RFC 9591 returns the group public key it is the raw f(0)·G, not parity-adjusted:
BIP 445 applies the even-y rule later, when it builds the signing context.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from . import curve
from .curve import MaybePoint, N
from .errors import CryptoError, InvalidContributionError, InvalidInputError

# 255 because ids are used as one byte elsewhere (BIP 445 ids < 2^32 in principle, but
# our signer protocol and the ECDH session message encode them in one byte).
MAX_PARTICIPANTS = 255

# A healthy RNG needs a second draw with probability ~2^-128; reaching this many means
# the source is broken (stuck at zero, say), and looping forever would hide that.
_MAX_RANDOM_DRAWS = 64

RandomSource = Callable[[int], bytes]


# ---------------------------------------------------------------- data


@dataclass(frozen=True, eq=False)
class Polynomial:
    """f(x) = coefficients[0] + coefficients[1]·x + … over Z_N; coefficients[0] is the secret.

    `coefficients` is a list so that `wipe()` can empty it in place and every holder of
    this object sees the wiped state. Python ints are immutable, so wiping drops the
    references rather than overwriting memory: the most CPython allows.

    The constant term may be zero (a zero-constant polynomial for proactive refresh);
    the others may not, because a zero top coefficient silently lowers the threshold
    and a zero commitment has no 33-byte compressed encoding.
    """

    threshold: int
    coefficients: list[int] = field(repr=False)

    def __post_init__(self) -> None:
        check_threshold(self.threshold)
        if not isinstance(self.coefficients, list) or len(self.coefficients) != self.threshold:
            raise InvalidInputError("a polynomial needs exactly `threshold` coefficients")
        curve.check_scalar(self.coefficients[0], what="constant coefficient")
        for a_k in self.coefficients[1:]:
            curve.check_scalar(a_k, what="polynomial coefficient", nonzero=True)

    @property
    def wiped(self) -> bool:
        return not self.coefficients

    def wipe(self) -> None:
        """Drop the coefficients; later use raises CryptoError."""
        self.coefficients.clear()

    def evaluate(self, x: int) -> int:
        """f(x) mod N."""
        return polynomial_evaluate(self._live_coefficients(), x)

    def share_for(self, participant: int) -> int:
        """The share of BIP 445 participant `participant`: f(participant + 1)."""
        check_participant(participant)
        return self.evaluate(participant + 1)

    def commitments(self) -> tuple[bytes, ...]:
        """Feldman VSS commitments a_k·G (33 bytes; 33 zero bytes for a zero constant)."""
        return vss_commit(self._live_coefficients())

    def _live_coefficients(self) -> list[int]:
        if self.wiped:
            raise CryptoError("polynomial has been wiped")
        return self.coefficients


@dataclass(frozen=True, eq=False)
class SecretShare:
    """One participant's share f(participant + 1); compared by identity, never by value."""

    participant: int
    value: int = field(repr=False)


@dataclass(frozen=True)
class DealerOutput:
    """Everything a dealing produces: secret shares and the public group information."""

    threshold: int
    shares: tuple[SecretShare, ...]
    vss_commitments: tuple[bytes, ...]
    group_pubkey: bytes  # 33-byte compressed f(0)·G, not parity-adjusted
    pubshares: tuple[bytes, ...]  # 33-byte compressed f(id + 1)·G, indexed by id

    @property
    def n(self) -> int:
        return len(self.shares)


# ---------------------------------------------------------------- validation


def check_threshold(t: int) -> int:
    if not _is_int(t) or not 1 <= t <= MAX_PARTICIPANTS:
        raise InvalidInputError(f"threshold must be an integer in [1, {MAX_PARTICIPANTS}]")
    return t


def check_participant(participant: int, n: int = MAX_PARTICIPANTS) -> int:
    """A BIP 445 participant id: an integer in [0, n)."""
    if not _is_int(participant) or not 0 <= participant < n:
        raise InvalidInputError(f"participant id must be an integer in [0, {n})")
    return participant


def _check_t_of_n(t: int, n: int) -> None:
    if not _is_int(n) or not 1 <= n <= MAX_PARTICIPANTS:
        raise InvalidInputError(f"n must be an integer in [1, {MAX_PARTICIPANTS}]")
    check_threshold(t)
    if t > n:
        raise InvalidInputError("threshold must not exceed the number of participants")


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# ---------------------------------------------------------------- RFC 9591 steps


def generate_secret(rand: RandomSource = os.urandom) -> int:
    """A uniformly random scalar in [1, N), by rejection sampling from `rand`."""
    for _ in range(_MAX_RANDOM_DRAWS):
        b = rand(32)
        if not isinstance(b, bytes | bytearray) or len(b) != 32:
            raise CryptoError("randomness source did not return 32 bytes")
        x = int.from_bytes(b, "big")
        if 0 < x < N:
            return x
    raise CryptoError("randomness source keeps returning out-of-range values")


def generate_polynomial(secret: int, t: int, rand: RandomSource = os.urandom) -> Polynomial:
    """A polynomial of degree t-1 with constant term `secret` and random other coefficients."""
    curve.check_scalar(secret, what="secret", nonzero=True)
    check_threshold(t)
    return Polynomial(t, [secret] + [generate_secret(rand) for _ in range(t - 1)])


def polynomial_evaluate(coefficients: Sequence[int], x: int) -> int:
    """f(x) mod N by Horner's rule."""
    value = 0
    for a_k in reversed(coefficients):
        value = (value * x + a_k) % N
    return value


def vss_commit(coefficients: Sequence[int]) -> tuple[bytes, ...]:
    """[a_0·G, …, a_{t-1}·G], compressed; a zero constant term becomes 33 zero bytes."""
    return tuple(curve.cbytes_ext(curve.point_mul_g(a_k)) for a_k in coefficients)


def secret_share_shard(polynomial: Polynomial, n: int) -> tuple[SecretShare, ...]:
    """One share per participant id 0..n-1, each f(id + 1)."""
    shares = tuple(SecretShare(i, polynomial.share_for(i)) for i in range(n))
    # Possible only with negligible probability for random coefficients, but a zero
    # share has no public share, so refuse rather than hand it out.
    if any(share.value == 0 for share in shares):
        raise InvalidInputError("polynomial vanishes at a participant's evaluation point")
    return shares


def split(
    secret: int,
    t: int,
    n: int,
    *,
    coefficients: Sequence[int] | None = None,
    rand: RandomSource = os.urandom,
) -> DealerOutput:
    """Deal `secret` as a t-of-n sharing (RFC 9591 `trusted_dealer_keygen`).

    `coefficients`, when given, are a_1..a_{t-1} (not the secret): the form RFC 9591's
    test vectors publish. Otherwise they are drawn from `rand`. The polynomial is wiped
    before returning.
    """
    curve.check_scalar(secret, what="secret", nonzero=True)
    _check_t_of_n(t, n)
    if coefficients is None:
        polynomial = generate_polynomial(secret, t, rand)
    else:
        if (
            isinstance(coefficients, bytes | bytearray | str)
            or not isinstance(coefficients, Sequence)
            or len(coefficients) != t - 1
        ):
            raise InvalidInputError("coefficients must be a sequence of t - 1 scalars")
        polynomial = Polynomial(t, [secret, *coefficients])
    try:
        shares = secret_share_shard(polynomial, n)
        vss_commitments = polynomial.commitments()
    finally:
        polynomial.wipe()
    pubshares = tuple(curve.cbytes(_nonzero_mul_g(share.value)) for share in shares)
    return DealerOutput(
        threshold=t,
        shares=shares,
        vss_commitments=vss_commitments,
        group_pubkey=vss_commitments[0],
        pubshares=pubshares,
    )


def _nonzero_mul_g(k: int) -> curve.Point:
    point = curve.point_mul_g(k)
    if point is None:  # callers have already excluded k == 0
        raise CryptoError("unexpected point at infinity")
    return point


# ---------------------------------------------------------------- verification


def _parse_commitments(vss_commitments: Sequence[bytes]) -> list[MaybePoint]:
    if isinstance(vss_commitments, bytes | bytearray | str) or not isinstance(
        vss_commitments, Sequence
    ):
        raise InvalidInputError("VSS commitments must be a sequence of 33-byte points")
    if not 1 <= len(vss_commitments) <= MAX_PARTICIPANTS:
        raise InvalidInputError("wrong number of VSS commitments")
    # Only the constant term may be zero (zero-constant refresh polynomials).
    points: list[MaybePoint] = [
        curve.point_from_cbytes_ext(vss_commitments[0], what="VSS commitment")
    ]
    points += [curve.point_from_cbytes(c, what="VSS commitment") for c in vss_commitments[1:]]
    return points


def _commitments_evaluate(points: Sequence[MaybePoint], x: int) -> MaybePoint:
    """Σ x^k·C_k, i.e. f(x)·G, by Horner's rule on points."""
    acc: MaybePoint = None
    for c_k in reversed(points):
        acc = curve.point_add(curve.point_mul(acc, x), c_k)
    return acc


def pubshare_from_commitments(participant: int, vss_commitments: Sequence[bytes]) -> bytes:
    """The public share f(participant + 1)·G implied by the VSS commitments (33 bytes)."""
    check_participant(participant)
    point = _commitments_evaluate(_parse_commitments(vss_commitments), participant + 1)
    if point is None:
        raise InvalidInputError("VSS commitments give this participant a zero share")
    return curve.cbytes(point)


def verify_share(participant: int, share: int, vss_commitments: Sequence[bytes]) -> None:
    """RFC 9591 `vss_verify`: raise InvalidContributionError(participant, "share") on mismatch."""
    check_participant(participant)
    curve.check_scalar(share, what="share")
    expected = _commitments_evaluate(_parse_commitments(vss_commitments), participant + 1)
    if share == 0 or not curve.point_eq(curve.point_mul_g(share), expected):
        raise InvalidContributionError(participant, "share")


# ---------------------------------------------------------------- reconstruction


def reconstruct(shares: Mapping[int, int], t: int) -> int:
    """The secret f(0) from at least t shares {participant id: share}, by Lagrange at 0.

    All given shares are used; any t of a consistent set give the same result.
    """
    check_threshold(t)
    if not isinstance(shares, Mapping):
        raise InvalidInputError("shares must be a mapping of participant id to share")
    ids = list(shares)
    for i in ids:
        check_participant(i)
        curve.check_scalar(shares[i], what="share", nonzero=True)
    # A Mapping cannot repeat a key, but `{1: a, True: b}`-style aliasing is excluded by
    # check_participant refusing bools, and lagrange_coefficient checks distinctness too.
    if len(ids) < t:
        raise InvalidInputError("fewer shares than the threshold")
    xs = [i + 1 for i in ids]
    return sum(curve.lagrange_coefficient(xs, i + 1) * shares[i] for i in ids) % N
