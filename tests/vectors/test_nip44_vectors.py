"""Every case of the published NIP-44 v2 vectors (paulmillr/nip44, sha256 269ed0f6...5040).

The one deliberate departure: the file lists 65536 and 100000 as invalid encrypt lengths,
but the current NIP-44 text (extended length prefix, 2026-06) makes them valid. For those
we assert the current text's behaviour: a 6-byte prefix, and a round trip.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from nostr_passport.nostr import nip44
from nostr_passport.nostr.errors import DecryptionError, InvalidPayloadError, NostrError
from tests.conftest import load_vector_json


def vectors() -> Any:
    return load_vector_json("nip44", "nip44.vectors.json")["v2"]


def test_valid_conversation_keys() -> None:
    cases = vectors()["valid"]["get_conversation_key"]
    ran = 0
    for case in cases:
        key = nip44.conversation_key(bytes.fromhex(case["sec1"]), bytes.fromhex(case["pub2"]))
        assert key.hex() == case["conversation_key"]
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
    assert ran == len(block["keys"])


def test_valid_padded_lengths() -> None:
    cases = vectors()["valid"]["calc_padded_len"]
    for unpadded, padded in cases:
        assert nip44.calc_padded_len(unpadded) == padded
    assert len(cases) == 24


def test_valid_encrypt_decrypt() -> None:
    cases = vectors()["valid"]["encrypt_decrypt"]
    ran = 0
    for case in cases:
        key = nip44.conversation_key(
            bytes.fromhex(case["sec1"]), nip44_pub(bytes.fromhex(case["sec2"]))
        )
        assert key.hex() == case["conversation_key"]
        payload = nip44.encrypt(case["plaintext"], key, bytes.fromhex(case["nonce"]))
        assert payload == case["payload"]
        assert nip44.decrypt(payload, key) == case["plaintext"]
        ran += 1
    assert ran == len(cases) == 10


def nip44_pub(seckey: bytes) -> bytes:
    from coincurve import PrivateKey

    return PrivateKey(seckey).public_key.format()[1:]


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


def test_invalid_encrypt_lengths_follow_the_current_nip_text() -> None:
    lengths = vectors()["invalid"]["encrypt_msg_lengths"]
    assert lengths == [0, 65536, 100000, 10000000]
    key = bytes(range(32))
    with pytest.raises(InvalidPayloadError):
        nip44.encrypt("", key)
    for n in lengths[1:]:
        # Listed invalid by the 2024 file; valid under the current text (extended prefix).
        plaintext = "a" * n
        padded = nip44.pad(plaintext.encode())
        assert padded[:6] == b"\x00\x00" + n.to_bytes(4, "big")
        assert len(padded) == 6 + nip44.calc_padded_len(n)
        if n <= 100000:
            assert nip44.decrypt(nip44.encrypt(plaintext, key), key) == plaintext
        else:
            assert nip44.unpad(padded) == plaintext.encode()


def test_invalid_conversation_keys() -> None:
    cases = vectors()["invalid"]["get_conversation_key"]
    ran = 0
    for case in cases:
        with pytest.raises(InvalidPayloadError):
            nip44.conversation_key(bytes.fromhex(case["sec1"]), bytes.fromhex(case["pub2"]))
        ran += 1
    assert ran == len(cases) == 8


def test_invalid_decrypt() -> None:
    cases = vectors()["invalid"]["decrypt"]
    ran = 0
    for case in cases:
        with pytest.raises(NostrError) as err:
            nip44.decrypt(case["payload"], bytes.fromhex(case["conversation_key"]))
        assert isinstance(err.value, DecryptionError | InvalidPayloadError)
        ran += 1
    assert ran == len(cases) == 12


def test_extended_prefix_must_be_canonical() -> None:
    key = bytes(range(32))
    short = b"\x00\x00" + (100).to_bytes(4, "big") + b"x" * 100
    padded = short + bytes(6 + nip44.calc_padded_len(100) - len(short))
    with pytest.raises(DecryptionError):
        nip44.unpad(padded)
    assert nip44.decrypt(nip44.encrypt("é" * 40000, key), key) == "é" * 40000
