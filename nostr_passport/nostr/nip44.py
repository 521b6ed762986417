"""NIP-44 version 2 encryption.

Lengths: we follow the current NIP-44 text, which since the extended length prefix was
merged (nostr-protocol/nips PR 1907, its fixes carried in PR 2270; 2026) reads: a
plaintext of 1..65535 bytes carries the original 2-byte big-endian length prefix,
byte-for-byte compatible with every v2 implementation; a plaintext of 65536 bytes or
more (`extended_prefix_threshold`) carries 2 zero bytes and a 4-byte big-endian length
(6 bytes in all), up to `max_plaintext_size` 4294967295 bytes; the padding rule is the
same for both, and decode_payload's old upper size bounds are gone. The published
vector file (sha256 269ed0f6...5040, still the one 44.md pins) lists 65536, 100000 and
10000000 as invalid encrypt lengths (reported as nips issue 2455): our vector test
asserts the current text's behaviour for those and says so.

A zero u16 followed by a length below 65536 is non-canonical and refused, so every
plaintext has exactly one padded form. Interop cliff: libraries written to the older text
(nostr-sdk 0.45 among them) cannot read a payload of 65536+ bytes; callers that must
reach such peers keep plaintexts below 65536 bytes.

The conversation key is derived from a shared x coordinate, so a threshold-ECDH result
plugs in exactly like a single-key one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from dataclasses import dataclass, field

from coincurve import PrivateKey, PublicKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.hmac import HMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from .errors import DecryptionError, InvalidPayloadError

VERSION = 2
SALT = b"nip44-v2"
MIN_PLAINTEXT_SIZE = 1
MAX_PLAINTEXT_SIZE = 2**32 - 1
EXTENDED_PREFIX_THRESHOLD = 65536
NONCE_SIZE = 32
MAC_SIZE = 32
MIN_PADDED_SIZE = 32
# version (1) + nonce (32) + u16 prefix (2) + smallest padding (32) + mac (32)
MIN_DATA_SIZE = 1 + NONCE_SIZE + 2 + MIN_PADDED_SIZE + MAC_SIZE
MIN_PAYLOAD_CHARS = 132  # base64 of MIN_DATA_SIZE bytes


@dataclass(frozen=True)
class MessageKeys:
    chacha_key: bytes = field(repr=False)
    chacha_nonce: bytes = field(repr=False)
    hmac_key: bytes = field(repr=False)


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    h = HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def _check_32(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise InvalidPayloadError(f"{what} must be 32 bytes")
    return value


# ---------------------------------------------------------------- keys


def conversation_key_from_shared_x(shared_x: bytes) -> bytes:
    """HKDF-extract(IKM = shared x, salt = "nip44-v2")."""
    return _hmac_sha256(SALT, _check_32(shared_x, "shared x coordinate"))


def shared_x(seckey: bytes, pubkey_x: bytes) -> bytes:
    """Single-key ECDH: the unhashed x coordinate of seckey * lift_x(pubkey_x)."""
    _check_32(seckey, "secret key")
    _check_32(pubkey_x, "public key (x-only)")
    try:
        point = PublicKey(b"\x02" + pubkey_x).multiply(PrivateKey(seckey).secret)
    except ValueError:
        # Secret key 0 or >= n, or an x with no point on the curve.
        raise InvalidPayloadError("invalid secret key or public key") from None
    return point.format(compressed=True)[1:]


def conversation_key(seckey: bytes, pubkey_x: bytes) -> bytes:
    """get_conversation_key: the same for (a, B) and (b, A)."""
    return conversation_key_from_shared_x(shared_x(seckey, pubkey_x))


def message_keys(conversation_key: bytes, nonce: bytes) -> MessageKeys:
    """get_message_keys: HKDF-expand(conversation key, info = nonce, 76 bytes), sliced."""
    _check_32(conversation_key, "conversation key")
    _check_32(nonce, "nonce")
    okm = HKDFExpand(hashes.SHA256(), 76, nonce).derive(conversation_key)
    return MessageKeys(okm[0:32], okm[32:44], okm[44:76])


# ---------------------------------------------------------------- padding


def calc_padded_len(unpadded_len: int) -> int:
    if not isinstance(unpadded_len, int) or isinstance(unpadded_len, bool):
        raise InvalidPayloadError("length must be an integer")
    if unpadded_len < MIN_PLAINTEXT_SIZE:
        raise InvalidPayloadError("plaintext must not be empty")
    if unpadded_len <= MIN_PADDED_SIZE:
        return MIN_PADDED_SIZE
    next_power = 1 << (unpadded_len - 1).bit_length()
    chunk = 32 if next_power <= 256 else next_power // 8
    return chunk * ((unpadded_len - 1) // chunk + 1)


def _length_prefix(length: int) -> bytes:
    if length < EXTENDED_PREFIX_THRESHOLD:
        return length.to_bytes(2, "big")
    return b"\x00\x00" + length.to_bytes(4, "big")


def pad(plaintext: bytes) -> bytes:
    """[length prefix][plaintext][zeros up to calc_padded_len]."""
    n = len(plaintext)
    if n < MIN_PLAINTEXT_SIZE:
        raise InvalidPayloadError("plaintext must not be empty")
    if n > MAX_PLAINTEXT_SIZE:
        raise InvalidPayloadError(f"plaintext longer than {MAX_PLAINTEXT_SIZE} bytes")
    return _length_prefix(n) + plaintext + bytes(calc_padded_len(n) - n)


def unpad(padded: bytes) -> bytes:
    """The plaintext bytes of a padded blob; DecryptionError on any inconsistency."""
    if len(padded) < 2:
        raise DecryptionError("invalid padding")
    n = int.from_bytes(padded[:2], "big")
    prefix_len = 2
    if n == 0:
        if len(padded) < 6:
            raise DecryptionError("invalid padding")
        n = int.from_bytes(padded[2:6], "big")
        prefix_len = 6
        if n < EXTENDED_PREFIX_THRESHOLD:
            raise DecryptionError("invalid padding (non-canonical length prefix)")
    if len(padded) != prefix_len + calc_padded_len(n):
        raise DecryptionError("invalid padding")
    return padded[prefix_len : prefix_len + n]


# ---------------------------------------------------------------- encrypt / decrypt


def _chacha20(key: bytes, nonce12: bytes, data: bytes) -> bytes:
    # cryptography's ChaCha20 takes a 16-byte nonce: 4-byte little-endian counter || nonce.
    cipher = Cipher(algorithms.ChaCha20(key, b"\x00\x00\x00\x00" + nonce12), mode=None)
    return cipher.encryptor().update(data)


def _mac(hmac_key: bytes, nonce: bytes, ciphertext: bytes) -> bytes:
    """hmac_aad: HMAC-SHA256 over the nonce (as associated data) || ciphertext."""
    return _hmac_sha256(hmac_key, nonce + ciphertext)


def encrypt(plaintext: str, conversation_key: bytes, nonce: bytes | None = None) -> str:
    """Base64 payload: version || nonce || ciphertext || mac. A random nonce unless given."""
    if not isinstance(plaintext, str):
        raise InvalidPayloadError("plaintext must be a string")
    try:
        raw = plaintext.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayloadError("plaintext is not valid Unicode") from None
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    keys = message_keys(conversation_key, nonce)
    ciphertext = _chacha20(keys.chacha_key, keys.chacha_nonce, pad(raw))
    mac = _mac(keys.hmac_key, nonce, ciphertext)
    return base64.b64encode(bytes([VERSION]) + nonce + ciphertext + mac).decode("ascii")


def decode_payload(payload: str) -> tuple[bytes, bytes, bytes]:
    """(nonce, ciphertext, mac) of a base64 payload, with NIP-44's shape checks."""
    if not isinstance(payload, str) or not payload:
        raise InvalidPayloadError("payload must be a non-empty string")
    if payload[0] == "#":
        raise InvalidPayloadError("unknown encryption version (non-base64 payload)")
    if len(payload) < MIN_PAYLOAD_CHARS:
        raise InvalidPayloadError("payload is too short")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayloadError("payload is not valid base64") from None
    if len(data) < MIN_DATA_SIZE:
        raise InvalidPayloadError("payload is too short")
    if data[0] != VERSION:
        raise InvalidPayloadError(f"unknown encryption version {data[0]}")
    return data[1:33], data[33:-MAC_SIZE], data[-MAC_SIZE:]


def decrypt(payload: str, conversation_key: bytes) -> str:
    """The plaintext; DecryptionError if the MAC or the padding does not check out."""
    nonce, ciphertext, mac = decode_payload(payload)
    keys = message_keys(conversation_key, nonce)
    if not hmac.compare_digest(_mac(keys.hmac_key, nonce, ciphertext), mac):
        raise DecryptionError("invalid MAC")
    padded = _chacha20(keys.chacha_key, keys.chacha_nonce, ciphertext)
    try:
        return unpad(padded).decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("plaintext is not valid UTF-8") from None
