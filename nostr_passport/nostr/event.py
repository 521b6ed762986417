"""NIP-01 events: serialisation, id, and signature check.

The id is always computed here from the event's fields; an id supplied by a caller is
only ever compared against it, never trusted.

Serialisation is `[0, pubkey, created_at, kind, tags, content]` as UTF-8 JSON with no
whitespace and the escaping every major implementation uses (JSON.stringify, serde_json):
`"`, `\\`, and the control characters U+0000..U+001F escaped (the seven NIP-01 names with
their short forms, the rest as \\u00XX), everything else verbatim.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKeyXOnly

from .errors import InvalidEventError

MAX_KIND = 65535
MAX_CREATED_AT = 2**53 - 1  # largest integer every JSON implementation keeps exactly

Tags = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class EventTemplate:
    """What a client asks us to sign: no pubkey, id or sig."""

    kind: int
    content: str
    tags: Tags
    created_at: int | None = None


@dataclass(frozen=True)
class Event:
    id: str
    pubkey: str
    created_at: int
    kind: int
    tags: Tags
    content: str
    sig: str

    @classmethod
    def from_dict(cls, d: object) -> Event:
        """Strictly validated event (shape only; call `verify_event` for id and sig)."""
        if not isinstance(d, Mapping):
            raise InvalidEventError("event must be a JSON object")
        missing = {"id", "pubkey", "created_at", "kind", "tags", "content", "sig"} - set(d)
        if missing:
            raise InvalidEventError(f"event lacks field(s): {', '.join(sorted(missing))}")
        return cls(
            id=hex_field(d["id"], 32, "id"),
            pubkey=hex_field(d["pubkey"], 32, "pubkey"),
            created_at=created_at_field(d["created_at"]),
            kind=kind_field(d["kind"]),
            tags=tags_field(d["tags"]),
            content=content_field(d["content"]),
            sig=hex_field(d["sig"], 64, "sig"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pubkey": self.pubkey,
            "created_at": self.created_at,
            "kind": self.kind,
            "tags": [list(t) for t in self.tags],
            "content": self.content,
            "sig": self.sig,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------- field validation


def hex_field(value: object, size: int, what: str) -> str:
    if not isinstance(value, str) or len(value) != 2 * size:
        raise InvalidEventError(f"{what} must be {2 * size} lowercase hex characters")
    if value != value.lower():
        raise InvalidEventError(f"{what} must be lowercase hex")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise InvalidEventError(f"{what} must be {2 * size} lowercase hex characters") from None
    return value


def created_at_field(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidEventError("created_at must be an integer (unix seconds)")
    if not 0 <= value <= MAX_CREATED_AT:
        raise InvalidEventError("created_at is out of range")
    return value


def kind_field(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidEventError("kind must be an integer")
    if not 0 <= value <= MAX_KIND:
        raise InvalidEventError(f"kind must be between 0 and {MAX_KIND}")
    return value


def _check_text(value: str, what: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEventError(f"{what} is not valid Unicode (lone surrogate)") from None
    return value


def content_field(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidEventError("content must be a string")
    return _check_text(value, "content")


def tags_field(value: object) -> Tags:
    if not isinstance(value, list | tuple):
        raise InvalidEventError("tags must be a list of lists of strings")
    tags = []
    for tag in value:
        if not isinstance(tag, list | tuple) or not all(isinstance(x, str) for x in tag):
            raise InvalidEventError("tags must be a list of lists of strings")
        tags.append(tuple(_check_text(x, "tag") for x in tag))
    return tuple(tags)


# ---------------------------------------------------------------- id and signature


def serialize(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> bytes:
    """The NIP-01 serialisation that the id hashes."""
    data = [0, pubkey, created_at, kind, [list(t) for t in tags], content]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_id(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> bytes:
    """sha256 of the NIP-01 serialisation (32 bytes)."""
    return hashlib.sha256(serialize(pubkey, created_at, kind, tags, content)).digest()


def computed_id(event: Event) -> bytes:
    return event_id(event.pubkey, event.created_at, event.kind, event.tags, event.content)


def verify_event(event: Event) -> None:
    """Raise InvalidEventError unless the id matches the content and the sig verifies."""
    eid = computed_id(event)
    if eid.hex() != event.id:
        raise InvalidEventError("event id does not match its NIP-01 serialisation")
    try:
        ok = PublicKeyXOnly(bytes.fromhex(event.pubkey)).verify(bytes.fromhex(event.sig), eid)
    except ValueError:
        ok = False
    if not ok:
        raise InvalidEventError("event signature does not verify")


def is_valid_event_dict(d: object) -> bool:
    """True iff `d` is a well-formed event whose id and signature check out."""
    try:
        verify_event(Event.from_dict(d))
    except InvalidEventError:
        return False
    return True


# ---------------------------------------------------------------- templates


def template_from_dict(d: object, *, pubkey: str | None = None) -> EventTemplate:
    """Parse a signing request's template.

    A template may carry `pubkey`, but only the identity's own (`pubkey`); it may not carry
    `id` or `sig`, since we compute both. Unknown fields are refused so that typos fail loudly.
    """
    if not isinstance(d, Mapping):
        raise InvalidEventError("event template must be a JSON object")
    unknown = set(d) - {"kind", "content", "tags", "created_at", "pubkey"}
    if unknown & {"id", "sig"}:
        raise InvalidEventError("a template must not carry id or sig: the signer computes them")
    if unknown:
        raise InvalidEventError(f"unknown template field(s): {', '.join(sorted(unknown))}")
    if "kind" not in d:
        raise InvalidEventError("event template lacks kind")
    if "pubkey" in d:
        given = hex_field(d["pubkey"], 32, "pubkey")
        if pubkey is None or given != pubkey:
            raise InvalidEventError("template pubkey is not this identity's public key")
    created = d.get("created_at")
    return EventTemplate(
        kind=kind_field(d["kind"]),
        content=content_field(d.get("content", "")),
        tags=tags_field(d.get("tags", [])),
        created_at=None if created is None else created_at_field(created),
    )
