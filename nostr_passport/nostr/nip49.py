"""NIP-49 private key encryption: the `ncryptsec` bech32 string.

    symmetric_key = scrypt(NFKC(password), salt, N = 2**log_n, r = 8, p = 1, 32 bytes)
    ciphertext    = XChaCha20-Poly1305(key = symmetric_key, nonce (24 bytes),
                                       associated data = key_security byte, secret key)
    ncryptsec     = bech32("ncryptsec", 0x02 || log_n || salt || nonce || key_security
                                        || ciphertext)                  (91 bytes)

`cryptography` offers only the IETF ChaCha20-Poly1305 (12-byte nonce). XChaCha20 is that
AEAD keyed with a subkey: HChaCha20(key, nonce[0:16]), nonce 0x00000000 || nonce[16:24]
(draft-irtf-cfrg-xchacha-03, section 2.3). HChaCha20 is written here in Python ints; it
runs once per key, so speed does not matter.

The scrypt cost is chosen by whoever wrote the ncryptsec, so `decrypt` refuses a log_n
above `max_log_n` (default 22, 4 GiB, the largest the NIP tabulates) before spending any
memory: a hostile string must not make the server allocate terabytes.
"""

from __future__ import annotations

import os
import struct
import unicodedata
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from nostr_passport.crypto.curve import N

from . import nip19
from .errors import DecryptionError, InvalidPayloadError

HRP = "ncryptsec"
VERSION = 0x02
SALT_SIZE = 16
NONCE_SIZE = 24
SECRET_KEY_SIZE = 32
TAG_SIZE = 16
PAYLOAD_SIZE = 1 + 1 + SALT_SIZE + NONCE_SIZE + 1 + SECRET_KEY_SIZE + TAG_SIZE  # 91
DEFAULT_LOG_N = 16
MIN_LOG_N = 1  # scrypt needs N > 1
DEFAULT_MAX_LOG_N = 22
SCRYPT_R = 8
SCRYPT_P = 1


class KeySecurity(IntEnum):
    """How the key was handled before encryption; authenticated as associated data."""

    INSECURE = 0x00  # known to have been handled insecurely (stored or pasted in clear)
    SECURE = 0x01  # not known to have been handled insecurely
    UNKNOWN = 0x02  # the client does not track this


@dataclass(frozen=True)
class EncryptedKey:
    """The fields of an ncryptsec. Nothing here is secret without the password."""

    log_n: int
    salt: bytes
    nonce: bytes
    key_security: KeySecurity
    ciphertext: bytes  # secret key (32) || Poly1305 tag (16)


# ---------------------------------------------------------------- XChaCha20-Poly1305

_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"
_MASK32 = 0xFFFFFFFF


def _rotl32(v: int, c: int) -> int:
    return ((v << c) & _MASK32) | (v >> (32 - c))


