"""From a client's event template to the event we sign, and back to a signed NIP-01 event.

The gateway fills `pubkey` (the identity's) and `created_at` (now, unless given), and
computes the id itself from the NIP-01 serialisation; it never signs an id a client
hands it. A template may carry `pubkey`, `id` or `sig` (a client resending an event),
but each must agree with what we compute: the identity's key, the id of this content,
a valid signature of that id. Anything else is a 400 before anything happens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nostr_passport.crypto import bip340
from nostr_passport.errors import BadRequestError
from nostr_passport.nostr.errors import NostrError
from nostr_passport.nostr.event import event_id as nip01_event_id
from nostr_passport.signer.protocol import EventToSign

TEMPLATE_KEYS = frozenset({"kind", "content", "tags", "created_at", "pubkey", "id", "sig"})
MAX_KIND = 65535
MAX_CREATED_AT = 2**40  # far beyond any real clock, well inside every JSON number


@dataclass(frozen=True)
class UnsignedEvent:
    event: EventToSign
    id: bytes  # 32-byte NIP-01 id: the message to sign


def _where(index: int | None) -> str:
    return "" if index is None else f"events[{index}]: "


def _tags(value: object, where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise BadRequestError(f"{where}tags must be an array of arrays of strings")
    tags = []
    for tag in value:
        if not isinstance(tag, list) or not tag or not all(isinstance(v, str) for v in tag):
            raise BadRequestError(f"{where}every tag must be a non-empty array of strings")
        tags.append(tuple(tag))
    return tuple(tags)


def prepare_event(
    template: Mapping[str, Any], pubkey: str, now: int, index: int | None = None
) -> UnsignedEvent:
    """Validate a template and compute the event to sign; BadRequestError otherwise."""
    where = _where(index)
    if not isinstance(template, Mapping):
        raise BadRequestError(f"{where}an event template must be a JSON object")
    unknown = sorted(set(template) - TEMPLATE_KEYS)
    if unknown:
        raise BadRequestError(f"{where}unknown event fields: {', '.join(unknown)}")
    kind = template.get("kind")
    if not isinstance(kind, int) or isinstance(kind, bool) or not 0 <= kind <= MAX_KIND:
        raise BadRequestError(f"{where}kind must be an integer between 0 and {MAX_KIND}")
    content = template.get("content", "")
    if not isinstance(content, str):
        raise BadRequestError(f"{where}content must be a string")
    tags = _tags(template.get("tags", []), where)
    created_at = template.get("created_at")
    if created_at is None:
        created_at = now
    if not isinstance(created_at, int) or isinstance(created_at, bool):
        raise BadRequestError(f"{where}created_at must be a non-negative integer (unix seconds)")
    if not 0 <= created_at < MAX_CREATED_AT:
        raise BadRequestError(f"{where}created_at must be a non-negative integer (unix seconds)")
    given_pubkey = template.get("pubkey")
    if given_pubkey is not None and given_pubkey != pubkey:
        raise BadRequestError(f"{where}pubkey does not match the identity's public key")
    event = EventToSign(
        pubkey=pubkey,
        created_at=created_at,
        kind=kind,
        tags=tags,
        content=content,
    )
    try:
        # Signers recompute this id from the same fields and sign only what they computed.
        event_id = nip01_event_id(pubkey, created_at, kind, tags, content)
    except (NostrError, UnicodeEncodeError) as exc:
        reason = str(exc) if isinstance(exc, NostrError) else "text is not valid Unicode"
        raise BadRequestError(f"{where}{reason}") from None
    given_id = template.get("id")
    if given_id is not None and given_id != event_id.hex():
        raise BadRequestError(f"{where}id does not match the event's NIP-01 id")
    given_sig = template.get("sig")
    if given_sig is not None and not _valid_sig(given_sig, pubkey, event_id):
        raise BadRequestError(f"{where}sig is not a valid signature of this event")
    return UnsignedEvent(event=event, id=event_id)


def _valid_sig(sig: object, pubkey: str, event_id: bytes) -> bool:
    if not isinstance(sig, str) or len(sig) != 128:
        return False
    try:
        return bip340.verify(bytes.fromhex(pubkey), event_id, bytes.fromhex(sig))
    except ValueError:
        return False


def prepare_events(
    templates: Sequence[Mapping[str, Any]], pubkey: str, now: int
) -> list[UnsignedEvent]:
    if len(templates) == 1:
        return [prepare_event(templates[0], pubkey, now)]
    return [prepare_event(t, pubkey, now, i) for i, t in enumerate(templates)]


def signed_event(unsigned: UnsignedEvent, sig: bytes) -> dict[str, Any]:
    """The complete NIP-01 event object."""
    event = unsigned.event
    return {
        "id": unsigned.id.hex(),
        "pubkey": event.pubkey,
        "created_at": event.created_at,
        "kind": event.kind,
        "tags": [list(t) for t in event.tags],
        "content": event.content,
        "sig": sig.hex(),
    }
