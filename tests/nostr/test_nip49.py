"""NIP-49 ncryptsec: the NIP's vectors, XChaCha20 draft vectors, nostr-sdk, tampering.

scrypt at log_n 16 costs ~0.1-0.3 s, so only a handful of tests use it; the rest use a
small log_n, which exercises the same code.
"""

from __future__ import annotations

import os

import pytest
from coincurve import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from nostr_sdk import EncryptedSecretKey, SecretKey

from nostr_passport.crypto.curve import N
from nostr_passport.nostr import nip19, nip49
from nostr_passport.nostr.errors import DecryptionError, EncodingError, InvalidPayloadError

# NIP-49's decryption test data.
SPEC_NCRYPTSEC = (
    "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yp"
    "hnm8623nsl8xn9j4jdzz84zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p"
)
SPEC_PASSWORD = "nostr"
SPEC_SECKEY = "3501454135014541350145413501453fefb02227e449e57cf4d3a3ce05378683"

# draft-irtf-cfrg-xchacha-03, 2.2.1 (HChaCha20) and A.3.1 (AEAD).
HCHACHA_KEY = bytes(range(32))
HCHACHA_NONCE = bytes.fromhex("000000090000004a0000000031415927")
HCHACHA_SUBKEY = "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
AEAD_PLAINTEXT = (
    b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
    b"the future, sunscreen would be it."
)
AEAD_AAD = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
AEAD_KEY = bytes(range(0x80, 0xA0))
AEAD_NONCE = bytes(range(0x40, 0x58))
AEAD_CIPHERTEXT = (
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa644"
    "0bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e"
    "3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
)
AEAD_TAG = "c0875924c1c7987947deafd8780acf49"

SECKEY = bytes.fromhex(SPEC_SECKEY)
FAST = 4  # log_n for tests that are not about scrypt's cost


def test_hchacha20_draft_vector() -> None:
    assert nip49.hchacha20(HCHACHA_KEY, HCHACHA_NONCE).hex() == HCHACHA_SUBKEY


def test_xchacha20_poly1305_draft_vector() -> None:
    sealed = nip49.xchacha20poly1305_encrypt(AEAD_KEY, AEAD_NONCE, AEAD_PLAINTEXT, AEAD_AAD)
    assert sealed.hex() == AEAD_CIPHERTEXT + AEAD_TAG
    opened = nip49.xchacha20poly1305_decrypt(AEAD_KEY, AEAD_NONCE, sealed, AEAD_AAD)
    assert opened == AEAD_PLAINTEXT
    with pytest.raises(DecryptionError):
        nip49.xchacha20poly1305_decrypt(AEAD_KEY, AEAD_NONCE, sealed, AEAD_AAD + b"x")


def test_spec_decryption_vector() -> None:
    assert nip49.decrypt(SPEC_NCRYPTSEC, SPEC_PASSWORD).hex() == SPEC_SECKEY
    parsed = nip49.parse(SPEC_NCRYPTSEC)
    assert parsed.log_n == 16
    assert len(nip19.decode("ncryptsec", SPEC_NCRYPTSEC)) == nip49.PAYLOAD_SIZE == 91


def test_spec_wrong_password() -> None:
    with pytest.raises(DecryptionError) as err:
        nip49.decrypt(SPEC_NCRYPTSEC, "nostr!")
    assert "nostr" not in str(err.value)
    assert SPEC_SECKEY not in str(err.value)


def test_spec_password_normalisation() -> None:
    given_password = "\u212b\u2126\u1e9b\u0323"
    assert given_password.encode() == bytes(
        [0xE2, 0x84, 0xAB, 0xE2, 0x84, 0xA6, 0xE1, 0xBA, 0x9B, 0xCC, 0xA3]
    )
    expected = bytes([0xC3, 0x85, 0xCE, 0xA9, 0xE1, 0xB9, 0xA9])
    assert nip49.normalized_password(given_password) == expected
    # Typed either way, the same password opens the key.
    s = nip49.encrypt(SECKEY, given_password, log_n=FAST)
    assert nip49.decrypt(s, "\u00c5\u03a9\u1e69") == SECKEY


def test_default_round_trip_and_nostr_sdk_both_ways() -> None:
    ours = nip49.encrypt(SECKEY, "correct horse")
    assert ours.startswith("ncryptsec1")
    assert nip49.parse(ours).log_n == nip49.DEFAULT_LOG_N
    assert nip49.parse(ours).key_security == nip49.KeySecurity.UNKNOWN
    sdk_key = EncryptedSecretKey.from_bech32(ours).decrypt("correct horse")
    assert sdk_key.to_hex() == SPEC_SECKEY
    theirs = SecretKey.parse(SPEC_SECKEY).encrypt("battery staple").to_bech32()
    assert nip49.decrypt(theirs, "battery staple") == SECKEY


def test_deterministic_given_salt_and_nonce() -> None:
    salt, nonce = bytes(16), bytes(range(24))
    a = nip49.encrypt(SECKEY, "pw", log_n=FAST, key_security=1, nonce=nonce, salt=salt)
    b = nip49.encrypt(SECKEY, "pw", log_n=FAST, key_security=1, nonce=nonce, salt=salt)
    assert a == b
    parsed = nip49.parse(a)
    assert (parsed.salt, parsed.nonce, parsed.key_security) == (salt, nonce, 1)
    assert nip49.ncryptsec_bytes(parsed) == nip19.decode("ncryptsec", a)
    assert nip49.encrypt(SECKEY, "pw", log_n=FAST) != nip49.encrypt(SECKEY, "pw", log_n=FAST)


