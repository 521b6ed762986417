"""NIP-19 bech32 entities: npub, nsec, note, nprofile (and the generic encoder for ncryptsec).

Bech32 as in BIP-173 (not bech32m), without BIP-173's 90-character cap, which NIP-19 lifts
for TLV entities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import EncodingError

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
MAX_LENGTH = 5000


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
        raise EncodingError("bech32 data has invalid padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """bech32 of `data` under human-readable part `hrp`."""
    if not hrp or any(not 33 <= ord(c) <= 126 for c in hrp) or hrp != hrp.lower():
        raise EncodingError("invalid bech32 prefix")
    words = _convert_bits(data, 8, 5, True)
    checksum = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    words += [(checksum >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[w] for w in words)


def decode_any(s: str) -> tuple[str, bytes]:
    """(hrp, data) of any bech32 string."""
    if not isinstance(s, str) or not 8 <= len(s) <= MAX_LENGTH:
        raise EncodingError("not a bech32 string")
    if s.lower() != s and s.upper() != s:
        raise EncodingError("bech32 string mixes upper and lower case")
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s):
        raise EncodingError("bech32 separator misplaced")
    hrp, rest = s[:pos], s[pos + 1 :]
    try:
        words = [_CHARSET_INDEX[c] for c in rest]
    except KeyError:
        raise EncodingError("bech32 string has a character outside its alphabet") from None
    if _polymod([*_hrp_expand(hrp), *words]) != 1:
        raise EncodingError("bech32 checksum is wrong")
    return hrp, bytes(_convert_bits(words[:-6], 5, 8, False))


def decode(expected_hrp: str, s: str) -> bytes:
    hrp, data = decode_any(s)
    if hrp != expected_hrp:
        raise EncodingError(f"expected a {expected_hrp} entity, got {hrp}")
    return data


def _fixed(hrp: str, s: str, size: int) -> bytes:
    data = decode(hrp, s)
    if len(data) != size:
        raise EncodingError(f"{hrp} must hold {size} bytes")
    return data


def _encode_fixed(hrp: str, data: bytes, size: int) -> str:
    if not isinstance(data, bytes) or len(data) != size:
        raise EncodingError(f"{hrp} must hold {size} bytes")
    return encode(hrp, data)


def npub_encode(pubkey: bytes) -> str:
    return _encode_fixed("npub", pubkey, 32)


def npub_decode(s: str) -> bytes:
    return _fixed("npub", s, 32)


def nsec_encode(seckey: bytes) -> str:
    return _encode_fixed("nsec", seckey, 32)


def nsec_decode(s: str) -> bytes:
    return _fixed("nsec", s, 32)


def note_encode(event_id: bytes) -> str:
    return _encode_fixed("note", event_id, 32)


def note_decode(s: str) -> bytes:
    return _fixed("note", s, 32)


@dataclass(frozen=True)
class Profile:
    pubkey: bytes
    relays: tuple[str, ...] = ()


def nprofile_encode(profile: Profile) -> str:
    if len(profile.pubkey) != 32:
        raise EncodingError("nprofile pubkey must be 32 bytes")
    tlv = bytearray([0, 32]) + profile.pubkey
    for relay in profile.relays:
        raw = relay.encode()
        if len(raw) > 255:
            raise EncodingError("relay URL too long for a TLV entry")
        tlv += bytes([1, len(raw)]) + raw
    return encode("nprofile", bytes(tlv))


def nprofile_decode(s: str) -> Profile:
    data = decode("nprofile", s)
    pubkey: bytes | None = None
    relays: list[str] = []
    i = 0
    while i < len(data):
        if i + 2 > len(data) or i + 2 + data[i + 1] > len(data):
            raise EncodingError("nprofile TLV is truncated")
        t, length = data[i], data[i + 1]
        value = data[i + 2 : i + 2 + length]
        if t == 0 and pubkey is None:
            if length != 32:
                raise EncodingError("nprofile pubkey must be 32 bytes")
            pubkey = value
        elif t == 1:
            try:
                relays.append(value.decode())
            except UnicodeDecodeError:
                raise EncodingError("nprofile relay is not UTF-8") from None
        i += 2 + length  # unknown types are ignored, as NIP-19 asks
    if pubkey is None:
        raise EncodingError("nprofile lacks a pubkey")
    return Profile(pubkey, tuple(relays))
