"""What a signer signs: the NIP-01 id of the event, computed by the signer itself.

A signer never signs a hash handed to it: it recomputes the id from the event, so a
compromised coordinator can only get signatures of well-formed events of the identity.
"""

from __future__ import annotations

import hashlib
import json

from nostr_passport.errors import BadRequestError
from nostr_passport.signer.protocol import EventToSign

MAX_KIND = 65535


def _check_event(event: EventToSign) -> None:
    if not isinstance(event, EventToSign):
        raise BadRequestError("event must be an EventToSign")
    pubkey = event.pubkey
    if not isinstance(pubkey, str) or len(pubkey) != 64 or pubkey != pubkey.lower():
        raise BadRequestError("event pubkey must be 64 lowercase hex characters")
    try:
        bytes.fromhex(pubkey)
    except ValueError:
        raise BadRequestError("event pubkey must be 64 lowercase hex characters") from None
    for name, value, upper in (
        ("created_at", event.created_at, 2**63 - 1),
        ("kind", event.kind, MAX_KIND),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= upper:
            raise BadRequestError(f"event {name} must be an integer in 0..{upper}")
    if not isinstance(event.content, str):
        raise BadRequestError("event content must be a string")
    if not isinstance(event.tags, tuple | list) or not all(
        isinstance(tag, tuple | list) and all(isinstance(v, str) for v in tag) for tag in event.tags
    ):
        raise BadRequestError("event tags must be lists of strings")


def event_message(event: EventToSign) -> bytes:
    """The 32-byte NIP-01 event id: sha256 of [0, pubkey, created_at, kind, tags, content].

    NIP-01 serialisation: UTF-8, no whitespace, only JSON's mandatory escapes (which
    json.dumps with ensure_ascii=False produces, like JavaScript's JSON.stringify).
    """
    _check_event(event)
    data = [
        0,
        event.pubkey,
        event.created_at,
        event.kind,
        [list(tag) for tag in event.tags],
        event.content,
    ]
    try:
        serialized = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestError("event holds text that is not valid Unicode") from None
    return hashlib.sha256(serialized).digest()
