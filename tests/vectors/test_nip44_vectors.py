"""Every case of the published NIP-44 v2 vectors (paulmillr/nip44, sha256 269ed0f6...5040),
then nostr-sdk interop, random round trips and a malformed-input table.

The one deliberate departure: the file lists 65536, 100000 and 10000000 as invalid
encrypt lengths, but the current NIP-44 text (extended length prefix) makes them valid.
For those we assert the current text's behaviour: a 6-byte prefix, the same padding rule,
and a round trip (see nostr_passport/nostr/nip44.py).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from coincurve import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from nostr_sdk import Keys, Nip44Version, nip44_decrypt, nip44_encrypt

from nostr_passport.nostr import nip44
from nostr_passport.nostr.errors import DecryptionError, InvalidPayloadError
from tests.conftest import load_vector_json, vector_path

VECTOR_SHA256 = "269ed0f69e4c192512cc779e78c555090cebc7c785b609e338a62afc3ce25040"


def vectors() -> Any:
    return load_vector_json("nip44", "nip44.vectors.json")["v2"]


def xonly(seckey_hex: str) -> bytes:
    return PrivateKey(bytes.fromhex(seckey_hex)).public_key.format()[1:]


def test_vector_file_is_the_one_the_nip_pins() -> None:
    digest = hashlib.sha256(vector_path("nip44", "nip44.vectors.json").read_bytes())
    assert digest.hexdigest() == VECTOR_SHA256


# ---------------------------------------------------------------- valid


def test_valid_conversation_keys() -> None:
    cases = vectors()["valid"]["get_conversation_key"]
    ran = 0
    for case in cases:
        key = nip44.conversation_key(bytes.fromhex(case["sec1"]), bytes.fromhex(case["pub2"]))
        assert key.hex() == case["conversation_key"], case.get("note")
        ran += 1
    assert ran == len(cases) == 35


def test_valid_message_keys() -> None:
    block = vectors()["valid"]["get_message_keys"]
    ran = 0
    for case in block["keys"]:
        keys = nip44.message_keys(
            bytes.fromhex(block["conversation_key"]), bytes.fromhex(case["nonce"])
        )
        assert keys.chacha_key.hex() == case["chacha_key"]
        assert keys.chacha_nonce.hex() == case["chacha_nonce"]
        assert keys.hmac_key.hex() == case["hmac_key"]
        ran += 1
    assert ran == len(block["keys"]) == 32


def test_valid_padded_lengths() -> None:
    cases = vectors()["valid"]["calc_padded_len"]
    ran = 0
    for unpadded, padded in cases:
        assert nip44.calc_padded_len(unpadded) == padded
        ran += 1
    assert ran == len(cases) == 24


def test_valid_encrypt_decrypt() -> None:
    cases = vectors()["valid"]["encrypt_decrypt"]
    ran = 0
    for case in cases:
        # As the NIP asks: conversation key from (sec1, pub2), encrypt and compare the
        # payload; then from (sec2, pub1), decrypt and compare the plaintext.
        key = nip44.conversation_key(bytes.fromhex(case["sec1"]), xonly(case["sec2"]))
        assert key.hex() == case["conversation_key"]
        payload = nip44.encrypt(case["plaintext"], key, bytes.fromhex(case["nonce"]))
        assert payload == case["payload"]
        other = nip44.conversation_key(bytes.fromhex(case["sec2"]), xonly(case["sec1"]))
        assert other == key
        assert nip44.decrypt(payload, other) == case["plaintext"]
        ran += 1
    assert ran == len(cases) == 10


def test_valid_long_messages() -> None:
    cases = vectors()["valid"]["encrypt_decrypt_long_msg"]
    ran = 0
    for case in cases:
        plaintext = case["pattern"] * case["repeat"]
        assert hashlib.sha256(plaintext.encode()).hexdigest() == case["plaintext_sha256"]
        key = bytes.fromhex(case["conversation_key"])
        payload = nip44.encrypt(plaintext, key, bytes.fromhex(case["nonce"]))
        assert hashlib.sha256(payload.encode()).hexdigest() == case["payload_sha256"]
        assert nip44.decrypt(payload, key) == plaintext
        ran += 1
    assert ran == len(cases) == 3


# ---------------------------------------------------------------- invalid


def test_invalid_encrypt_lengths_follow_the_current_nip_text() -> None:
    lengths = vectors()["invalid"]["encrypt_msg_lengths"]
    assert lengths == [0, 65536, 100000, 10000000]
    key = bytes(range(32))
    ran = 0
    for n in lengths:
        if n == 0:
            # Invalid in the file and in the current text.
            with pytest.raises(InvalidPayloadError, match="empty"):
                nip44.encrypt("", key)
            ran += 1
            continue
        # Invalid in the file; valid in the current text: 2 zero bytes + u32 length.
        plaintext = "a" * n
        padded = nip44.pad(plaintext.encode())
        assert padded[:6] == b"\x00\x00" + n.to_bytes(4, "big")
        assert len(padded) == 6 + nip44.calc_padded_len(n)
        assert nip44.unpad(padded) == plaintext.encode()
        if n <= 100000:  # a full encrypt/decrypt of 10 MB adds nothing but time
            payload = nip44.encrypt(plaintext, key)
            assert nip44.decrypt(payload, key) == plaintext
        ran += 1
    assert ran == len(lengths)


def test_invalid_conversation_keys() -> None:
    cases = vectors()["invalid"]["get_conversation_key"]
    ran = 0
    for case in cases:
        with pytest.raises(InvalidPayloadError):
            nip44.conversation_key(bytes.fromhex(case["sec1"]), bytes.fromhex(case["pub2"]))
        ran += 1
    assert ran == len(cases) == 8


# The file's notes, mapped to which of our errors (and words) each case must raise.
DECRYPT_ERRORS: dict[str, tuple[type[Exception], str]] = {
    "unknown encryption version": (InvalidPayloadError, "version"),
    "invalid base64": (InvalidPayloadError, "base64"),
    "invalid MAC": (DecryptionError, "MAC"),
    "invalid padding": (DecryptionError, "padding"),
    "invalid payload length": (InvalidPayloadError, "too short|non-empty"),
}


def test_invalid_decrypt() -> None:
    cases = vectors()["invalid"]["decrypt"]
    ran = 0
    for case in cases:
        note = next(k for k in DECRYPT_ERRORS if case["note"].startswith(k))
        error, words = DECRYPT_ERRORS[note]
        with pytest.raises(error, match=words):
            nip44.decrypt(case["payload"], bytes.fromhex(case["conversation_key"]))
        ran += 1
    assert ran == len(cases) == 12


# ---------------------------------------------------------------- the extended prefix


def _payload_of_padded(padded: bytes, key: bytes, nonce: bytes) -> str:
    """A correctly MAC'd payload around an arbitrary padded blob."""
    keys = nip44.message_keys(key, nonce)
    ciphertext = nip44._chacha20(keys.chacha_key, keys.chacha_nonce, padded)
    mac = nip44._mac(keys.hmac_key, nonce, ciphertext)
    return base64.b64encode(b"\x02" + nonce + ciphertext + mac).decode()


