"""NIP-44 version 2 encryption.

Lengths: we follow the current NIP-44 text (the extended length prefix merged in
nostr-protocol/nips PR 1907, 2026-06): a plaintext of 1..65535 bytes carries the original
2-byte big-endian length prefix, byte-for-byte compatible with every v2 implementation; a
plaintext of 65536 bytes or more carries 2 zero bytes and a 4-byte big-endian length (6
bytes in all), up to 2**32 - 1 bytes. The published vector file still lists 65536 and
100000 as invalid encrypt lengths (nips issue 2455); our vector test asserts the current
text's behaviour for those two and says so. A zero u16 with a length below 65536 behind
it is non-canonical and refused.

The conversation key is derived from a shared x coordinate, so a threshold-ECDH result
plugs in exactly like a single-key one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from dataclasses import dataclass

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
# Base64 payload limits of the u16 era; above them only the extended form can apply.
_MIN_PAYLOAD_CHARS = 132


@dataclass(frozen=True)
class MessageKeys:
    chacha_key: bytes
    chacha_nonce: bytes
    hmac_key: bytes


def _hmac_sha256(key: bytes, data: bytes) -> bytes:
    h = HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def conversation_key_from_shared_x(shared_x: bytes) -> bytes:
    """HKDF-extract(IKM = shared x, salt = "nip44-v2")."""
    if not isinstance(shared_x, bytes) or len(shared_x) != 32:
        raise InvalidPayloadError("shared x coordinate must be 32 bytes")
    return _hmac_sha256(SALT, shared_x)


def shared_x(seckey: bytes, pubkey_x: bytes) -> bytes:
    """Single-key ECDH: the x coordinate of seckey * lift_x(pubkey_x)."""
    if not isinstance(pubkey_x, bytes) or len(pubkey_x) != 32:
        raise InvalidPayloadError("public key must be 32 bytes (x-only)")
    try:
        point = PublicKey(b"\x02" + pubkey_x).multiply(PrivateKey(seckey).secret)
    except ValueError:
        raise InvalidPayloadError("invalid secret or public key") from None
    return point.format(compressed=True)[1:]


def conversation_key(seckey: bytes, pubkey_x: bytes) -> bytes:
    return conversation_key_from_shared_x(shared_x(seckey, pubkey_x))


def message_keys(conversation_key: bytes, nonce: bytes) -> MessageKeys:
    if len(conversation_key) != 32:
        raise InvalidPayloadError("conversation key must be 32 bytes")
    if len(nonce) != 32:
        raise InvalidPayloadError("nonce must be 32 bytes")
    okm = HKDFExpand(hashes.SHA256(), 76, nonce).derive(conversation_key)
    return MessageKeys(okm[0:32], okm[32:44], okm[44:76])


def calc_padded_len(unpadded_len: int) -> int:
    if unpadded_len < 1:
        raise InvalidPayloadError("plaintext must not be empty")
    if unpadded_len <= 32:
        return 32
    next_power = 1 << (unpadded_len - 1).bit_length()
    chunk = 32 if next_power <= 256 else next_power // 8
    return chunk * ((unpadded_len - 1) // chunk + 1)


def _prefix(length: int) -> bytes:
    if length < EXTENDED_PREFIX_THRESHOLD:
        return length.to_bytes(2, "big")
    return b"\x00\x00" + length.to_bytes(4, "big")


def pad(plaintext: bytes) -> bytes:
    n = len(plaintext)
    if not MIN_PLAINTEXT_SIZE <= n <= MAX_PLAINTEXT_SIZE:
        raise InvalidPayloadError(f"plaintext must be 1..{MAX_PLAINTEXT_SIZE} bytes")
    return _prefix(n) + plaintext + bytes(calc_padded_len(n) - n)


def unpad(padded: bytes) -> bytes:
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


def _chacha20(key: bytes, nonce12: bytes, data: bytes) -> bytes:
    # cryptography's ChaCha20 takes a 16-byte nonce: 4-byte little-endian counter || nonce.
    cipher = Cipher(algorithms.ChaCha20(key, b"\x00\x00\x00\x00" + nonce12), mode=None)
    return cipher.encryptor().update(data)


def encrypt(plaintext: str, conversation_key: bytes, nonce: bytes | None = None) -> str:
    """Base64 payload: version || nonce || ciphertext || mac."""
    if not isinstance(plaintext, str):
        raise InvalidPayloadError("plaintext must be a string")
    try:
        raw = plaintext.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayloadError("plaintext is not valid Unicode") from None
    nonce = os.urandom(32) if nonce is None else nonce
    keys = message_keys(conversation_key, nonce)
    ciphertext = _chacha20(keys.chacha_key, keys.chacha_nonce, pad(raw))
    mac = _hmac_sha256(keys.hmac_key, nonce + ciphertext)
    return base64.b64encode(bytes([VERSION]) + nonce + ciphertext + mac).decode()


def decode_payload(payload: str) -> tuple[bytes, bytes, bytes]:
    """(nonce, ciphertext, mac) of a base64 payload, with NIP-44's shape checks."""
    if not isinstance(payload, str) or not payload:
        raise InvalidPayloadError("payload must be a non-empty string")
    if payload[0] == "#":
        raise InvalidPayloadError("unknown encryption version")
    if len(payload) < _MIN_PAYLOAD_CHARS:
        raise InvalidPayloadError("payload is too short")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayloadError("payload is not valid base64") from None
    if len(data) < 99:
        raise InvalidPayloadError("payload is too short")
    if data[0] != VERSION:
        raise InvalidPayloadError(f"unknown encryption version {data[0]}")
    return data[1:33], data[33:-32], data[-32:]


def decrypt(payload: str, conversation_key: bytes) -> str:
    nonce, ciphertext, mac = decode_payload(payload)
    keys = message_keys(conversation_key, nonce)
    expected = _hmac_sha256(keys.hmac_key, nonce + ciphertext)
    if not hmac.compare_digest(expected, mac):
        raise DecryptionError("invalid MAC")
    padded = _chacha20(keys.chacha_key, keys.chacha_nonce, ciphertext)
    try:
        return unpad(padded).decode("utf-8")
    except UnicodeDecodeError:
        raise DecryptionError("plaintext is not valid UTF-8") from None
