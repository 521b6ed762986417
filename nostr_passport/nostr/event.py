"""NIP-01 events: serialisation, id, and signature check.

The id is always computed here from the event's fields; an id supplied by a caller is
only ever compared against it, never trusted.

Serialisation is `[0, pubkey, created_at, kind, tags, content]` as UTF-8 JSON without
whitespace. Strings are written by `json_string`: NIP-01's seven escapes (\\n \\" \\\\
\\r \\t \\b \\f), every other character verbatim, except the remaining control characters
U+0000..U+001F. NIP-01's list says "verbatim" for those too, but raw control characters
are not JSON, and every implementation that computes ids (JSON.stringify, serde_json in
nostr-sdk, Python's json) writes them as a lowercase \\u00XX escape: an id that no one
else computes is worthless, so we do the same (tests check us against nostr-sdk). This
is also exactly what `json.dumps(..., ensure_ascii=False, separators=(",", ":"))` does.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKeyXOnly

from .errors import InvalidEventError

MAX_KIND = 65535
MAX_CREATED_AT = 2**53 - 1  # largest integer every JSON implementation keeps exactly
EVENT_FIELDS = frozenset({"id", "pubkey", "created_at", "kind", "tags", "content", "sig"})
TEMPLATE_FIELDS = frozenset({"kind", "content", "tags", "created_at", "pubkey"})

Tags = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class EventTemplate:
    """What a client asks us to sign: no id or sig; pubkey is the identity's."""

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
        """Strictly validated event (form only; `verify_event` checks id and sig)."""
        if not isinstance(d, Mapping):
            raise InvalidEventError("event must be a JSON object")
        missing = EVENT_FIELDS - set(d)
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

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        try:
            d = json.loads(text)
        except (ValueError, TypeError, RecursionError):
            raise InvalidEventError("event is not valid JSON") from None
        return cls.from_dict(d)

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
    """`size` bytes as 2*size lowercase hex characters."""
    if not isinstance(value, str) or len(value) != 2 * size:
        raise InvalidEventError(f"{what} must be {2 * size} lowercase hex characters")
    if not all(c in "0123456789abcdef" for c in value):
        raise InvalidEventError(f"{what} must be {2 * size} lowercase hex characters")
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


def _text(value: str, what: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEventError(f"{what} is not valid Unicode (lone surrogate)") from None
    return value


def content_field(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidEventError("content must be a string")
    return _text(value, "content")


def tags_field(value: object) -> Tags:
    """A list of tags, each a list of one or more strings (NIP-01)."""
    if not isinstance(value, list | tuple):
        raise InvalidEventError("tags must be a list of lists of strings")
    tags = []
    for tag in value:
        if not isinstance(tag, list | tuple) or not all(isinstance(x, str) for x in tag):
            raise InvalidEventError("tags must be a list of lists of strings")
        if not tag:
            raise InvalidEventError("a tag must hold at least one string")
        tags.append(tuple(_text(x, "tag") for x in tag))
    return tuple(tags)


# ---------------------------------------------------------------- serialisation and id

_ESCAPES = {
    "\n": "\\n",
    '"': '\\"',
    "\\": "\\\\",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_NEEDS_ESCAPE = re.compile('["\\\\\x00-\x1f]')


def _escape(match: re.Match[str]) -> str:
    c = match.group()
    return _ESCAPES.get(c) or f"\\u{ord(c):04x}"


def json_string(s: str) -> str:
    """A JSON string literal with NIP-01's escaping (see the module docstring)."""
    return '"' + _NEEDS_ESCAPE.sub(_escape, s) + '"'


def serialize(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> bytes:
    """The NIP-01 serialisation that the id hashes; InvalidEventError on a bad field."""
    parts = (
        "[0,",
        json_string(hex_field(pubkey, 32, "pubkey")),
        f",{created_at_field(created_at)},{kind_field(kind)},[",
        ",".join("[" + ",".join(json_string(x) for x in t) + "]" for t in tags_field(tags)),
        "],",
        json_string(content_field(content)),
        "]",
    )
    return "".join(parts).encode("utf-8")


def event_id(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> bytes:
    """sha256 of the NIP-01 serialisation (32 bytes)."""
    return hashlib.sha256(serialize(pubkey, created_at, kind, tags, content)).digest()


def computed_id(event: Event) -> bytes:
    """The id `event` must have, computed from its fields."""
    return event_id(event.pubkey, event.created_at, event.kind, event.tags, event.content)


def verify_event(event: Event) -> None:
    """Raise InvalidEventError unless the id matches the fields and the sig verifies."""
    if not isinstance(event, Event):
        raise InvalidEventError("not an Event")
    eid = computed_id(event)
    if hex_field(event.id, 32, "id") != eid.hex():
        raise InvalidEventError("event id does not match its NIP-01 serialisation")
    sig = bytes.fromhex(hex_field(event.sig, 64, "sig"))
    try:
        ok = PublicKeyXOnly(bytes.fromhex(event.pubkey)).verify(sig, eid)
    except ValueError:  # pubkey not on the curve
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
    """Parse a signing request's template: {kind, content?, tags?, created_at?, pubkey?}.

    We compute the id and the signature, so a template carrying `id` or `sig` is refused
    outright (a client resending a signed event must strip them). A `pubkey` may be
    present only if it equals the identity's own (`pubkey`). Unknown fields are refused
    so that typos fail loudly. Absent content is "", absent tags [], absent created_at
    is left for the signer to fill with the current time.
    """
    if not isinstance(d, Mapping):
        raise InvalidEventError("event template must be a JSON object")
    if "id" in d or "sig" in d:
        raise InvalidEventError("an event template must not carry id or sig: we compute them")
    unknown = set(d) - TEMPLATE_FIELDS
    if unknown:
        names = ", ".join(sorted(str(k) for k in unknown))
        raise InvalidEventError(f"unknown event template field(s): {names}")
    if "kind" not in d:
        raise InvalidEventError("event template lacks kind")
    if "pubkey" in d:
        given = hex_field(d["pubkey"], 32, "template pubkey")
        if pubkey is None or given != pubkey:
            raise InvalidEventError("template pubkey is not this identity's public key")
    created = d.get("created_at")
    return EventTemplate(
        kind=kind_field(d["kind"]),
        content=content_field(d.get("content", "")),
        tags=tags_field(d.get("tags", [])),
        created_at=None if created is None else created_at_field(created),
    )


def template_to_dict(template: EventTemplate) -> dict[str, Any]:
    d: dict[str, Any] = {
        "kind": template.kind,
        "content": template.content,
        "tags": [list(t) for t in template.tags],
    }
    if template.created_at is not None:
        d["created_at"] = template.created_at
    return d