@settings(max_examples=15, deadline=None)
@given(
    st.integers(1, N - 1),
    st.text(max_size=30).filter(lambda s: s == s.encode("utf-8", "replace").decode()),
    st.sampled_from(list(nip49.KeySecurity)),
)
def test_round_trip(secret: int, password: str, security: nip49.KeySecurity) -> None:
    seckey = secret.to_bytes(32, "big")
    s = nip49.encrypt(seckey, password, log_n=FAST, key_security=security)
    assert nip49.decrypt(s, password) == seckey
    assert nip49.parse(s).key_security == security
    assert seckey.hex() not in repr(nip49.parse(s))


def _tampered(s: str, index: int, value: int) -> str:
    data = bytearray(nip19.decode("ncryptsec", s))
    data[index] = value
    return nip19.encode("ncryptsec", bytes(data))


def test_every_field_is_authenticated() -> None:
    s = nip49.encrypt(SECKEY, "pw", log_n=FAST, key_security=0)
    data = nip19.decode("ncryptsec", s)
    ran = 0
    # log_n, salt, nonce, key security byte (the AAD), ciphertext, tag
    for index in (1, 2, 17, 18, 41, 42, 42 + 31, 90):
        changed = (data[index] + 1) % 256 if index != 1 else FAST + 1
        if index == 42:  # key security: another allowed value
            changed = 1
        with pytest.raises(DecryptionError):
            nip49.decrypt(_tampered(s, index, changed), "pw")
        ran += 1
    assert ran == 8


def test_too_costly_log_n_is_refused_before_scrypt() -> None:
    s = nip49.encrypt(SECKEY, "pw", log_n=FAST)
    costly = _tampered(s, 1, 40)
    with pytest.raises(InvalidPayloadError, match="log_n"):
        nip49.decrypt(costly, "pw")
    with pytest.raises(InvalidPayloadError, match="log_n"):
        nip49.decrypt(s, "pw", max_log_n=FAST - 1)


def _ncryptsec_of(data: bytes) -> str:
    return nip19.encode("ncryptsec", data)


VALID_DATA = nip19.decode("ncryptsec", SPEC_NCRYPTSEC)


@pytest.mark.parametrize(
    ("function", "args", "error", "reason"),
    [
        (nip49.decrypt, ("", "pw"), EncodingError, "separator"),
        (nip49.decrypt, (SPEC_NCRYPTSEC[:-1] + "q", "pw"), EncodingError, "checksum"),
        (nip49.decrypt, (nip19.encode("nsec", VALID_DATA), "pw"), EncodingError, "prefix"),
        (nip49.decrypt, (None, "pw"), EncodingError, "string"),
        (nip49.decrypt, (_ncryptsec_of(VALID_DATA[:-1]), "pw"), InvalidPayloadError, "91"),
        (nip49.decrypt, (_ncryptsec_of(VALID_DATA + b"\0"), "pw"), InvalidPayloadError, "91"),
        (
            nip49.decrypt,
            (_ncryptsec_of(b"\x01" + VALID_DATA[1:]), "pw"),
            InvalidPayloadError,
            "version",
        ),
        (
            nip49.decrypt,
            (_ncryptsec_of(VALID_DATA[:42] + b"\x03" + VALID_DATA[43:]), "pw"),
            InvalidPayloadError,
            "key security",
        ),
        (
            nip49.decrypt,
            (_ncryptsec_of(VALID_DATA[:1] + b"\x00" + VALID_DATA[2:]), "pw"),
            InvalidPayloadError,
            "log_n",
        ),
        (nip49.decrypt, (SPEC_NCRYPTSEC, b"nostr"), InvalidPayloadError, "password"),
        (nip49.decrypt, (SPEC_NCRYPTSEC, "\ud800"), InvalidPayloadError, "password"),
        (nip49.encrypt, (SECKEY[:31], "pw"), InvalidPayloadError, "32 bytes"),
        (nip49.encrypt, (SPEC_SECKEY, "pw"), InvalidPayloadError, "32 bytes"),
        (nip49.encrypt, (bytes(32), "pw"), InvalidPayloadError, "scalar"),
        (nip49.encrypt, (N.to_bytes(32, "big"), "pw"), InvalidPayloadError, "scalar"),
        (nip49.encrypt, (SECKEY, "pw", 0), InvalidPayloadError, "log_n"),
        (nip49.encrypt, (SECKEY, "pw", 256), InvalidPayloadError, "log_n"),
        (nip49.encrypt, (SECKEY, "pw", True), InvalidPayloadError, "log_n"),
        (nip49.encrypt, (SECKEY, "pw", FAST, 3), InvalidPayloadError, "key security"),
        (nip49.encrypt, (SECKEY, "pw", FAST, 2, bytes(12)), InvalidPayloadError, "24 bytes"),
        (
            nip49.encrypt,
            (SECKEY, "pw", FAST, 2, None, bytes(8)),
            InvalidPayloadError,
            "16 bytes",
        ),
        (nip49.hchacha20, (bytes(31), bytes(16)), InvalidPayloadError, "32 bytes"),
        (nip49.hchacha20, (bytes(32), bytes(24)), InvalidPayloadError, "16 bytes"),
    ],
)
def test_malformed_input_table(
    function: object, args: tuple[object, ...], error: type[Exception], reason: str
) -> None:
    assert callable(function)
    with pytest.raises(error, match=reason) as err:
        function(*args)
    assert SPEC_SECKEY not in str(err.value)


def test_decrypted_keys_work() -> None:
    seckey = os.urandom(32)
    s = nip49.encrypt(seckey, "pw", log_n=FAST, key_security=nip49.KeySecurity.SECURE)
    assert PrivateKey(nip49.decrypt(s, "pw")).secret == seckey
