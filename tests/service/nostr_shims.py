"""THROWAWAY stand-ins for nostr/event.py, nip19.py, errors.py (not landed yet); installed
only when the real modules are missing."""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
import types

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values):  # type: ignore[no-untyped-def]
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk


def _bech32(hrp: str, data: bytes) -> str:
    acc, bits, out = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    hrp_exp = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]
    pm = _polymod([*hrp_exp, *out, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(CHARSET[d] for d in out + checksum)


def install() -> None:
    try:
        importlib.import_module("nostr_passport.nostr.errors")
    except ImportError:
        errors = types.ModuleType("nostr_passport.nostr.errors")

        class NostrError(Exception):
            code = "nostr_error"

        errors.NostrError = NostrError  # type: ignore[attr-defined]
        sys.modules["nostr_passport.nostr.errors"] = errors
    try:
        importlib.import_module("nostr_passport.nostr.event")
    except ImportError:
        event = types.ModuleType("nostr_passport.nostr.event")

        def event_id_hex(e):  # type: ignore[no-untyped-def]
            data = [0, e.pubkey, e.created_at, e.kind, [list(t) for t in e.tags], e.content]
            raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
            return hashlib.sha256(raw).hexdigest()

        event.event_id_hex = event_id_hex  # type: ignore[attr-defined]
        sys.modules["nostr_passport.nostr.event"] = event
    try:
        importlib.import_module("nostr_passport.nostr.nip19")
    except ImportError:
        nip19 = types.ModuleType("nostr_passport.nostr.nip19")
        nip19.npub_encode = lambda b: _bech32("npub", b)  # type: ignore[attr-defined]
        sys.modules["nostr_passport.nostr.nip19"] = nip19
    for name in ("nip44", "nip04"):
        try:
            importlib.import_module(f"nostr_passport.nostr.{name}")
        except ImportError:
            sys.modules[f"nostr_passport.nostr.{name}"] = types.ModuleType(name)
