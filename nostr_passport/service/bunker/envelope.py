"""The encrypted content of kind 24133 events: NIP-44, and NIP-04 for old clients.

A request tells its scheme by its form (NIP-04 ends in `?iv=...`); the response is sealed
with the same scheme, since a client that only speaks NIP-04 cannot read anything else
(and rust-nostr only speaks NIP-44). Both take the x coordinate of the threshold ECDH
between the remote-signer key and the client key.
"""

from __future__ import annotations

from typing import Any, Literal

from nostr_passport.nostr import nip04, nip44, nip46

Scheme = Literal["nip44", "nip04"]


def scheme_of(content: str) -> Scheme:
    return "nip04" if nip46.is_nip04_payload(content) else "nip44"


def open_content(content: str, shared_x: bytes) -> str:
    """Decrypt a request's content (DecryptionError / InvalidPayloadError otherwise)."""
    if scheme_of(content) == "nip04":
        return nip04.decrypt(content, shared_x)
    return nip44.decrypt(content, nip44.conversation_key_from_shared_x(shared_x))


def seal_content(text: str, shared_x: bytes, scheme: Scheme) -> str:
    if scheme == "nip04":
        return nip04.encrypt(text, shared_x)
    return nip44.encrypt(text, nip44.conversation_key_from_shared_x(shared_x))


def response_template(client_pubkey: str, content: str, created_at: int) -> dict[str, Any]:
    """The unsigned response event (the remote-signer key signs it)."""
    return {
        "kind": nip46.KIND,
        "content": content,
        "tags": [["p", client_pubkey]],
        "created_at": created_at,
    }
