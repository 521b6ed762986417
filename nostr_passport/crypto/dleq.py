"""Discrete-log equality proofs (BIP 374).

A proof shows that A = a·G and C = a·B share the same secret `a`, without revealing it.
We use it for threshold ECDH: each signer proves its ECDH share was made with the key
behind its public share. Points are `curve.Point`; None is the point at infinity, which
the spec rejects everywhere.
"""

from __future__ import annotations

from . import curve
from .curve import MaybePoint, N, Point
from .errors import CryptoError, InvalidInputError

TAG_AUX = "BIP0374/aux"
TAG_NONCE = "BIP0374/nonce"
TAG_CHALLENGE = "BIP0374/challenge"


def _message_bytes(m: bytes | None) -> bytes:
    """m' of the spec: m if given (exactly 32 bytes), else the empty string."""
    if m is None:
        return b""
    if not isinstance(m, bytes | bytearray) or len(m) != 32:
        raise InvalidInputError("DLEQ message must be 32 bytes")
    return bytes(m)


def _mul(pt: Point, k: int) -> MaybePoint:
    # libsecp256k1's generator multiplication is much faster than a generic one.
    if curve.point_eq(pt, curve.G):
        return curve.point_mul_g(k)
    return curve.point_mul(pt, k)


def dleq_challenge(
    A: Point, B: Point, C: Point, G: Point, R1: Point, R2: Point, m_prime: bytes
) -> int:
    """e = int(hash_BIP0374/challenge(cbytes(A) || cbytes(B) || cbytes(C) || cbytes(G)
    || cbytes(R1) || cbytes(R2) || m')); not reduced mod N, as the spec says."""
    data = b"".join(curve.cbytes(p) for p in (A, B, C, G, R1, R2)) + m_prime
    return curve.int_from_bytes(curve.tagged_hash(TAG_CHALLENGE, data))


def generate_proof(
    a: int, B: MaybePoint, r: bytes, G: MaybePoint = curve.G, m: bytes | None = None
) -> bytes:
    """BIP 374 GenerateProof: a 64-byte proof that a·G and a·B share the scalar `a`.

    `r` is 32 bytes of fresh auxiliary randomness. Raises InvalidInputError where the
    spec says "fail" on inputs.
    """
    if not isinstance(a, int) or isinstance(a, bool) or not 0 < a < N:
        raise InvalidInputError("DLEQ secret must be an integer in [1, n)")
    if B is None or G is None:
        raise InvalidInputError("DLEQ points B and G must not be infinity")
    if not isinstance(r, bytes | bytearray) or len(r) != 32:
        raise InvalidInputError("DLEQ auxiliary randomness must be 32 bytes")
    m_prime = _message_bytes(m)
    A = _mul(G, a)
    C = curve.point_mul(B, a)
    if A is None or C is None:  # impossible: a is nonzero and the group has prime order
        raise CryptoError("unexpected point at infinity")
    t = bytes(
        x ^ y for x, y in zip(curve.bytes_from_int(a), curve.tagged_hash(TAG_AUX, r), strict=True)
    )
    rand = curve.tagged_hash(TAG_NONCE, t + curve.cbytes(A) + curve.cbytes(C) + m_prime)
    k = curve.int_from_bytes(rand) % N
    if k == 0:
        raise CryptoError("DLEQ nonce is zero")
    R1 = _mul(G, k)
    R2 = curve.point_mul(B, k)
    if R1 is None or R2 is None:
        raise CryptoError("unexpected point at infinity")
    e = dleq_challenge(A, B, C, G, R1, R2, m_prime)
    s = (k + e * a) % N
    proof = curve.bytes_from_int(e) + curve.bytes_from_int(s)
    # The spec's self-check: catches a faulty computation before it leaves the signer.
    if not verify_proof(A, B, C, proof, G, m):
        raise CryptoError("DLEQ proof failed its own verification")
    return proof


def verify_proof(
    A: MaybePoint,
    B: MaybePoint,
    C: MaybePoint,
    proof: bytes,
    G: MaybePoint = curve.G,
    m: bytes | None = None,
) -> bool:
    """BIP 374 VerifyProof. False for any failure, including a malformed `proof`.

    A malformed `m` is the caller's error and raises InvalidInputError.
    """
    m_prime = _message_bytes(m)
    if A is None or B is None or C is None or G is None:
        return False
    if not isinstance(proof, bytes | bytearray) or len(proof) != 64:
        return False
    e = curve.int_from_bytes(proof[:32])
    s = curve.int_from_bytes(proof[32:])
    if s >= N:
        return False
    R1 = curve.point_add(_mul(G, s), curve.point_neg(curve.point_mul(A, e)))
    if R1 is None:
        return False
    R2 = curve.point_add(curve.point_mul(B, s), curve.point_neg(curve.point_mul(C, e)))
    if R2 is None:
        return False
    return e == dleq_challenge(A, B, C, G, R1, R2, m_prime)