def test_extended_prefix_boundary() -> None:
    key, nonce = bytes(range(32)), bytes(32)
    for n, prefix_len in [(65535, 2), (65536, 6), (65537, 6)]:
        padded = nip44.pad(b"z" * n)
        assert len(padded) == prefix_len + nip44.calc_padded_len(n)
        payload = nip44.encrypt("z" * n, key, nonce)
        assert nip44.decrypt(payload, key) == "z" * n
    # Multi-byte characters count in bytes: 40000 two-byte characters take the long form.
    assert nip44.pad(("é" * 40000).encode())[:2] == b"\x00\x00"
    assert nip44.decrypt(nip44.encrypt("é" * 40000, key), key) == "é" * 40000


def test_non_canonical_extended_prefix_is_refused() -> None:
    key, nonce = bytes(range(32)), bytes(32)
    # A 100-byte message written with the long form: MAC fine, padding refused.
    short = b"\x00\x00" + (100).to_bytes(4, "big") + b"x" * 100
    padded = short + bytes(6 + nip44.calc_padded_len(100) - len(short))
    with pytest.raises(DecryptionError, match="non-canonical"):
        nip44.unpad(padded)
    with pytest.raises(DecryptionError, match="padding"):
        nip44.decrypt(_payload_of_padded(padded, key, nonce), key)
    # A zero length in either form is no message.
    with pytest.raises(DecryptionError):
        nip44.unpad(bytes(6 + 32))


def test_length_prefix_disagreeing_with_the_padding_is_refused() -> None:
    key, nonce = bytes(range(32)), bytes(32)
    for padded in [
        (40).to_bytes(2, "big") + b"y" * 40 + bytes(56),  # 40 bytes pad to 64, not 96
        (33).to_bytes(2, "big") + b"y" * 32,  # claims more than it holds
        b"\x00\x00" + (70000).to_bytes(4, "big") + b"y" * 100,  # truncated long form
    ]:
        with pytest.raises(DecryptionError, match="padding"):
            nip44.decrypt(_payload_of_padded(padded, key, nonce), key)


# ---------------------------------------------------------------- beyond the vectors


