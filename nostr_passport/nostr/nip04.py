"""NIP-04 (deprecated, kept for old clients): AES-256-CBC keyed by the shared x coordinate.

Payload: base64(ciphertext) + "?iv=" + base64(iv). No authentication: a tampered payload
usually fails on padding, but may decrypt to garbage; NIP-44 is the safe choice.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import DecryptionError, InvalidPayloadError

MAX_PAYLOAD_CHARS = 4 * 1024 * 1024


def _check_key(shared_x: bytes) -> None:
    if not isinstance(shared_x, bytes) or len(shared_x) != 32:
        raise InvalidPayloadError("shared x coordinate must be 32 bytes")


def encrypt(plaintext: str, shared_x: bytes, iv: bytes | None = None) -> str:
    _check_key(shared_x)
    if not isinstance(plaintext, str):
        raise InvalidPayloadError("plaintext must be a string")
    iv = os.urandom(16) if iv is None else iv
    if len(iv) != 16:
        raise InvalidPayloadError("iv must be 16 bytes")
    try:
        raw = plaintext.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayloadError("plaintext is not valid Unicode") from None
    padder = padding.PKCS7(128).padder()
    padded = padder.update(raw) + padder.finalize()
    enc = Cipher(algorithms.AES(shared_x), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(padded) + enc.finalize()
    return base64.b64encode(ciphertext).decode() + "?iv=" + base64.b64encode(iv).decode()


def decrypt(payload: str, shared_x: bytes) -> str:
    _check_key(shared_x)
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_CHARS:
        raise InvalidPayloadError("payload must be a string of reasonable size")
    body, sep, iv_b64 = payload.partition("?iv=")
    if not sep:
        raise InvalidPayloadError("NIP-04 payload lacks ?iv=")
    try:
        ciphertext = base64.b64decode(body, validate=True)
        iv = base64.b64decode(iv_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayloadError("NIP-04 payload is not valid base64") from None
    if len(iv) != 16 or not ciphertext or len(ciphertext) % 16:
        raise InvalidPayloadError("NIP-04 payload has a malformed iv or ciphertext length")
    dec = Cipher(algorithms.AES(shared_x), modes.CBC(iv)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        raw = unpadder.update(padded) + unpadder.finalize()
        return raw.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise DecryptionError("NIP-04 decryption failed") from None
