"""BIP-340 Schnorr signatures over secp256k1 (single key).

32-byte messages (every Nostr event id) are signed by libsecp256k1 through coincurve's
`sign_schnorr`. BIP-340 allows messages of any length and coincurve 21 only signs
32-byte ones, so other lengths follow the BIP's signing steps with coincurve points;
both paths produce identical signatures for the same inputs, and both are checked
with libsecp256k1's verifier before they are returned.

Error policy: malformed *lengths or types* of the inputs raise `InvalidInputError`;
`verify` returns False for every well-formed but invalid signature, including public
keys that are not valid x coordinates (as the BIP-340 vectors require).
"""

from __future__ import annotations

import os

from coincurve import PrivateKey, PublicKey, PublicKeyXOnly

from .curve import N, bytes_from_int, has_even_y, scalar_from_hash, tagged_hash, xbytes
from .errors import CryptoError, InvalidInputError

__all__ = ["pubkey_from_seckey", "sign", "verify", "xonly_pubkey"]


def _check_bytes(value: object, length: int, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        raise InvalidInputError(f"{what} must be {length} bytes")
    return bytes(value)


def _check_message(msg: object) -> bytes:
    if not isinstance(msg, bytes | bytearray):
        raise InvalidInputError("message must be bytes")
    return bytes(msg)


def _seckey_int(seckey: object) -> int:
    d = int.from_bytes(_check_bytes(seckey, 32, "secret key"), "big")
    if not 0 < d < N:
        raise InvalidInputError("secret key is out of range")
    return d


def pubkey_from_seckey(seckey: bytes) -> bytes:
    """The 32-byte x-only public key of a 32-byte secret key."""
    d = _seckey_int(seckey)
    return xbytes(PublicKey.from_secret(bytes_from_int(d)))


def xonly_pubkey(pubkey: bytes) -> PublicKeyXOnly:
    """Parse a 32-byte x-only public key for repeated verification."""
    try:
        return PublicKeyXOnly(_check_bytes(pubkey, 32, "x-only public key"))
    except ValueError as exc:
        raise InvalidInputError("x-only public key is not a valid x coordinate") from exc


def _sign_any_length(d0: int, msg: bytes, aux_rand: bytes) -> bytes:
    """The BIP-340 signing steps, for messages coincurve cannot sign (length != 32)."""
    p_point = PublicKey.from_secret(bytes_from_int(d0))
    d = d0 if has_even_y(p_point) else N - d0
    p_x = xbytes(p_point)
    t = (d ^ int.from_bytes(tagged_hash("BIP0340/aux", aux_rand), "big")).to_bytes(32, "big")
    k0 = scalar_from_hash(tagged_hash("BIP0340/nonce", t + p_x + msg))
    if k0 == 0:
        # Probability ~2^-256; BIP-340 fails here rather than retrying.
        raise CryptoError("BIP-340 nonce derivation produced zero")
    r_point = PublicKey.from_secret(bytes_from_int(k0))
    k = k0 if has_even_y(r_point) else N - k0
    r_x = xbytes(r_point)
    e = scalar_from_hash(tagged_hash("BIP0340/challenge", r_x + p_x + msg))
    return r_x + bytes_from_int((k + e * d) % N)


def sign(seckey: bytes, msg: bytes, aux_rand: bytes | None = None) -> bytes:
    """A 64-byte BIP-340 signature of `msg` (any length) under `seckey`.

    `aux_rand` is BIP-340's auxiliary randomness (32 bytes); None draws it from the OS,
    which is what callers should do unless they reproduce test vectors.
    """
    d0 = _seckey_int(seckey)
    message = _check_message(msg)
    aux = os.urandom(32) if aux_rand is None else _check_bytes(aux_rand, 32, "aux_rand")
    if len(message) == 32:
        try:
            return PrivateKey(bytes_from_int(d0)).sign_schnorr(message, aux)
        except ValueError as exc:  # libsecp256k1's own post-sign verification failed
            raise CryptoError("BIP-340 signing failed") from exc
    sig = _sign_any_length(d0, message, aux)
    # Same defence as libsecp256k1: never release a signature that does not verify.
    if not PublicKeyXOnly.from_secret(bytes_from_int(d0)).verify(sig, message):
        raise CryptoError("BIP-340 signing failed")
    return sig


def verify(pubkey: bytes, msg: bytes, sig: bytes) -> bool:
    """Whether `sig` is a valid BIP-340 signature of `msg` (any length) under `pubkey`.

    Raises InvalidInputError only when `pubkey` is not 32 bytes, `sig` not 64 bytes or
    `msg` not bytes; an x coordinate that is off the curve or >= p simply fails.
    """
    pk = _check_bytes(pubkey, 32, "x-only public key")
    message = _check_message(msg)
    signature = _check_bytes(sig, 64, "signature")
    try:
        key = PublicKeyXOnly(pk)
    except ValueError:
        return False
    return key.verify(signature, message)