@pytest.mark.parametrize("text", ["threshold 🔑", "a", "x" * 30000, '"\\\n\u2028 鍵 مفتاح'])
def test_interop_with_nostr_sdk(text: str) -> None:
    alice, bob = Keys.generate(), Keys.generate()
    ck = nip44.conversation_key(
        bytes.fromhex(alice.secret_key().to_hex()), bytes.fromhex(bob.public_key().to_hex())
    )
    payload = nip44.encrypt(text, ck)
    assert nip44_decrypt(bob.secret_key(), alice.public_key(), payload) == text
    theirs = nip44_encrypt(bob.secret_key(), alice.public_key(), text, Nip44Version.V2)
    assert nip44.decrypt(theirs, ck) == text


@settings(max_examples=80, deadline=None)
@given(st.text(min_size=1, max_size=3000), st.binary(min_size=32, max_size=32))
def test_random_round_trips(text: str, key: bytes) -> None:
    try:
        raw = text.encode()
    except UnicodeEncodeError:
        with pytest.raises(InvalidPayloadError):
            nip44.encrypt(text, key)
        return
    payload = nip44.encrypt(text, key)
    assert nip44.decrypt(payload, key) == text
    data = base64.b64decode(payload)
    assert len(data) == 1 + 32 + 2 + nip44.calc_padded_len(len(raw)) + 32


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.integers(min_value=0), st.integers(1, 255))
def test_any_flipped_byte_fails_to_decrypt(key: bytes, pos: int, flip: int) -> None:
    data = bytearray(base64.b64decode(nip44.encrypt("attack at dawn", key)))
    data[pos % len(data)] ^= flip
    with pytest.raises((DecryptionError, InvalidPayloadError)):
        nip44.decrypt(base64.b64encode(bytes(data)).decode(), key)


GOOD_KEY = bytes(range(32))
GOOD_PAYLOAD = nip44.encrypt("hello", GOOD_KEY, bytes(32))
LONG_PAYLOAD = nip44.encrypt("hello" * 20, GOOD_KEY, bytes(32))


@pytest.mark.parametrize(
    ("function", "args", "reason"),
    [
        (nip44.conversation_key_from_shared_x, (b"x" * 31,), "32 bytes"),
        (nip44.conversation_key_from_shared_x, ("a" * 32,), "32 bytes"),
        (nip44.shared_x, (b"\x01" * 31, b"\x02" * 32), "32 bytes"),
        (nip44.shared_x, (b"\x01" * 32, None), "32 bytes"),
        (nip44.conversation_key, (bytes(32), xonly("01" * 32)), "invalid secret key"),
        (nip44.conversation_key, (b"\x01" * 32, b"\xff" * 32), "invalid secret key"),
        (nip44.message_keys, (GOOD_KEY[:31], bytes(32)), "conversation key"),
        (nip44.message_keys, (GOOD_KEY, bytes(31)), "nonce"),
        (nip44.calc_padded_len, (0,), "empty"),
        (nip44.calc_padded_len, (-5,), "empty"),
        (nip44.calc_padded_len, ("32",), "integer"),
        (nip44.calc_padded_len, (True,), "integer"),
        (nip44.pad, (b"",), "empty"),
        (nip44.encrypt, ("", GOOD_KEY), "empty"),
        (nip44.encrypt, (b"bytes", GOOD_KEY), "string"),
        (nip44.encrypt, ("\ud800", GOOD_KEY), "Unicode"),
        (nip44.encrypt, ("x", GOOD_KEY[:16]), "conversation key"),
        (nip44.encrypt, ("x", GOOD_KEY, bytes(24)), "nonce"),
        (nip44.decrypt, ("", GOOD_KEY), "non-empty"),
        (nip44.decrypt, (None, GOOD_KEY), "non-empty"),
        (nip44.decrypt, ("#" + GOOD_PAYLOAD[1:], GOOD_KEY), "version"),
        (nip44.decrypt, (GOOD_PAYLOAD[:100], GOOD_KEY), "too short"),
        (nip44.decrypt, (GOOD_PAYLOAD[:-2] + "!!", GOOD_KEY), "base64"),
        (nip44.decrypt, (LONG_PAYLOAD[:-1], GOOD_KEY), "base64"),
        (nip44.decrypt, ("Aw" + GOOD_PAYLOAD[2:], GOOD_KEY), "version 3"),
        (nip44.decrypt, (GOOD_PAYLOAD, GOOD_KEY[:31]), "conversation key"),
    ],
)
def test_malformed_input_table(function: object, args: tuple[object, ...], reason: str) -> None:
    assert callable(function)
    with pytest.raises(InvalidPayloadError, match=reason):
        function(*args)


def test_wrong_key_is_a_mac_failure_without_details() -> None:
    with pytest.raises(DecryptionError) as err:
        nip44.decrypt(GOOD_PAYLOAD, bytes(32))
    assert str(err.value) == "invalid MAC"
    assert "hello" not in repr(err.value)
    assert GOOD_KEY.hex() not in repr(nip44.message_keys(GOOD_KEY, bytes(32)))
