"""The provider contract, run unchanged against the simulator and pkcs11 + SoftHSM2."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nostr_passport.errors import (
    BadRequestError,
    KeyInUseError,
    KeyNotFoundError,
    ProviderUnavailableError,
    TamperedCiphertextError,
)
from nostr_passport.hsm.provider import (
    GCM_NONCE_LEN,
    HsmProvider,
    WrappedBlob,
    verify_attestation_signature,
)
from tests.hsm.conftest import ProviderFactory

AAD = b"identity=abc|participant=1|epoch=3"
SHARE = bytes(range(32))


def flip_bit(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def test_provider_satisfies_protocol(new_provider: ProviderFactory, kind: str) -> None:
    provider = new_provider()
    assert isinstance(provider, HsmProvider)
    assert provider.info.kind == kind
    assert provider.info.simulated is True  # simulator and SoftHSM2 both lack hardware
    assert provider.health().ok


def test_random_bytes_lengths_and_uniqueness(new_provider: ProviderFactory) -> None:
    provider = new_provider()
    for n in (1, 12, 32, 1000, 65536):
        assert len(provider.random_bytes(n)) == n
    draws = {provider.random_bytes(32) for _ in range(100)}
    assert len(draws) == 100
    for bad in (0, -1, 65537):
        with pytest.raises(BadRequestError):
            provider.random_bytes(bad)


def test_wrap_unwrap_round_trip(new_provider: ProviderFactory) -> None:
    provider = new_provider()
    for plaintext in (b"", SHARE, b"\xff" * 1000):
        blob = provider.wrap(plaintext, AAD)
        assert blob.kek_id == provider.current_kek_id()
        assert len(blob.nonce) == GCM_NONCE_LEN
        assert plaintext not in blob.to_bytes() or plaintext == b""
        assert provider.unwrap(WrappedBlob.from_bytes(blob.to_bytes()), AAD) == plaintext
    nonces = {provider.wrap(SHARE, AAD).nonce for _ in range(20)}
    assert len(nonces) == 20


@pytest.mark.parametrize("part", ["ciphertext", "nonce", "tag"])
def test_flipped_bit_is_tampered(new_provider: ProviderFactory, part: str) -> None:
    provider = new_provider()
    blob = provider.wrap(SHARE, AAD)
    if part == "nonce":
        bad = WrappedBlob(blob.kek_id, flip_bit(blob.nonce, 5), blob.ciphertext)
    elif part == "ciphertext":
        bad = WrappedBlob(blob.kek_id, blob.nonce, flip_bit(blob.ciphertext, 3))
    else:
        bad = WrappedBlob(
            blob.kek_id, blob.nonce, flip_bit(blob.ciphertext, len(blob.ciphertext) - 1)
        )
    with pytest.raises(TamperedCiphertextError):
        provider.unwrap(bad, AAD)


def test_wrong_aad_is_tampered(new_provider: ProviderFactory) -> None:
    provider = new_provider()
    blob = provider.wrap(SHARE, AAD)
    with pytest.raises(TamperedCiphertextError):
        provider.unwrap(blob, AAD + b"x")
    with pytest.raises(TamperedCiphertextError):
        provider.unwrap(blob, b"")


def test_blob_of_another_provider_does_not_open(new_provider: ProviderFactory) -> None:
    a, b = new_provider(), new_provider()
    blob = a.wrap(SHARE, AAD)
    # Same KEK label on both, different keys: authentication must fail.
    with pytest.raises(TamperedCiphertextError):
        b.unwrap(blob, AAD)


def test_kek_rotation(new_provider: ProviderFactory) -> None:
    provider = new_provider()
    old_id = provider.current_kek_id()
    assert provider.list_kek_ids() == [old_id]
    old_blob = provider.wrap(SHARE, AAD)

    new_id = provider.create_kek()
    assert new_id != old_id
    assert provider.current_kek_id() == new_id
    assert provider.list_kek_ids() == [old_id, new_id]
    assert provider.unwrap(old_blob, AAD) == SHARE  # old blobs still open

    new_blob = provider.rewrap(old_blob, AAD)
    assert new_blob.kek_id == new_id
    assert provider.unwrap(new_blob, AAD) == SHARE
    assert provider.wrap(SHARE, AAD).kek_id == new_id

    with pytest.raises(KeyInUseError):
        provider.destroy_kek(new_id)
    provider.destroy_kek(old_id)
    assert provider.list_kek_ids() == [new_id]
    with pytest.raises(KeyNotFoundError):
        provider.unwrap(old_blob, AAD)
    with pytest.raises(KeyNotFoundError):
        provider.destroy_kek(old_id)
    assert provider.unwrap(new_blob, AAD) == SHARE


def test_attestation_sign_and_verify(new_provider: ProviderFactory) -> None:
    provider = new_provider()
    public_der = provider.attestation_public_key()
    key = serialization.load_der_public_key(public_der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp256r1"
    message = b'{"identity":"abc","epoch":1}'
    signature = provider.attestation_sign(message)
    assert signature[0] == 0x30  # DER SEQUENCE
    assert verify_attestation_signature(public_der, message, signature)
    assert not verify_attestation_signature(public_der, message + b" ", signature)
    assert not verify_attestation_signature(public_der, message, flip_bit(signature, 10))
    assert not verify_attestation_signature(b"not a key", message, signature)
    other = new_provider()
    assert not verify_attestation_signature(other.attestation_public_key(), message, signature)


def test_audit_hmac_deterministic_per_key(new_provider: ProviderFactory) -> None:
    a, b = new_provider(), new_provider()
    mac = a.audit_hmac(b"record 1")
    assert len(mac) == 32
    assert a.audit_hmac(b"record 1") == mac
    assert a.audit_hmac(b"record 2") != mac
    assert b.audit_hmac(b"record 1") != mac


def test_transport_between_providers(new_provider: ProviderFactory) -> None:
    a, b, c = new_provider(), new_provider(), new_provider()
    blob = a.wrap_for(b.transport_public_key(), SHARE, AAD)
    assert SHARE not in blob
    assert b.unwrap_transported(blob, AAD) == SHARE
    with pytest.raises(TamperedCiphertextError):
        c.unwrap_transported(blob, AAD)
    with pytest.raises(TamperedCiphertextError):
        a.unwrap_transported(blob, AAD)
    with pytest.raises(TamperedCiphertextError):
        b.unwrap_transported(blob, AAD + b"!")
    for index in (0, 5, 10, 75, len(blob) - 30, len(blob) - 1):  # header, eph, nonce, body, tag
        with pytest.raises(TamperedCiphertextError):
            b.unwrap_transported(flip_bit(blob, index), AAD)
    with pytest.raises(TamperedCiphertextError):
        b.unwrap_transported(b"garbage", AAD)
    with pytest.raises(BadRequestError):
        a.wrap_for(b"not a transport key", SHARE, AAD)


def test_persistence_across_reopen(new_provider: ProviderFactory) -> None:
    first = new_provider()
    first.create_kek()
    blob = first.wrap(SHARE, AAD)
    before = (
        first.list_kek_ids(),
        first.attestation_public_key(),
        first.audit_hmac(b"m"),
        first.transport_public_key(),
        first.info.serial,
    )
    sealed = new_provider().wrap_for(first.transport_public_key(), SHARE, AAD)
    first.close()

    again = new_provider(reopen=first)
    assert again.unwrap(blob, AAD) == SHARE
    assert again.unwrap_transported(sealed, AAD) == SHARE
    after = (
        again.list_kek_ids(),
        again.attestation_public_key(),
        again.audit_hmac(b"m"),
        again.transport_public_key(),
        again.info.serial,
    )
    assert after == before


def test_closed_provider_refuses(new_provider: ProviderFactory) -> None:
    provider = new_provider()
    provider.close()
    provider.close()  # idempotent
    assert not provider.health().ok
    with pytest.raises(ProviderUnavailableError):
        provider.wrap(SHARE, AAD)
    with pytest.raises(ProviderUnavailableError):
        provider.random_bytes(8)
