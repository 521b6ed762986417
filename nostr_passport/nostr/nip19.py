"""NIP-19 bech32 entities: npub, nsec, note, nprofile; the generic codec (ncryptsec too).

Bech32 is BIP-173's (checksum constant 1, not bech32m's), written here. BIP-173 caps a
string at 90 characters; NIP-19 lifts the cap for TLV entities (nprofile with relays,
ncryptsec is 162), so we accept up to `MAX_LENGTH`, which bounds the work a hostile
string can cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import EncodingError

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
BECH32_CONST = 1
CHECKSUM_LENGTH = 6
MAX_HRP_LENGTH = 83
MAX_LENGTH = 5000

TLV_SPECIAL = 0
TLV_RELAY = 1


# ---------------------------------------------------------------- BIP-173


def _polymod(values: Sequence[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i, g in enumerate(_GENERATORS):
            if (top >> i) & 1:
                chk ^= g
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _create_checksum(hrp: str, words: Sequence[int]) -> list[int]:
    pm = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ BECH32_CONST
    return [(pm >> 5 * (5 - i)) & 31 for i in range(CHECKSUM_LENGTH)]


def _verify_checksum(hrp: str, words: Sequence[int]) -> bool:
    return _polymod([*_hrp_expand(hrp), *words]) == BECH32_CONST


def _convert_bits(data: Sequence[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc, bits, out = 0, 0, []
    maxv = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or (acc << (to_bits - bits)) & maxv:
        # More than 4 bits of padding, or non-zero padding: not a canonical encoding.
        raise EncodingError("bech32 data has invalid padding")
    return out


def _check_hrp(hrp: str) -> str:
    if not isinstance(hrp, str) or not 1 <= len(hrp) <= MAX_HRP_LENGTH:
        raise EncodingError("bech32 prefix must be 1 to 83 characters")
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise EncodingError("bech32 prefix has a character outside US-ASCII 33..126")
    return hrp


def encode(hrp: str, data: bytes) -> str:
    """bech32 of `data` under the lowercase human-readable part `hrp`."""
    if _check_hrp(hrp) != hrp.lower():
        raise EncodingError("bech32 prefix must be lowercase")
    if not isinstance(data, bytes | bytearray):
        raise EncodingError("bech32 data must be bytes")
    words = _convert_bits(data, 8, 5, True)
    s = hrp + "1" + "".join(CHARSET[w] for w in [*words, *_create_checksum(hrp, words)])
    if len(s) > MAX_LENGTH:
        raise EncodingError(f"bech32 string would exceed {MAX_LENGTH} characters")
    return s


def decode_any(s: str) -> tuple[str, bytes]:
    """(hrp, data) of any bech32 string."""
    if not isinstance(s, str):
        raise EncodingError("bech32 input must be a string")
    if len(s) > MAX_LENGTH:
        raise EncodingError(f"bech32 string longer than {MAX_LENGTH} characters")
    if s.lower() != s and s.upper() != s:
        raise EncodingError("bech32 string mixes upper and lower case")
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1:
        raise EncodingError("bech32 string lacks a prefix and separator '1'")
    if pos + 1 + CHECKSUM_LENGTH > len(s):
        raise EncodingError("bech32 string is too short for its checksum")
    hrp = _check_hrp(s[:pos])
    try:
        words = [_CHARSET_INDEX[c] for c in s[pos + 1 :]]
    except KeyError:
        raise EncodingError("bech32 string has a character outside its alphabet") from None
    if not _verify_checksum(hrp, words):
        raise EncodingError("bech32 checksum is wrong")
    return hrp, bytes(_convert_bits(words[:-CHECKSUM_LENGTH], 5, 8, False))


def decode(expected_hrp: str, s: str) -> bytes:
    """The data of a bech32 string whose prefix must be `expected_hrp`."""
    hrp, data = decode_any(s)
    if hrp != expected_hrp:
        raise EncodingError(f"wrong prefix: expected {expected_hrp}, got {hrp}")
    return data


# ---------------------------------------------------------------- bare keys and ids


def _decode_32(hrp: str, s: str) -> bytes:
    data = decode(hrp, s)
    if len(data) != 32:
        raise EncodingError(f"wrong length: {hrp} must hold 32 bytes, not {len(data)}")
    return data


def _encode_32(hrp: str, data: bytes) -> str:
    if not isinstance(data, bytes | bytearray) or len(data) != 32:
        raise EncodingError(f"wrong length: {hrp} must hold 32 bytes")
    return encode(hrp, bytes(data))


def npub_encode(pubkey: bytes) -> str:
    return _encode_32("npub", pubkey)


def npub_decode(s: str) -> bytes:
    return _decode_32("npub", s)


def nsec_encode(seckey: bytes) -> str:
    return _encode_32("nsec", seckey)


def nsec_decode(s: str) -> bytes:
    return _decode_32("nsec", s)


def note_encode(event_id: bytes) -> str:
    return _encode_32("note", event_id)


def note_decode(s: str) -> bytes:
    return _decode_32("note", s)


# ---------------------------------------------------------------- nprofile (TLV)


@dataclass(frozen=True)
class Profile:
    pubkey: bytes
    relays: tuple[str, ...] = ()


def _tlv(t: int, value: bytes) -> bytes:
    if len(value) > 255:
        raise EncodingError("TLV value longer than 255 bytes")
    return bytes([t, len(value)]) + value


def _tlv_items(data: bytes) -> list[tuple[int, bytes]]:
    items, i = [], 0
    while i < len(data):
        if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
            raise EncodingError("TLV data is truncated")
        t, length = data[i], data[i + 1]
        items.append((t, data[i + 2 : i + 2 + length]))
        i += 2 + length
    return items


def nprofile_encode(profile: Profile) -> str:
    if not isinstance(profile.pubkey, bytes) or len(profile.pubkey) != 32:
        raise EncodingError("wrong length: nprofile pubkey must be 32 bytes")
    tlv = _tlv(TLV_SPECIAL, profile.pubkey)
    for relay in profile.relays:
        if not isinstance(relay, str) or not relay.isascii() or not relay:
            raise EncodingError("nprofile relay must be a non-empty ASCII URL")
        tlv += _tlv(TLV_RELAY, relay.encode("ascii"))
    return encode("nprofile", tlv)


def nprofile_decode(s: str) -> Profile:
    """The pubkey and relays of an nprofile; unknown TLV types are ignored (NIP-19)."""
    pubkey: bytes | None = None
    relays: list[str] = []
    for t, value in _tlv_items(decode("nprofile", s)):
        if t == TLV_SPECIAL:
            if pubkey is not None:
                raise EncodingError("nprofile holds more than one pubkey")
            if len(value) != 32:
                raise EncodingError("wrong length: nprofile pubkey must be 32 bytes")
            pubkey = value
        elif t == TLV_RELAY:
            try:
                relays.append(value.decode("ascii"))
            except UnicodeDecodeError:
                raise EncodingError("nprofile relay is not ASCII") from None
    if pubkey is None:
        raise EncodingError("nprofile lacks a pubkey")
    return Profile(pubkey, tuple(relays))
