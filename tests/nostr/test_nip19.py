"""NIP-19 bech32 entities: the NIP's examples, BIP-173's vectors, nostr-sdk, round trips."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nostr_sdk import Keys, Nip19Profile, PublicKey, RelayUrl, SecretKey

from nostr_passport.nostr import nip19
from nostr_passport.nostr.errors import EncodingError

# NIP-19's examples.
NPUB_EXAMPLES = [
    (
        "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6",
        "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d",
    ),
    (
        "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg",
        "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e",
    ),
]
NSEC_EXAMPLE = (
    "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5",
    "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa",
)
NPROFILE_EXAMPLE = (
    "nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt8gpp4mhx"
    "ue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ejuumpv34kytnrdaksjlyr9p"
)

# BIP-173's valid and invalid bech32 strings.
BIP173_VALID = [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
]
BIP173_INVALID = [
    ("\x20" + "1nwldj5", "outside US-ASCII"),
    ("\x7f" + "1axkwrx", "outside US-ASCII"),
    ("\x80" + "1eym55h", "outside US-ASCII"),
    (
        "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
        "1 to 83",
    ),
    ("pzry9x0s0muk", "separator"),
    ("1pzry9x0s0muk", "separator"),
    ("x1b4n0q5v", "alphabet"),
    ("li1dgmt3", "too short"),
    ("de1lg7wt\xff", "alphabet"),
    ("A1G7SGD8", "checksum"),
    ("10a06t8", "separator"),
    ("1qzzfhee", "separator"),
]


def test_nip19_examples() -> None:
    ran = 0
    for npub, hexkey in NPUB_EXAMPLES:
        assert nip19.npub_decode(npub).hex() == hexkey
        assert nip19.npub_encode(bytes.fromhex(hexkey)) == npub
        ran += 1
    nsec, hexkey = NSEC_EXAMPLE
    assert nip19.nsec_decode(nsec).hex() == hexkey
    assert nip19.nsec_encode(bytes.fromhex(hexkey)) == nsec
    profile = nip19.nprofile_decode(NPROFILE_EXAMPLE)
    assert profile.pubkey.hex() == NPUB_EXAMPLES[0][1]
    assert profile.relays == ("wss://r.x.com", "wss://djbas.sadkb.com")
    assert nip19.nprofile_encode(profile) == NPROFILE_EXAMPLE
    assert ran == len(NPUB_EXAMPLES)


def test_bip173_valid_strings() -> None:
    ran = 0
    for s in BIP173_VALID:
        hrp, data = nip19.decode_any(s)
        assert nip19.encode(hrp, data) == s.lower()
        ran += 1
    assert ran == len(BIP173_VALID)


@pytest.mark.parametrize(("s", "reason"), BIP173_INVALID)
def test_bip173_invalid_strings(s: str, reason: str) -> None:
    with pytest.raises(EncodingError, match=reason):
        nip19.decode_any(s)


def test_uppercase_is_accepted_mixed_case_is_not() -> None:
    npub, hexkey = NPUB_EXAMPLES[0]
    assert nip19.npub_decode(npub.upper()).hex() == hexkey
    with pytest.raises(EncodingError, match="mixes upper and lower case"):
        nip19.npub_decode("N" + npub[1:])


def test_not_bech32m() -> None:
    # A valid bech32m string (BIP-350) must not pass as bech32.
    with pytest.raises(EncodingError, match="checksum"):
        nip19.decode_any("a1lqfn3a")


def test_agrees_with_nostr_sdk() -> None:
    keys = Keys.generate()
    pub = bytes.fromhex(keys.public_key().to_hex())
    sec = bytes.fromhex(keys.secret_key().to_hex())
    assert nip19.npub_encode(pub) == keys.public_key().to_bech32()
    assert nip19.nsec_encode(sec) == keys.secret_key().to_bech32()
    assert PublicKey.parse(nip19.npub_encode(pub)).to_hex() == pub.hex()
    assert SecretKey.parse(nip19.nsec_encode(sec)).to_hex() == sec.hex()
    relays = ["wss://r.x.com", "wss://relay.example.org"]
    theirs = Nip19Profile(keys.public_key(), [RelayUrl.parse(r) for r in relays]).to_bech32()
    ours = nip19.nprofile_decode(theirs)
    assert ours.pubkey == pub
    assert [r.rstrip("/") for r in ours.relays] == relays
    back = Nip19Profile.from_bech32(nip19.nprofile_encode(nip19.Profile(pub, tuple(relays))))
    assert back.public_key().to_hex() == pub.hex()


def test_long_strings_are_allowed() -> None:
    relays = tuple(f"wss://relay{i}.example.com" for i in range(10))
    profile = nip19.Profile(os.urandom(32), relays)
    s = nip19.nprofile_encode(profile)
    assert len(s) > 90
    assert nip19.nprofile_decode(s) == profile


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_npub_nsec_note_round_trip(data: bytes) -> None:
    assert nip19.npub_decode(nip19.npub_encode(data)) == data
    assert nip19.nsec_decode(nip19.nsec_encode(data)) == data
    assert nip19.note_decode(nip19.note_encode(data)) == data


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True), st.binary(max_size=600))
def test_generic_round_trip(hrp: str, data: bytes) -> None:
    assert nip19.decode(hrp, nip19.encode(hrp, data)) == data


@settings(max_examples=40, deadline=None)
@given(
    st.binary(min_size=32, max_size=32),
    st.lists(st.from_regex(r"wss://[a-z]{1,30}\.[a-z]{2,5}", fullmatch=True), max_size=5),
)
def test_nprofile_round_trip(pubkey: bytes, relays: list[str]) -> None:
    profile = nip19.Profile(pubkey, tuple(relays))
    assert nip19.nprofile_decode(nip19.nprofile_encode(profile)) == profile


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.integers(min_value=0), st.integers(1, 31))
def test_any_single_character_change_is_caught(data: bytes, pos: int, delta: int) -> None:
    s = nip19.npub_encode(data)
    i = 5 + pos % (len(s) - 5)
    changed = s[:i] + nip19.CHARSET[(nip19.CHARSET.index(s[i]) + delta) % 32] + s[i + 1 :]
    with pytest.raises(EncodingError):
        nip19.npub_decode(changed)


def _tlv_profile(*items: tuple[int, bytes]) -> str:
    return nip19.encode("nprofile", b"".join(bytes([t, len(v)]) + v for t, v in items))


@pytest.mark.parametrize(
    ("function", "arg", "reason"),
    [
        (nip19.npub_decode, NSEC_EXAMPLE[0], "wrong prefix"),
        (nip19.nsec_decode, NPUB_EXAMPLES[0][0], "wrong prefix"),
        (nip19.note_decode, NPUB_EXAMPLES[0][0], "wrong prefix"),
        (nip19.npub_decode, NPUB_EXAMPLES[0][0][:-1] + "q", "checksum"),
        (nip19.npub_decode, nip19.encode("npub", b"\x01" * 31), "wrong length"),
        (nip19.npub_decode, nip19.encode("npub", b"\x01" * 33), "wrong length"),
        (nip19.npub_decode, "", "separator"),
        (nip19.npub_decode, "npub1", "too short"),
        (nip19.npub_decode, "npub1bo0000000000", "alphabet"),
        (nip19.npub_decode, "npub1" + "q" * 6000, "longer than"),
        (nip19.npub_decode, b"npub1", "must be a string"),
        (nip19.npub_decode, None, "must be a string"),
        (nip19.npub_encode, b"\x01" * 31, "wrong length"),
        (nip19.npub_encode, "a" * 64, "wrong length"),
        (nip19.nsec_encode, b"", "wrong length"),
        (nip19.note_encode, None, "wrong length"),
        (lambda s: nip19.decode("x", s), "x1qqqqq" + "zzzzzz", "checksum"),
        (nip19.nprofile_decode, nip19.encode("npub", b"\x01" * 32), "wrong prefix"),
        (nip19.nprofile_decode, _tlv_profile((1, b"wss://r.x.com")), "lacks a pubkey"),
        (nip19.nprofile_decode, _tlv_profile((0, b"\x01" * 31)), "wrong length"),
        (
            nip19.nprofile_decode,
            _tlv_profile((0, b"\x01" * 32), (0, b"\x02" * 32)),
            "more than one pubkey",
        ),
        (nip19.nprofile_decode, _tlv_profile((0, b"\x01" * 32), (1, b"\xff")), "not ASCII"),
        (nip19.nprofile_decode, nip19.encode("nprofile", b"\x00\x20\x01"), "truncated"),
        (nip19.nprofile_decode, nip19.encode("nprofile", b"\x00"), "truncated"),
        (nip19.nprofile_encode, nip19.Profile(b"\x01" * 31), "wrong length"),
        (nip19.nprofile_encode, nip19.Profile(b"\x01" * 32, ("wss://é.com",)), "ASCII"),
        (nip19.nprofile_encode, nip19.Profile(b"\x01" * 32, ("wss://" + "a" * 300,)), "255"),
        (lambda d: nip19.encode("NPUB", d), b"", "lowercase"),
        (lambda d: nip19.encode("", d), b"", "1 to 83"),
        (lambda d: nip19.encode("a b", d), b"", "outside US-ASCII"),
        (lambda d: nip19.encode("x", d), "text", "must be bytes"),
        (lambda d: nip19.encode("x", d), b"\x00" * 4000, "exceed"),
    ],
)
def test_malformed_input_table(function: object, arg: object, reason: str) -> None:
    assert callable(function)
    with pytest.raises(EncodingError, match=reason):
        function(arg)


def _bech32_of_words(hrp: str, words: list[int]) -> str:
    pm = nip19._polymod([*nip19._hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(nip19.CHARSET[w] for w in words + checksum)


@pytest.mark.parametrize(
    "words",
    [
        [0, 1],  # 10 bits: one byte and 2 bits of padding that are not zero
        [0],  # 5 bits: no byte, and more than 4 bits of padding
        [0, 0, 0, 0, 0, 0, 0, 0, 0],  # 45 bits: five bytes and 5 bits of padding
    ],
)
def test_non_canonical_padding_is_refused(words: list[int]) -> None:
    s = _bech32_of_words("x", words)
    assert nip19._verify_checksum("x", [nip19.CHARSET.index(c) for c in s[2:]])
    with pytest.raises(EncodingError, match="padding"):
        nip19.decode("x", s)
