"""BIP-340 Schnorr signatures with a tag prefix, as ChillDKG uses them.

ChillDKG signs with BIP-340 in two places: the CertEq certificate (standard tags
"BIP0340/...", messages longer than 32 bytes) and the proofs of possession (tags
"BIP DKG/pop message/aux|nonce|challenge" instead of "BIP0340/..."). coincurve 21 signs
only 32-byte messages under the standard tags, so signing follows the BIP-340 steps
with coincurve point operations. Verification under the standard prefix is
libsecp256k1's own (coincurve accepts any message length there).
"""

from __future__ import annotations

from coincurve import PublicKeyXOnly

from ..curve import (
    N,
    P,
    bytes_from_int,
    has_even_y,
    int_from_bytes,
    lift_x,
    point_add,
    point_mul,
    point_mul_g,
    point_neg,
    scalar_from_hash,
    tagged_hash,
    xbytes,
)
from ..errors import CryptoError, InvalidInputError

BIP340_PREFIX = "BIP0340"


def sign(msg: bytes, seckey: int, aux_rand: bytes, tag_prefix: str = BIP340_PREFIX) -> bytes:
    """A 64-byte BIP-340 signature of `msg` (any length), with tags `{tag_prefix}/...`."""
    if not 0 < seckey < N:
        raise InvalidInputError("secret key is out of range")
    if len(aux_rand) != 32:
        raise InvalidInputError("aux randomness must be 32 bytes")
    pubkey = point_mul_g(seckey)
    assert pubkey is not None  # 0 < seckey < N
    d = seckey if has_even_y(pubkey) else N - seckey
    p_x = xbytes(pubkey)
    masked = d ^ int_from_bytes(tagged_hash(f"{tag_prefix}/aux", aux_rand))
    k0 = scalar_from_hash(tagged_hash(f"{tag_prefix}/nonce", bytes_from_int(masked) + p_x + msg))
    nonce_point = point_mul_g(k0)
    if nonce_point is None:
        # Probability ~2^-256; BIP-340 fails rather than retrying.
        raise CryptoError("BIP-340 nonce derivation produced zero")
    k = k0 if has_even_y(nonce_point) else N - k0
    r_x = xbytes(nonce_point)
    e = scalar_from_hash(tagged_hash(f"{tag_prefix}/challenge", r_x + p_x + msg))
    sig = r_x + bytes_from_int((k + e * d) % N)
    # As libsecp256k1 does: never release a signature that does not verify.
    if not verify(msg, p_x, sig, tag_prefix):
        raise CryptoError("BIP-340 signing failed")
    return sig


def verify(msg: bytes, pubkey_x: bytes, sig: bytes, tag_prefix: str = BIP340_PREFIX) -> bool:
    """Whether `sig` is a BIP-340 signature of `msg` under the x-only key `pubkey_x`.

    Every well-formed but invalid input (x not on the curve, r >= p, s >= n) is False.
    """
    if len(pubkey_x) != 32 or len(sig) != 64:
        raise InvalidInputError("x-only key must be 32 bytes and signature 64 bytes")
    if tag_prefix == BIP340_PREFIX:
        try:
            return bool(PublicKeyXOnly(bytes(pubkey_x)).verify(bytes(sig), bytes(msg)))
        except ValueError:
            return False
    return _verify_steps(msg, pubkey_x, sig, tag_prefix)


def _verify_steps(msg: bytes, pubkey_x: bytes, sig: bytes, tag_prefix: str) -> bool:
    """The BIP-340 verification steps, for tag prefixes libsecp256k1 does not know."""
    try:
        pubkey = lift_x(pubkey_x)
    except InvalidInputError:
        return False
    r = int_from_bytes(sig[:32])
    s = int_from_bytes(sig[32:])
    if r >= P or s >= N:
        return False
    e = scalar_from_hash(tagged_hash(f"{tag_prefix}/challenge", sig[:32] + pubkey_x + msg))
    nonce_point = point_add(point_mul_g(s), point_neg(point_mul(pubkey, e)))
    return nonce_point is not None and has_even_y(nonce_point) and xbytes(nonce_point) == sig[:32]