def _quarter_round(s: list[int], a: int, b: int, c: int, d: int) -> None:
    s[a] = (s[a] + s[b]) & _MASK32
    s[d] = _rotl32(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & _MASK32
    s[b] = _rotl32(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & _MASK32
    s[d] = _rotl32(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & _MASK32
    s[b] = _rotl32(s[b] ^ s[c], 7)


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (draft-irtf-cfrg-xchacha-03, 2.2): ChaCha20's 20 rounds on
    (constants, key, 16-byte nonce) without the final addition; words 0-3 and 12-15."""
    if not isinstance(key, bytes) or len(key) != 32:
        raise InvalidPayloadError("HChaCha20 key must be 32 bytes")
    if not isinstance(nonce16, bytes) or len(nonce16) != 16:
        raise InvalidPayloadError("HChaCha20 nonce must be 16 bytes")
    s = [*_SIGMA, *struct.unpack("<8I", key), *struct.unpack("<4I", nonce16)]
    for _ in range(10):
        _quarter_round(s, 0, 4, 8, 12)
        _quarter_round(s, 1, 5, 9, 13)
        _quarter_round(s, 2, 6, 10, 14)
        _quarter_round(s, 3, 7, 11, 15)
        _quarter_round(s, 0, 5, 10, 15)
        _quarter_round(s, 1, 6, 11, 12)
        _quarter_round(s, 2, 7, 8, 13)
        _quarter_round(s, 3, 4, 9, 14)
    return struct.pack("<8I", *s[0:4], *s[12:16])


def _xchacha_parts(key: bytes, nonce: bytes) -> tuple[ChaCha20Poly1305, bytes]:
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_SIZE:
        raise InvalidPayloadError("XChaCha20 nonce must be 24 bytes")
    subkey = hchacha20(key, nonce[:16])
    return ChaCha20Poly1305(subkey), b"\x00\x00\x00\x00" + nonce[16:]


def xchacha20poly1305_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """XChaCha20-Poly1305 seal: ciphertext || 16-byte tag."""
    aead, nonce12 = _xchacha_parts(key, nonce)
    return aead.encrypt(nonce12, plaintext, aad)


def xchacha20poly1305_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """XChaCha20-Poly1305 open; DecryptionError when the tag does not verify."""
    aead, nonce12 = _xchacha_parts(key, nonce)
    try:
        return aead.decrypt(nonce12, ciphertext, aad)
    except InvalidTag:
        raise DecryptionError("XChaCha20-Poly1305 authentication failed") from None


# ---------------------------------------------------------------- NIP-49 steps


def normalized_password(password: str) -> bytes:
    """PASSWORD: NFKC-normalised so that it types the same on every client, as UTF-8."""
    if not isinstance(password, str):
        raise InvalidPayloadError("password must be a string")
    try:
        return unicodedata.normalize("NFKC", password).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayloadError("password is not valid Unicode") from None


def _check_log_n(log_n: int, max_log_n: int) -> int:
    if not isinstance(log_n, int) or isinstance(log_n, bool):
        raise InvalidPayloadError("log_n must be an integer")
    if not MIN_LOG_N <= log_n <= max_log_n:
        raise InvalidPayloadError(f"log_n must be between {MIN_LOG_N} and {max_log_n}")
    return log_n


def symmetric_key(
    password: str, salt: bytes, log_n: int, *, max_log_n: int = DEFAULT_MAX_LOG_N
) -> bytes:
    """SYMMETRIC_KEY = scrypt(NFKC(password), salt, 2**log_n, r=8, p=1), 32 bytes."""
    if not isinstance(salt, bytes) or len(salt) != SALT_SIZE:
        raise InvalidPayloadError("salt must be 16 bytes")
    _check_log_n(log_n, max_log_n)
    kdf = Scrypt(salt=salt, length=32, n=2**log_n, r=SCRYPT_R, p=SCRYPT_P)
    try:
        return kdf.derive(normalized_password(password))
    except MemoryError:
        raise InvalidPayloadError("not enough memory for this scrypt cost (log_n)") from None


def _check_secret_key(seckey: bytes) -> bytes:
    if not isinstance(seckey, bytes) or len(seckey) != SECRET_KEY_SIZE:
        raise InvalidPayloadError("secret key must be 32 bytes")
    if not 0 < int.from_bytes(seckey, "big") < N:
        raise InvalidPayloadError("secret key is not a valid secp256k1 scalar")
    return seckey


def _key_security(value: int) -> KeySecurity:
    if isinstance(value, bool) or value not in KeySecurity._value2member_map_:
        raise InvalidPayloadError("key security must be 0, 1 or 2")
    return KeySecurity(value)


def ncryptsec_bytes(key: EncryptedKey) -> bytes:
    """CIPHERTEXT_CONCATENATION (91 bytes)."""
    return (
        bytes([VERSION, key.log_n])
        + key.salt
        + key.nonce
        + bytes([key.key_security])
        + key.ciphertext
    )


def encrypt(
    seckey: bytes,
    password: str,
    log_n: int = DEFAULT_LOG_N,
    key_security: int = KeySecurity.UNKNOWN,
    nonce: bytes | None = None,
    salt: bytes | None = None,
) -> str:
    """The ncryptsec of `seckey` under `password` (random salt and nonce unless given)."""
    _check_secret_key(seckey)
    security = _key_security(key_security)
    _check_log_n(log_n, 255)
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    key = symmetric_key(password, salt, log_n, max_log_n=255)
    ciphertext = xchacha20poly1305_encrypt(key, nonce, seckey, bytes([security]))
    return nip19.encode(
        HRP, ncryptsec_bytes(EncryptedKey(log_n, salt, nonce, security, ciphertext))
    )


def parse(ncryptsec: str) -> EncryptedKey:
    """The fields of an ncryptsec string, checked for form (no password needed)."""
    data = nip19.decode(HRP, ncryptsec)
    if len(data) != PAYLOAD_SIZE:
        raise InvalidPayloadError(f"ncryptsec must hold {PAYLOAD_SIZE} bytes")
    if data[0] != VERSION:
        raise InvalidPayloadError(f"unknown ncryptsec version {data[0]}")
    salt_end = 2 + SALT_SIZE
    nonce_end = salt_end + NONCE_SIZE
    return EncryptedKey(
        log_n=data[1],
        salt=data[2:salt_end],
        nonce=data[salt_end:nonce_end],
        key_security=_key_security(data[nonce_end]),
        ciphertext=data[nonce_end + 1 :],
    )


def decrypt(ncryptsec: str, password: str, *, max_log_n: int = DEFAULT_MAX_LOG_N) -> bytes:
    """The 32-byte secret key; DecryptionError for a wrong password or altered string."""
    key = parse(ncryptsec)
    _check_log_n(key.log_n, max_log_n)
    symmetric = symmetric_key(password, key.salt, key.log_n, max_log_n=max_log_n)
    try:
        seckey = xchacha20poly1305_decrypt(
            symmetric, key.nonce, key.ciphertext, bytes([key.key_security])
        )
    except DecryptionError:
        raise DecryptionError("ncryptsec: wrong password or corrupted data") from None
    if not 0 < int.from_bytes(seckey, "big") < N:
        raise DecryptionError("ncryptsec holds an invalid secret key")
    return seckey
