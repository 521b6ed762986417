"""nostr-sdk's NIP-46 client (rust-nostr NostrConnect) as the tests drive it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from nostr_sdk import (
    Event,
    EventBuilder,
    Keys,
    Kind,
    NostrConnect,
    NostrConnectUri,
    PublicKey,
    RelayOptions,
    Tag,
)


def connect_signer(
    uri: str, keys: Keys | None = None, timeout: float = 20.0, *, fast_retry: bool = False
) -> NostrConnect:
    """A NostrConnect signer for a bunker:// (or, with the app's keys, nostrconnect://) URI.

    fast_retry: reconnect to a lost relay within a second (rust-nostr waits ~10 s).
    """
    options = None
    if fast_retry:
        options = RelayOptions().retry_interval(timedelta(seconds=1)).adjust_retry_interval(False)
    return NostrConnect(
        NostrConnectUri.parse(uri), keys or Keys.generate(), timedelta(seconds=timeout), options
    )


def unsigned(
    pubkey: PublicKey, kind: int, content: str, tags: list[list[str]] | None = None
) -> Any:
    builder = EventBuilder(Kind(kind), content)
    if tags:
        builder = builder.tags([Tag.parse(t) for t in tags])
    return builder.finalize_unsigned(pubkey)


def event_dict(event: Event) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(event.as_json())
    return data
