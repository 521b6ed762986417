"""Mutual authentication of the signer's HTTP protocol: signed requests, signed replies.

Request (coordinator -> signer), headers:
    X-NP-Coordinator  hex Ed25519 public key of the coordinator (must be configured)
    X-NP-Signer       the signer id the request is meant for
    X-NP-Timestamp    unix seconds
    X-NP-Nonce        32 hex chars (16 random bytes), never reused
    X-NP-Signature    hex Ed25519 signature over request_message(...)
Reply (signer -> coordinator), header:
    X-NP-Signer-Signature  hex Ed25519 signature by the signer's key over
                           response_message(request nonce, status, body)

The signer id in the signed request stops a request for one signer from being replayed
to another signer that trusts the same coordinator key; the nonce, remembered by the
signer for the whole acceptance window in its durable store, stops replays to the same
signer, across restarts too. See docs/signer-protocol.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from nostr_passport.errors import BadRequestError
from nostr_passport.signer.errors import (
    ReplayedRequestError,
    RequestAuthenticationError,
    ResponseAuthenticationError,
)

HEADER_COORDINATOR = "x-np-coordinator"
HEADER_SIGNER = "x-np-signer"
HEADER_TIMESTAMP = "x-np-timestamp"
HEADER_NONCE = "x-np-nonce"
HEADER_SIGNATURE = "x-np-signature"
HEADER_RESPONSE_SIGNATURE = "x-np-signer-signature"

REQUEST_DOMAIN = b"nostr-passport/signer-request/v1"
RESPONSE_DOMAIN = b"nostr-passport/signer-response/v1"
DEFAULT_WINDOW_SECONDS = 60
NONCE_BYTES = 16

_NONCE_RE = re.compile(r"^[0-9a-f]{32}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_HEX128_RE = re.compile(r"^[0-9a-f]{128}$")
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")


# ---------------------------------------------------------------- keys


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32-byte Ed25519 public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_key_from_bytes(raw: bytes) -> Ed25519PrivateKey:
    if not isinstance(raw, bytes | bytearray) or len(raw) != 32:
        raise BadRequestError("an Ed25519 private key is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(bytes(raw))


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    if not isinstance(raw, bytes | bytearray) or len(raw) != 32:
        raise BadRequestError("an Ed25519 public key is 32 bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(raw))
    except ValueError:
        raise BadRequestError("not an Ed25519 public key") from None


# ---------------------------------------------------------------- messages


def request_message(
    method: str, path: str, signer_id: str, timestamp: int, nonce: str, body: bytes
) -> bytes:
    """What the coordinator signs: every field that gives the request its meaning."""
    parts = [
        REQUEST_DOMAIN,
        method.upper().encode(),
        path.encode(),
        signer_id.encode(),
        str(timestamp).encode(),
        nonce.encode(),
        hashlib.sha256(body).hexdigest().encode(),
    ]
    return b"\n".join(parts)


def response_message(request_nonce: str, status: int, body: bytes) -> bytes:
    """What the signer signs: the reply is bound to the request it answers."""
    parts = [
        RESPONSE_DOMAIN,
        request_nonce.encode(),
        str(status).encode(),
        hashlib.sha256(body).hexdigest().encode(),
    ]
    return b"\n".join(parts)


def new_request_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES)


def signed_request_headers(
    key: Ed25519PrivateKey,
    method: str,
    path: str,
    signer_id: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    n = new_request_nonce() if nonce is None else nonce
    signature = key.sign(request_message(method, path, signer_id, ts, n, body))
    return {
        HEADER_COORDINATOR: public_key_bytes(key).hex(),
        HEADER_SIGNER: signer_id,
        HEADER_TIMESTAMP: str(ts),
        HEADER_NONCE: n,
        HEADER_SIGNATURE: signature.hex(),
    }


def response_signature(key: Ed25519PrivateKey, request_nonce: str, status: int, body: bytes) -> str:
    return key.sign(response_message(request_nonce, status, body)).hex()


def verify_response(
    signer_key: Ed25519PublicKey,
    request_nonce: str,
    status: int,
    body: bytes,
    signature_hex: str | None,
) -> None:
    """ResponseAuthenticationError unless the signer signed this reply to this request."""
    if signature_hex is None or not _HEX128_RE.match(signature_hex):
        raise ResponseAuthenticationError("signer reply carries no valid signature")
    try:
        signer_key.verify(
            bytes.fromhex(signature_hex), response_message(request_nonce, status, body)
        )
    except InvalidSignature:
        raise ResponseAuthenticationError(
            "signer reply is not signed by the expected signer key"
        ) from None


# ---------------------------------------------------------------- server side


@dataclass(frozen=True)
class VerifiedRequest:
    coordinator_key: bytes
    nonce: str
    timestamp: int


class RequestVerifier:
    """Checks a request's signature, freshness and novelty (in that order).

    `remember_nonce(nonce, expires_at, now) -> bool` persists nonces (the signer's
    store); it is called only for correctly signed requests, so strangers cannot
    fill it.
    """

    def __init__(
        self,
        signer_id: str,
        allowed_coordinator_keys: Collection[bytes],
        remember_nonce: Callable[[bytes, int, int], bool],
        *,
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not allowed_coordinator_keys:
            raise BadRequestError("at least one coordinator key must be allowed")
        self._signer_id = signer_id
        self._keys = {bytes(k): public_key_from_bytes(k) for k in allowed_coordinator_keys}
        self._remember = remember_nonce
        self._window = window_seconds
        self._clock = clock

    def verify(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> VerifiedRequest:
        key_hex = headers.get(HEADER_COORDINATOR)
        signer = headers.get(HEADER_SIGNER)
        ts_text = headers.get(HEADER_TIMESTAMP)
        nonce = headers.get(HEADER_NONCE)
        sig_hex = headers.get(HEADER_SIGNATURE)
        if key_hex is None or signer is None or ts_text is None or nonce is None or sig_hex is None:
            raise RequestAuthenticationError("request is not signed")
        if not (
            _HEX64_RE.match(key_hex)
            and _TIMESTAMP_RE.match(ts_text)
            and _NONCE_RE.match(nonce)
            and _HEX128_RE.match(sig_hex)
        ):
            raise RequestAuthenticationError("request authentication headers are malformed")
        key_raw = bytes.fromhex(key_hex)
        public = next(
            (k for raw, k in self._keys.items() if hmac.compare_digest(raw, key_raw)), None
        )
        if public is None:
            raise RequestAuthenticationError("coordinator key is not allowed on this signer")
        if not hmac.compare_digest(signer.encode(), self._signer_id.encode()):
            raise RequestAuthenticationError("request is addressed to another signer")
        timestamp = int(ts_text)
        now = int(self._clock())
        if abs(now - timestamp) > self._window:
            raise RequestAuthenticationError("request timestamp is outside the accepted window")
        message = request_message(method, path, signer, timestamp, nonce, body)
        try:
            public.verify(bytes.fromhex(sig_hex), message)
        except InvalidSignature:
            raise RequestAuthenticationError("request signature does not verify") from None
        # Kept until the timestamp leaves the window: after that the request is stale anyway.
        if not self._remember(bytes.fromhex(nonce), timestamp + self._window + 1, now):
            raise ReplayedRequestError("request nonce has been seen before")
        return VerifiedRequest(key_raw, nonce, timestamp)
