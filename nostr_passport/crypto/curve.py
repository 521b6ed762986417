"""secp256k1 helpers on top of coincurve (libsecp256k1).

Scalars are Python ints mod N. Points are `coincurve.PublicKey` objects; the point at
infinity, which coincurve cannot represent, is `None` (type `MaybePoint`). Every
function that parses external bytes validates them and raises `InvalidInputError`.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from coincurve import PublicKey

from .errors import InvalidInputError

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8

Point = PublicKey
MaybePoint = PublicKey | None  # None is the point at infinity

G: Point = PublicKey(b"\x04" + GX.to_bytes(32, "big") + GY.to_bytes(32, "big"))

# 33 zero bytes: the encoding BIP 445 (and MuSig2) use for the point at infinity.
INFINITY_BYTES = bytes(33)


# ---------------------------------------------------------------- hashing


@lru_cache(maxsize=64)
def _tag_prefix(tag: str) -> bytes:
    tag_hash = hashlib.sha256(tag.encode()).digest()
    return tag_hash + tag_hash


def tagged_hash(tag: str, msg: bytes) -> bytes:
    """BIP-340 tagged hash: SHA256(SHA256(tag) || SHA256(tag) || msg)."""
    return hashlib.sha256(_tag_prefix(tag) + msg).digest()


def ct_equal(a: bytes, b: bytes) -> bool:
    """Constant-time byte comparison."""
    return hmac.compare_digest(a, b)


# ---------------------------------------------------------------- scalars


def int_from_bytes(b: bytes) -> int:
    return int.from_bytes(b, "big")


def bytes_from_int(x: int) -> bytes:
    return x.to_bytes(32, "big")


def scalar_from_bytes(b: bytes, *, what: str = "scalar", nonzero: bool = False) -> int:
    """Parse a 32-byte big-endian scalar, rejecting values >= N (and 0 if `nonzero`)."""
    if not isinstance(b, bytes | bytearray) or len(b) != 32:
        raise InvalidInputError(f"{what} must be 32 bytes")
    x = int.from_bytes(b, "big")
    if x >= N:
        raise InvalidInputError(f"{what} is not below the curve order")
    if nonzero and x == 0:
        raise InvalidInputError(f"{what} must not be zero")
    return x


def scalar_from_hash(b: bytes) -> int:
    """Reduce a 32-byte hash output mod N (no rejection; used for challenges)."""
    return int.from_bytes(b, "big") % N


def check_scalar(x: int, *, what: str = "scalar", nonzero: bool = False) -> int:
    """Validate an int scalar in [0, N) (or [1, N) if `nonzero`)."""
    if not isinstance(x, int) or isinstance(x, bool) or not 0 <= x < N:
        raise InvalidInputError(f"{what} must be an integer in [0, n)")
    if nonzero and x == 0:
        raise InvalidInputError(f"{what} must not be zero")
    return x


def scalar_inverse(x: int) -> int:
    if x % N == 0:
        raise InvalidInputError("zero has no inverse mod n")
    return pow(x, -1, N)


# ---------------------------------------------------------------- points


def point_mul_g(k: int) -> MaybePoint:
    """k*G; None when k == 0 mod N."""
    k %= N
    if k == 0:
        return None
    return PublicKey.from_secret(bytes_from_int(k))


def point_mul(pt: MaybePoint, k: int) -> MaybePoint:
    """k*pt; None when either is zero/infinity."""
    k %= N
    if pt is None or k == 0:
        return None
    return pt.multiply(bytes_from_int(k))


def point_add(a: MaybePoint, b: MaybePoint) -> MaybePoint:
    """a + b with infinity handled (coincurve raises on an infinite result)."""
    if a is None:
        return b
    if b is None:
        return a
    return point_sum([a, b])


def point_sum(points: list[Point]) -> MaybePoint:
    """Sum of non-infinite points; None if the sum is infinity."""
    if not points:
        return None
    if len(points) == 1:
        return points[0]
    try:
        return PublicKey.combine_keys(points)
    except ValueError:
        # libsecp256k1 refuses to return infinity; that is the only failure mode here.
        return None


def point_neg(pt: MaybePoint) -> MaybePoint:
    if pt is None:
        return None
    c = pt.format(compressed=True)
    return PublicKey(bytes([c[0] ^ 1]) + c[1:])


def point_eq(a: MaybePoint, b: MaybePoint) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.format() == b.format()


def has_even_y(pt: Point) -> bool:
    return pt.format(compressed=True)[0] == 2


def xbytes(pt: Point) -> bytes:
    """The 32-byte x coordinate."""
    return pt.format(compressed=True)[1:]


def cbytes(pt: Point) -> bytes:
    """33-byte compressed encoding."""
    return pt.format(compressed=True)


def cbytes_ext(pt: MaybePoint) -> bytes:
    """Compressed encoding, with 33 zero bytes for infinity (BIP 445 `cbytes_ext`)."""
    return INFINITY_BYTES if pt is None else pt.format(compressed=True)


def with_even_y(pt: Point) -> Point:
    """The point among {pt, -pt} whose y is even."""
    if has_even_y(pt):
        return pt
    c = pt.format(compressed=True)
    return PublicKey(b"\x02" + c[1:])


def lift_x(x: bytes) -> Point:
    """The point with x coordinate `x` and even y (BIP-340 lift_x)."""
    if not isinstance(x, bytes | bytearray) or len(x) != 32:
        raise InvalidInputError("x-only public key must be 32 bytes")
    if int.from_bytes(x, "big") >= P:
        raise InvalidInputError("x coordinate is not below the field size")
    try:
        return PublicKey(b"\x02" + bytes(x))
    except ValueError as exc:
        raise InvalidInputError("x coordinate is not on the curve") from exc


def point_from_cbytes(b: bytes, *, what: str = "point") -> Point:
    """Parse a 33-byte compressed point (infinity not allowed)."""
    if not isinstance(b, bytes | bytearray) or len(b) != 33 or b[0] not in (2, 3):
        raise InvalidInputError(f"{what} must be a 33-byte compressed point")
    try:
        return PublicKey(bytes(b))
    except ValueError as exc:
        raise InvalidInputError(f"{what} is not on the curve") from exc


def point_from_cbytes_ext(b: bytes, *, what: str = "point") -> MaybePoint:
    """Parse a 33-byte compressed point where 33 zero bytes mean infinity."""
    if isinstance(b, bytes | bytearray) and bytes(b) == INFINITY_BYTES:
        return None
    return point_from_cbytes(b, what=what)


def point_from_bytes(b: bytes, *, what: str = "point") -> Point:
    """Parse a compressed (33) or uncompressed (65) point."""
    if isinstance(b, bytes | bytearray) and len(b) == 33:
        return point_from_cbytes(b, what=what)
    if not isinstance(b, bytes | bytearray) or len(b) != 65 or b[0] != 4:
        raise InvalidInputError(f"{what} must be a 33- or 65-byte SEC1 point")
    try:
        return PublicKey(bytes(b))
    except ValueError as exc:
        raise InvalidInputError(f"{what} is not on the curve") from exc


# ---------------------------------------------------------------- identifiers


def lagrange_coefficient(xs: list[int], x_i: int) -> int:
    """Lagrange coefficient at 0 for evaluation point `x_i` among distinct nonzero `xs`.

    The points are the *evaluation points* (BIP 445 id + 1, RFC 9591 identifier).
    """
    if x_i not in xs:
        raise InvalidInputError("evaluation point is not among the participants")
    if len(set(xs)) != len(xs):
        raise InvalidInputError("duplicate participant identifiers")
    num, den = 1, 1
    for x_j in xs:
        if x_j == x_i:
            continue
        num = num * x_j % N
        den = den * (x_j - x_i) % N
    if den == 0 or num == 0:
        raise InvalidInputError("participant identifier is zero mod n")
    return num * pow(den, -1, N) % N
