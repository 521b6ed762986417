"""Wire formats and software helpers: wrapped blobs, transport keys/blobs, P-256 encodings."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from nostr_passport.errors import (
    BadRequestError,
    HsmError,
    MalformedBlobError,
    TamperedCiphertextError,
)
from nostr_passport.hsm.p256 import (
    der_signature_from_raw,
    point_from_ec_point_attribute,
    point_of,
    spki_from_point,
)
from nostr_passport.hsm.provider import (
    WrappedBlob,
    check_random_length,
    kek_label,
    kek_number,
    verify_attestation_signature,
)
from nostr_passport.hsm.transport import (
    TransportBlob,
    TransportKdf,
    TransportKey,
    derive_key,
    shared_info,
)

BLOB = WrappedBlob(kek_id="np-kek-3", nonce=b"\x01" * 12, ciphertext=b"\x02" * 40)


def test_wrapped_blob_round_trip_and_layout() -> None:
    data = BLOB.to_bytes()
    assert data[0] == 1  # version
    assert data[1] == len("np-kek-3")
    assert WrappedBlob.from_bytes(data) == BLOB
    assert "\\x02" not in repr(BLOB)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x01",
        b"\x02\x08np-kek-3" + b"\x00" * 28,  # unknown version
        BLOB.to_bytes()[:30],  # truncated
        b"\x01\x08np-k\xffk-3" + b"\x00" * 28,  # kek id not ascii
        b"\x01\x04abcd" + b"\x00" * 28,  # not a KEK id
    ],
)
def test_wrapped_blob_garbage_is_malformed(garbage: bytes) -> None:
    with pytest.raises(MalformedBlobError):
        WrappedBlob.from_bytes(garbage)
    assert issubclass(MalformedBlobError, TamperedCiphertextError)


@given(st.binary(max_size=120))
def test_wrapped_blob_parser_never_leaks_other_errors(data: bytes) -> None:
    try:
        blob = WrappedBlob.from_bytes(data)
    except MalformedBlobError:
        return
    assert blob.to_bytes() == data


def test_wrapped_blob_constructor_validates() -> None:
    with pytest.raises(MalformedBlobError):
        WrappedBlob(kek_id="np-kek-1", nonce=b"short", ciphertext=b"\x00" * 16)
    with pytest.raises(MalformedBlobError):
        WrappedBlob(kek_id="np-kek-1", nonce=b"\x00" * 12, ciphertext=b"\x00" * 15)


def test_kek_labels() -> None:
    assert kek_label("np", 12) == "np-kek-12"
    assert kek_number("np", "np-kek-12") == 12
    assert kek_number("np", "other-kek-12") is None
    assert kek_number("np", "np-kek-0") is None
    assert kek_number("np", "np-kek-01") is None
    assert kek_number("np", "np-attest") is None


def test_random_length_bounds() -> None:
    check_random_length(1)
    check_random_length(65536)
    for bad in (0, 65537, True, 3.0):
        with pytest.raises(BadRequestError):
            check_random_length(bad)  # type: ignore[arg-type]


def recipient_point() -> bytes:
    return point_of(ec.generate_private_key(ec.SECP256R1()).public_key())


def test_transport_key_round_trip_and_garbage() -> None:
    key = TransportKey(TransportKdf.X963_SHA256, recipient_point())
    assert TransportKey.from_bytes(key.to_bytes()) == key
    data = key.to_bytes()
    for bad in (b"", data[:-1], b"XXXX" + data[4:], data[:4] + b"\x09" + data[5:]):
        with pytest.raises(BadRequestError):
            TransportKey.from_bytes(bad)
    with pytest.raises(BadRequestError, match="KDF"):
        TransportKey.from_bytes(data[:5] + b"\x07" + data[6:])
    with pytest.raises(BadRequestError, match="point"):
        TransportKey.from_bytes(data[:6] + b"\x04" + b"\x00" * 64)


@given(st.binary(max_size=200))
def test_transport_blob_parser_never_leaks_other_errors(data: bytes) -> None:
    try:
        TransportBlob.from_bytes(data)
    except MalformedBlobError:
        pass


def test_x963_kdf_matches_the_standard_construction() -> None:
    z = bytes(range(32))
    eph, rec = recipient_point(), recipient_point()
    info = shared_info(eph, rec)
    expected = hashlib.sha256(z + b"\x00\x00\x00\x01" + info).digest()
    assert derive_key(TransportKdf.X963_SHA256, z, info) == expected
    assert derive_key(TransportKdf.RAW_X, z, info) == z


def test_ec_point_attribute_forms() -> None:
    point = recipient_point()
    assert point_from_ec_point_attribute(point) == point
    assert point_from_ec_point_attribute(b"\x04\x41" + point) == point
    with pytest.raises(HsmError):
        point_from_ec_point_attribute(b"\x04\x21" + point[:33])
    spki = spki_from_point(point)
    loaded = serialization.load_der_public_key(spki)
    assert isinstance(loaded, ec.EllipticCurvePublicKey)
    assert point_of(loaded) == point


def test_raw_signature_conversion_verifies() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.sign(b"msg", ec.ECDSA(hashes.SHA256()))
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert der_signature_from_raw(raw) == der
    with pytest.raises(HsmError):
        der_signature_from_raw(raw[:-1])
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert verify_attestation_signature(spki, b"msg", der_signature_from_raw(raw))


def test_verify_rejects_other_curves() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert not verify_attestation_signature(spki, b"m", key.sign(b"m", ec.ECDSA(hashes.SHA256())))
