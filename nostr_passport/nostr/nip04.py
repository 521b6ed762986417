"""NIP-04 (deprecated, kept for old clients): AES-256-CBC keyed by the shared x coordinate.

Payload: base64(ciphertext) + "?iv=" + base64(iv), PKCS#7 padding. There is no
authentication: a tampered payload usually fails on padding or UTF-8, but may decrypt to
garbage; NIP-44 is the safe choice. Errors say only that decryption failed, never why
in a way that would distinguish padding from UTF-8 failures (a padding oracle).
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import DecryptionError, InvalidPayloadError

IV_SIZE = 16
BLOCK_SIZE = 16
SEPARATOR = "?iv="
MAX_PAYLOAD_CHARS = 4 * 1024 * 1024


def _check_key(shared_x: bytes) -> bytes:
    if not isinstance(shared_x, bytes) or len(shared_x) != 32:
        raise InvalidPayloadError("shared x coordinate must be 32 bytes")
    return shared_x


def encrypt(plaintext: str, shared_x: bytes, iv: bytes | None = None) -> str:
    """The payload base64(ciphertext) + "?iv=" + base64(iv); a random iv unless given."""
    _check_key(shared_x)
    if not isinstance(plaintext, str):
        raise InvalidPayloadError("plaintext must be a string")
    iv = os.urandom(IV_SIZE) if iv is None else iv
    if not isinstance(iv, bytes) or len(iv) != IV_SIZE:
        raise InvalidPayloadError("iv must be 16 bytes")
    try:
        raw = plaintext.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayloadError("plaintext is not valid Unicode") from None
    padder = padding.PKCS7(BLOCK_SIZE * 8).padder()
    padded = padder.update(raw) + padder.finalize()
    enc = Cipher(algorithms.AES(shared_x), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(padded) + enc.finalize()
    return base64.b64encode(ciphertext).decode() + SEPARATOR + base64.b64encode(iv).decode()


def decode_payload(payload: str) -> tuple[bytes, bytes]:
    """(ciphertext, iv) of a NIP-04 payload, checked for form."""
    if not isinstance(payload, str) or not payload:
        raise InvalidPayloadError("NIP-04 payload must be a non-empty string")
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise InvalidPayloadError("NIP-04 payload is too long")
    body, sep, iv_b64 = payload.partition(SEPARATOR)
    if not sep:
        raise InvalidPayloadError("NIP-04 payload lacks ?iv=")
    try:
        ciphertext = base64.b64decode(body, validate=True)
        iv = base64.b64decode(iv_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayloadError("NIP-04 payload is not valid base64") from None
    if len(iv) != IV_SIZE:
        raise InvalidPayloadError("NIP-04 iv must be 16 bytes")
    if not ciphertext or len(ciphertext) % BLOCK_SIZE:
        raise InvalidPayloadError("NIP-04 ciphertext must be a non-empty multiple of 16 bytes")
    return ciphertext, iv


def decrypt(payload: str, shared_x: bytes) -> str:
    """The plaintext; DecryptionError if padding or UTF-8 fail (wrong key, tampering)."""
    _check_key(shared_x)
    ciphertext, iv = decode_payload(payload)
    dec = Cipher(algorithms.AES(shared_x), modes.CBC(iv)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    unpadder = padding.PKCS7(BLOCK_SIZE * 8).unpadder()
    try:
        raw = unpadder.update(padded) + unpadder.finalize()
        return raw.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise DecryptionError("NIP-04 decryption failed") from None
