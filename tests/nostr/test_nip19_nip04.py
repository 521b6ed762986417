"""NIP-19 bech32 entities and NIP-04 payloads."""

from __future__ import annotations

import os

import pytest
from coincurve import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from nostr_sdk import Keys, PublicKey, SecretKey

from nostr_passport.nostr import nip04, nip19, nip44
from nostr_passport.nostr.errors import DecryptionError, EncodingError, InvalidPayloadError


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_npub_nsec_note_round_trip(data: bytes) -> None:
    assert nip19.npub_decode(nip19.npub_encode(data)) == data
    assert nip19.nsec_decode(nip19.nsec_encode(data)) == data
    assert nip19.note_decode(nip19.note_encode(data)) == data


def test_agrees_with_nostr_sdk() -> None:
    keys = Keys.generate()
    pub = bytes.fromhex(keys.public_key().to_hex())
    sec = bytes.fromhex(keys.secret_key().to_hex())
    assert nip19.npub_encode(pub) == keys.public_key().to_bech32()
    assert nip19.nsec_encode(sec) == keys.secret_key().to_bech32()
    assert PublicKey.parse(nip19.npub_encode(pub)).to_hex() == pub.hex()
    assert SecretKey.parse(nip19.nsec_encode(sec)).to_hex() == sec.hex()


def test_nip19_spec_example() -> None:
    npub = "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg"
    assert nip19.npub_decode(npub).hex() == (
        "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e"
    )


def test_nprofile_round_trip() -> None:
    p = nip19.Profile(os.urandom(32), ("wss://r.x.com", "wss://djbas.sadkb.com"))
    assert nip19.nprofile_decode(nip19.nprofile_encode(p)) == p


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "npub1",
        "nsec10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg",  # wrong prefix
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjpth",  # checksum
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptG",  # mixed case
        "npub1bo0000000000",
        nip19.encode("npub", b"\x01" * 31),  # wrong length
    ],
)
def test_bad_bech32(bad: str) -> None:
    with pytest.raises(EncodingError):
        nip19.npub_decode(bad)


def test_nip04_interop_with_nostr_sdk() -> None:
    from nostr_sdk import nip04_decrypt, nip04_encrypt

    alice, bob = Keys.generate(), Keys.generate()
    shared = nip44.shared_x(
        bytes.fromhex(alice.secret_key().to_hex()), bytes.fromhex(bob.public_key().to_hex())
    )
    payload = nip04.encrypt("héllo 🔐", shared)
    assert nip04_decrypt(bob.secret_key(), alice.public_key(), payload) == "héllo 🔐"
    theirs = nip04_encrypt(bob.secret_key(), alice.public_key(), "back at you")
    assert nip04.decrypt(theirs, shared) == "back at you"


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=300))
def test_nip04_round_trip(text: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError:
        return
    key = os.urandom(32)
    assert nip04.decrypt(nip04.encrypt(text, key), key) == text


def test_nip04_bad_payloads() -> None:
    key = os.urandom(32)
    good = nip04.encrypt("x", key)
    for bad in ["", "abc", "abc?iv=", good.split("?")[0] + "?iv=AAAA", "!!!?iv=" + "A" * 24]:
        with pytest.raises(InvalidPayloadError):
            nip04.decrypt(bad, key)
    with pytest.raises((DecryptionError, InvalidPayloadError)):
        nip04.decrypt(good, os.urandom(32))
    with pytest.raises(InvalidPayloadError):
        nip04.encrypt("x", b"short")


def test_nip44_interop_with_nostr_sdk() -> None:
    from nostr_sdk import Nip44Version, nip44_decrypt, nip44_encrypt

    alice, bob = Keys.generate(), Keys.generate()
    ck = nip44.conversation_key(
        bytes.fromhex(alice.secret_key().to_hex()), bytes.fromhex(bob.public_key().to_hex())
    )
    payload = nip44.encrypt("threshold 🔑", ck)
    assert nip44_decrypt(bob.secret_key(), alice.public_key(), payload) == "threshold 🔑"
    theirs = nip44_encrypt(bob.secret_key(), alice.public_key(), "ok", Nip44Version.V2)
    assert nip44.decrypt(theirs, ck) == "ok"
    assert PrivateKey  # keep import used
