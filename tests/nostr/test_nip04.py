"""NIP-04 payloads: nostr-sdk both ways, round trips, malformed input."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nostr_sdk import Keys, nip04_decrypt, nip04_encrypt

from nostr_passport.nostr import nip04, nip44
from nostr_passport.nostr.errors import DecryptionError, InvalidPayloadError

KEY = bytes(range(32))
IV = bytes(range(16))


def shared(a: Keys, b: Keys) -> bytes:
    return nip44.shared_x(
        bytes.fromhex(a.secret_key().to_hex()), bytes.fromhex(b.public_key().to_hex())
    )


@pytest.mark.parametrize("text", ["héllo 🔐", "", "x" * 1000, 'quotes " \\ \n\t', "鍵 مفتاح"])
def test_interop_with_nostr_sdk(text: str) -> None:
    alice, bob = Keys.generate(), Keys.generate()
    payload = nip04.encrypt(text, shared(alice, bob))
    assert nip04_decrypt(bob.secret_key(), alice.public_key(), payload) == text
    theirs = nip04_encrypt(bob.secret_key(), alice.public_key(), text)
    assert nip04.decrypt(theirs, shared(alice, bob)) == text


def test_payload_form() -> None:
    payload = nip04.encrypt("hello", KEY, IV)
    body, iv = payload.split("?iv=")
    assert base64.b64decode(iv) == IV
    assert len(base64.b64decode(body)) == 16
    assert nip04.encrypt("hello", KEY, IV) == payload  # deterministic given the iv
    assert nip04.encrypt("x" * 16, KEY, IV).split("?")[0] != body
    assert len(base64.b64decode(nip04.encrypt("x" * 16, KEY, IV).split("?")[0])) == 32


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300), st.binary(min_size=32, max_size=32))
def test_round_trip(text: str, key: bytes) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        with pytest.raises(InvalidPayloadError):
            nip04.encrypt(text, key)
        return
    assert nip04.decrypt(nip04.encrypt(text, key), key) == text


def test_wrong_key_fails_without_saying_why() -> None:
    payload = nip04.encrypt("a private note", KEY, IV)
    with pytest.raises(DecryptionError) as err:
        nip04.decrypt(payload, bytes(32))
    assert str(err.value) == "NIP-04 decryption failed"


def test_bad_padding_and_bad_utf8_look_the_same() -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def raw_payload(block: bytes) -> str:
        enc = Cipher(algorithms.AES(KEY), modes.CBC(IV)).encryptor()
        ct = enc.update(block) + enc.finalize()
        return base64.b64encode(ct).decode() + "?iv=" + base64.b64encode(IV).decode()

    bad_padding = raw_payload(b"A" * 15 + b"\x07")
    bad_utf8 = raw_payload(b"\xff" * 15 + b"\x01")
    messages = set()
    for payload in (bad_padding, bad_utf8):
        with pytest.raises(DecryptionError) as err:
            nip04.decrypt(payload, KEY)
        messages.add(str(err.value))
    assert len(messages) == 1


GOOD = nip04.encrypt("x", KEY, IV)
GOOD_BODY = GOOD.split("?iv=")[0]
IV_B64 = base64.b64encode(IV).decode()


@pytest.mark.parametrize(
    ("function", "args", "reason"),
    [
        (nip04.decrypt, ("", KEY), "non-empty"),
        (nip04.decrypt, (None, KEY), "non-empty"),
        (nip04.decrypt, ("abc", KEY), "lacks"),
        (nip04.decrypt, (GOOD_BODY, KEY), "lacks"),
        (nip04.decrypt, (GOOD_BODY + "?iv=", KEY), "iv must be 16 bytes"),
        (nip04.decrypt, (GOOD_BODY + "?iv=AAAA", KEY), "iv must be 16 bytes"),
        (nip04.decrypt, ("!!!?iv=" + IV_B64, KEY), "base64"),
        (nip04.decrypt, (GOOD_BODY + "?iv=" + IV_B64[:-1], KEY), "base64"),
        (nip04.decrypt, ("?iv=" + IV_B64, KEY), "multiple of 16"),
        (nip04.decrypt, ("AAAA?iv=" + IV_B64, KEY), "multiple of 16"),
        (nip04.decrypt, ("A" * (4 * 1024 * 1024 + 4) + "?iv=" + IV_B64, KEY), "too long"),
        (nip04.decrypt, (GOOD, b"short"), "32 bytes"),
        (nip04.decrypt, (GOOD, KEY.hex()), "32 bytes"),
        (nip04.encrypt, ("x", b"short"), "32 bytes"),
        (nip04.encrypt, ("x", None), "32 bytes"),
        (nip04.encrypt, (b"x", KEY), "must be a string"),
        (nip04.encrypt, ("x", KEY, b"short iv"), "iv must be 16 bytes"),
        (nip04.encrypt, ("x", KEY, "0" * 16), "iv must be 16 bytes"),
        (nip04.encrypt, ("\ud800", KEY), "not valid Unicode"),
    ],
)
def test_malformed_input_table(function: object, args: tuple[object, ...], reason: str) -> None:
    assert callable(function)
    with pytest.raises(InvalidPayloadError, match=reason):
        function(*args)
