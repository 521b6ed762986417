"""What a signer signs: the NIP-01 id of the event, computed by the signer itself.

A signer never signs a hash handed to it: it recomputes the id from the event, so a
compromised coordinator can only get signatures of well-formed events of the identity.
"""

from __future__ import annotations

from nostr_passport.errors import BadRequestError
from nostr_passport.nostr import event as nip01
from nostr_passport.nostr.errors import InvalidEventError
from nostr_passport.signer.protocol import EventToSign


def event_message(event: EventToSign) -> bytes:
    """The 32-byte NIP-01 event id of `event`, after checking every field's form."""
    if not isinstance(event, EventToSign):
        raise BadRequestError("event must be an EventToSign")
    try:
        return nip01.event_id(
            nip01.hex_field(event.pubkey, 32, "event pubkey"),
            nip01.created_at_field(event.created_at),
            nip01.kind_field(event.kind),
            nip01.tags_field(event.tags),
            nip01.content_field(event.content),
        )
    except InvalidEventError as exc:
        raise BadRequestError(f"event: {exc}") from None
