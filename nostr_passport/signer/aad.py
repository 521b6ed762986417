"""Additional authenticated data for everything a signer wraps.

A wrapped blob opens only with the AAD it was sealed with, so binding the row's
identity, participant and epoch means a blob copied into another row (another identity,
another participant, an older epoch) fails authentication instead of being used there.
Fields are length-prefixed so that no two different tuples encode to the same bytes.
"""

from __future__ import annotations

import struct

SHARE_PREFIX = b"np-share|"
TRANSPORT_PREFIX = b"np-share-transport|"
NONCE_SEED_PREFIX = b"np-nonce-seed|"
SIGNER_KEY_PREFIX = b"np-signer-key|"


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def _share_fields(identity_id: str, participant: int, epoch: int) -> bytes:
    return _text(identity_id) + struct.pack(">IQ", participant, epoch)


def share_aad(identity_id: str, participant: int, epoch: int) -> bytes:
    """AAD of a share wrapped under this signer's KEK."""
    return SHARE_PREFIX + _share_fields(identity_id, participant, epoch)


def transport_aad(identity_id: str, participant: int, epoch: int) -> bytes:
    """AAD of a share sealed to another provider's transport key (dealing, backup)."""
    return TRANSPORT_PREFIX + _share_fields(identity_id, participant, epoch)


def nonce_seed_aad(signer_id: str, batch_id: str) -> bytes:
    """AAD of a nonce batch seed: a seed moved to another batch row does not open."""
    return NONCE_SEED_PREFIX + _text(signer_id) + _text(batch_id)


def signer_key_aad(signer_id: str, name: str) -> bytes:
    """AAD of a signer-held private key (e.g. its HTTP response-signing key)."""
    return SIGNER_KEY_PREFIX + _text(signer_id) + _text(name)
