"""The provider protocol: everything a FROST signer asks of an HSM, and nothing more.

A signer codes against `HsmProvider` only. Two implementations ship (`simulator`,
`pkcs11`); a vendor-firmware provider that keeps shares inside the HSM (Luna FM,
nShield CodeSafe) can be added later behind the same protocol without changing callers.

Honest limit: standard PKCS#11 has no FROST mechanism, so `unwrap` and
`unwrap_transported` return the plaintext share to the signer's memory for one
operation. Every other secret (KEKs, attestation key, audit HMAC key, transport key)
is generated in the HSM as non-extractable and never leaves it.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nostr_passport.errors import BadRequestError, MalformedBlobError

ProviderKind = Literal["simulator", "pkcs11"]

GCM_NONCE_LEN = 12
GCM_TAG_LEN = 16
RANDOM_MAX = 65536
KEK_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}-kek-([1-9][0-9]{0,8})$")

# Domain separation: a KEK is only ever used for this one purpose, but binding the
# purpose into the AAD keeps a blob from being replayed into any future GCM use.
KEK_AAD_PREFIX = b"nostr-passport/kek-wrap/v1\x00"


@dataclass(frozen=True)
class ProviderInfo:
    """Public description of a provider instance (goes into attestations)."""

    name: str
    kind: ProviderKind
    vendor: str
    model: str
    serial: str
    label: str
    profile: str
    # True when no hardware protects the keys (our simulator, and SoftHSM2).
    simulated: bool


@dataclass(frozen=True)
class HealthStatus:
    ok: bool
    detail: str
    latency_ms: float


@dataclass(frozen=True)
class WrappedBlob:
    """A secret sealed with AES-256-GCM under one KEK of one provider.

    `ciphertext` includes the 16-byte GCM tag. The AAD is not stored: the caller
    supplies it again on unwrap (identity, participant, epoch).
    """

    kek_id: str
    nonce: bytes
    ciphertext: bytes

    _VERSION = 1

    def __post_init__(self) -> None:
        if not KEK_ID_PATTERN.match(self.kek_id):
            raise MalformedBlobError("wrapped blob has an invalid KEK id")
        if len(self.nonce) != GCM_NONCE_LEN:
            raise MalformedBlobError("wrapped blob nonce must be 12 bytes")
        if len(self.ciphertext) < GCM_TAG_LEN:
            raise MalformedBlobError("wrapped blob ciphertext is shorter than the GCM tag")

    def to_bytes(self) -> bytes:
        """version(1) | len(kek_id)(1) | kek_id | nonce(12) | ciphertext+tag."""
        kek = self.kek_id.encode("ascii")
        return struct.pack("BB", self._VERSION, len(kek)) + kek + self.nonce + self.ciphertext

    @classmethod
    def from_bytes(cls, data: bytes) -> WrappedBlob:
        if len(data) < 2:
            raise MalformedBlobError("wrapped blob is truncated")
        version, kek_len = data[0], data[1]
        if version != cls._VERSION:
            raise MalformedBlobError(f"unsupported wrapped blob version {version}")
        body = data[2:]
        if len(body) < kek_len + GCM_NONCE_LEN + GCM_TAG_LEN:
            raise MalformedBlobError("wrapped blob is truncated")
        try:
            kek_id = body[:kek_len].decode("ascii")
        except UnicodeDecodeError:
            raise MalformedBlobError("wrapped blob has an invalid KEK id") from None
        nonce = body[kek_len : kek_len + GCM_NONCE_LEN]
        return cls(kek_id=kek_id, nonce=nonce, ciphertext=body[kek_len + GCM_NONCE_LEN :])

    def __repr__(self) -> str:
        return f"WrappedBlob(kek_id={self.kek_id!r}, {len(self.ciphertext)} bytes)"


@runtime_checkable
class HsmProvider(Protocol):
    """What a FROST signer needs from an HSM. Implementations are thread-safe."""

    @property
    def info(self) -> ProviderInfo: ...

    def health(self) -> HealthStatus:
        """Never raises: a broken HSM is reported as ok=False."""
        ...

    def random_bytes(self, n: int) -> bytes:
        """n bytes from the HSM RNG (C_GenerateRandom); 1 <= n <= 65536."""
        ...

    def current_kek_id(self) -> str:
        """The KEK `wrap` uses; created on first use."""
        ...

    def create_kek(self) -> str:
        """A new non-extractable AES-256 KEK, which becomes current; returns its id."""
        ...

    def destroy_kek(self, kek_id: str) -> None:
        """Destroys a non-current KEK (KeyInUseError for the current one)."""
        ...

    def list_kek_ids(self) -> list[str]:
        """All KEK ids present, oldest first (the last one is current)."""
        ...

    def wrap(self, plaintext: bytes, aad: bytes) -> WrappedBlob:
        """AES-256-GCM under the current KEK, 12-byte nonce from the HSM."""
        ...

    def unwrap(self, blob: WrappedBlob, aad: bytes) -> bytes:
        """Tampered blob or wrong AAD: TamperedCiphertextError; KEK gone: KeyNotFoundError."""
        ...

    def rewrap(self, blob: WrappedBlob, aad: bytes) -> WrappedBlob:
        """The same plaintext sealed under the current KEK (KEK rotation)."""
        ...

    def attestation_public_key(self) -> bytes:
        """P-256 SubjectPublicKeyInfo DER of the HSM attestation key."""
        ...

    def attestation_sign(self, message: bytes) -> bytes:
        """ECDSA P-256 over SHA-256(message), DER-encoded, by the non-extractable HSM key."""
        ...

    def audit_hmac(self, message: bytes) -> bytes:
        """HMAC-SHA256 under a non-extractable HSM key."""
        ...

    def transport_public_key(self) -> bytes:
        """The key other providers wrap secrets to (opaque bytes, see hsm/transport.py)."""
        ...

    def wrap_for(self, recipient_transport_key: bytes, secret: bytes, aad: bytes) -> bytes:
        """Seal `secret` so that only the recipient provider can unwrap it."""
        ...

    def unwrap_transported(self, blob: bytes, aad: bytes) -> bytes:
        """Open a blob sealed to OUR transport key; TamperedCiphertextError otherwise."""
        ...

    def close(self) -> None: ...


def verify_attestation_signature(public_key_der: bytes, message: bytes, signature: bytes) -> bool:
    """Offline check of `attestation_sign` output; False on any malformed input."""
    try:
        key = serialization.load_der_public_key(public_key_der)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # A corrupted algorithm identifier surfaces as UnsupportedAlgorithm.
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return False
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def check_random_length(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= RANDOM_MAX:
        raise BadRequestError(f"random_bytes length must be an integer in 1..{RANDOM_MAX}")


def kek_label(prefix: str, number: int) -> str:
    return f"{prefix}-kek-{number}"


def kek_number(prefix: str, kek_id: str) -> int | None:
    """The sequence number of one of OUR KEK ids (label prefix `prefix`), else None."""
    match = KEK_ID_PATTERN.match(kek_id)
    if match is None or kek_id != kek_label(prefix, int(match.group(1))):
        return None
    return int(match.group(1))


def kek_aad(aad: bytes) -> bytes:
    return KEK_AAD_PREFIX + aad
