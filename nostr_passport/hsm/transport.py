"""The transport scheme: sealing a secret to another provider's HSM-held key.

ECIES over P-256, chosen because every HSM we target can do its half in hardware:

    sender (software)              recipient (inside its HSM)
    ephemeral P-256 key e          static P-256 key d, CKA_DERIVE, non-extractable
    Z = ECDH(e, D)                 CKM_ECDH1_DERIVE(d, E) -> AES-256 key object K
    K = KDF(Z, shared_info)        (the KDF runs in the HSM, K is never extractable)
    AES-256-GCM(K, secret, aad')   C_Decrypt(CKM_AES_GCM) with K

Two KDFs, named by the recipient in its transport key so that senders need no
configuration:

- `RAW_X` (CKD_NULL): K is the x-coordinate of Z. SoftHSM2 2.6 implements no other
  KDF. Acceptable here because e is fresh per message, Z is never reused, and the
  context (both public keys, caller AAD) is bound through the GCM AAD instead.
- `X963_SHA256` (CKD_SHA256_KDF, ANSI X9.63): K = SHA-256(Z || 00000001 || shared_info).
  AWS CloudHSM implements only X9.63 KDFs; Luna implements both.

RSA-OAEP was rejected: SoftHSM2 2.6 supports OAEP with SHA-1 only.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from nostr_passport.errors import BadRequestError, MalformedBlobError, TamperedCiphertextError
from nostr_passport.hsm.p256 import POINT_LEN, point_of, public_key_from_point
from nostr_passport.hsm.provider import GCM_NONCE_LEN, GCM_TAG_LEN

KEY_MAGIC = b"NPTK"
BLOB_MAGIC = b"NPTB"
VERSION = 1
AES_KEY_LEN = 32
SHARED_INFO_PREFIX = b"nostr-passport/transport/v1"
AAD_PREFIX = b"nostr-passport/transport/v1\x00"


class TransportKdf(IntEnum):
    RAW_X = 1
    X963_SHA256 = 2


@dataclass(frozen=True)
class TransportKey:
    """A recipient's public transport key: the KDF its HSM runs, and its P-256 point."""

    kdf: TransportKdf
    point: bytes

    def to_bytes(self) -> bytes:
        return KEY_MAGIC + bytes([VERSION, self.kdf]) + self.point

    @classmethod
    def from_bytes(cls, data: bytes) -> TransportKey:
        header = len(KEY_MAGIC) + 2
        if len(data) != header + POINT_LEN or not data.startswith(KEY_MAGIC):
            raise BadRequestError("not a NostrPassport transport public key")
        if data[len(KEY_MAGIC)] != VERSION:
            raise BadRequestError("unsupported transport key version")
        try:
            kdf = TransportKdf(data[len(KEY_MAGIC) + 1])
        except ValueError:
            raise BadRequestError("transport key names an unknown KDF") from None
        point = data[header:]
        try:
            public_key_from_point(point)
        except Exception:
            raise BadRequestError("transport key holds an invalid P-256 point") from None
        return cls(kdf=kdf, point=point)


@dataclass(frozen=True)
class TransportBlob:
    kdf: TransportKdf
    ephemeral_point: bytes
    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        return (
            BLOB_MAGIC
            + bytes([VERSION, self.kdf])
            + self.ephemeral_point
            + self.nonce
            + self.ciphertext
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TransportBlob:
        header = len(BLOB_MAGIC) + 2
        if len(data) < header + POINT_LEN + GCM_NONCE_LEN + GCM_TAG_LEN:
            raise MalformedBlobError("transport blob is truncated")
        if not data.startswith(BLOB_MAGIC) or data[len(BLOB_MAGIC)] != VERSION:
            raise MalformedBlobError("not a NostrPassport transport blob (v1)")
        try:
            kdf = TransportKdf(data[len(BLOB_MAGIC) + 1])
        except ValueError:
            raise MalformedBlobError("transport blob names an unknown KDF") from None
        eph = data[header : header + POINT_LEN]
        try:
            public_key_from_point(eph)
        except Exception:
            raise MalformedBlobError("transport blob holds an invalid ephemeral point") from None
        nonce = data[header + POINT_LEN : header + POINT_LEN + GCM_NONCE_LEN]
        return cls(kdf, eph, nonce, data[header + POINT_LEN + GCM_NONCE_LEN :])

    def __repr__(self) -> str:
        return f"TransportBlob(kdf={self.kdf.name}, {len(self.ciphertext)} bytes)"


def shared_info(ephemeral_point: bytes, recipient_point: bytes) -> bytes:
    """X9.63 SharedInfo: binds the derived key to both public keys."""
    return SHARED_INFO_PREFIX + ephemeral_point + recipient_point


def gcm_aad(blob: TransportBlob, recipient_point: bytes, aad: bytes) -> bytes:
    return (
        AAD_PREFIX
        + bytes([blob.kdf])
        + blob.ephemeral_point
        + recipient_point
        + struct.pack(">I", len(aad))
        + aad
    )


def derive_key(kdf: TransportKdf, z: bytes, info: bytes) -> bytes:
    """The software KDF; must equal what the recipient HSM derives from the same Z."""
    if kdf is TransportKdf.RAW_X:
        return z[:AES_KEY_LEN]
    return X963KDF(algorithm=hashes.SHA256(), length=AES_KEY_LEN, sharedinfo=info).derive(z)


def seal(recipient: TransportKey, secret: bytes, aad: bytes, nonce: bytes) -> bytes:
    """Sender side, in software: the recipient's private key is never needed."""
    if len(nonce) != GCM_NONCE_LEN:
        raise BadRequestError("transport nonce must be 12 bytes")
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    eph_point = point_of(ephemeral.public_key())
    z = ephemeral.exchange(ec.ECDH(), public_key_from_point(recipient.point))
    key = derive_key(recipient.kdf, z, shared_info(eph_point, recipient.point))
    header = TransportBlob(recipient.kdf, eph_point, nonce, b"")
    ciphertext = AESGCM(key).encrypt(nonce, secret, gcm_aad(header, recipient.point, aad))
    return TransportBlob(recipient.kdf, eph_point, nonce, ciphertext).to_bytes()


def open_with_shared_secret(
    blob: TransportBlob, recipient_point: bytes, z: bytes, aad: bytes
) -> bytes:
    """Recipient side in software (the simulator); pkcs11 does this in the HSM."""
    key = derive_key(blob.kdf, z, shared_info(blob.ephemeral_point, recipient_point))
    try:
        return AESGCM(key).decrypt(blob.nonce, blob.ciphertext, gcm_aad(blob, recipient_point, aad))
    except InvalidTag:
        raise TamperedCiphertextError("transport blob failed authentication") from None


def key_fingerprint(transport_key: bytes) -> str:
    """Short public identifier of a transport key, for logs and error messages."""
    return hashlib.sha256(transport_key).hexdigest()[:16]
