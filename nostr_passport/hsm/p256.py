"""P-256 encodings shared by the providers: points, SubjectPublicKeyInfo, ECDSA signatures.

PKCS#11 hands out EC points as a DER OCTET STRING around the X9.62 point (most
tokens) or as the bare point (some); signatures come back as raw r||s. The rest of
NostrPassport only ever sees SubjectPublicKeyInfo DER and DER signatures.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from nostr_passport.errors import HsmError

POINT_LEN = 65  # 0x04 || X(32) || Y(32)
COORD_LEN = 32
# DER of namedCurve secp256r1 (1.2.840.10045.3.1.7), the CKA_EC_PARAMS of our keys.
EC_PARAMS_P256 = bytes.fromhex("06082a8648ce3d030107")


def point_from_ec_point_attribute(value: bytes) -> bytes:
    """The uncompressed point inside a CKA_EC_POINT value (DER-wrapped or bare)."""
    if len(value) == POINT_LEN + 2 and value[0] == 0x04 and value[1] == POINT_LEN:
        value = value[2:]
    if len(value) != POINT_LEN or value[0] != 0x04:
        raise HsmError("the HSM returned an EC point that is not an uncompressed P-256 point")
    return value


def public_key_from_point(point: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise HsmError("invalid P-256 point") from None


def point_of(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def spki_from_point(point: bytes) -> bytes:
    return public_key_from_point(point).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def der_signature_from_raw(raw: bytes) -> bytes:
    """PKCS#11 CKM_ECDSA output (r||s, 32 bytes each) as a DER ECDSA-Sig-Value."""
    if len(raw) != 2 * COORD_LEN:
        raise HsmError("the HSM returned an ECDSA signature of unexpected length")
    r = int.from_bytes(raw[:COORD_LEN], "big")
    s = int.from_bytes(raw[COORD_LEN:], "big")
    return encode_dss_signature(r, s)
