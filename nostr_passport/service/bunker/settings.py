"""The bunker's knobs (set by `serve --relay ...`, the config's relays section, or tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nostr_passport.errors import ConfigError
from nostr_passport.nostr.relay_pool import PoolSettings


@dataclass(frozen=True)
class BunkerSettings:
    # Relays the bunker listens on (and puts in bunker:// URIs by default).
    relays: tuple[str, ...] = ()
    # Base URL of this gateway as a user's browser reaches it (auth_url pages).
    public_url: str = "http://127.0.0.1:8787"
    # Requests handled at once (each one costs threshold ECDH and a FROST signature).
    max_concurrency: int = 32
    # Request events older than this (seconds, by created_at) are ignored: relays that
    # store ephemeral events replay them to every new subscription.
    max_request_age: int = 300
    # How long a request waiting for the owner's approval stays answerable.
    approval_ttl: int = 600
    # Every this many seconds: re-read remote-signer keys and relays from the store (other
    # gateways add them), answer approvals decided elsewhere, forget old request ids.
    refresh_seconds: float = 5.0
    publish_timeout: float = 10.0
    # Answer relays' NIP-42 AUTH challenges, signed by a remote-signer key (docs/bunker.md).
    relay_auth: bool = True
    # Replies whose plaintext exceeds this are refused with an error reply: 65535 bytes is
    # what every NIP-44 implementation decrypts (and about what relays accept).
    max_response_bytes: int = 65535
    pool: PoolSettings = field(default_factory=PoolSettings)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1 or self.approval_ttl < 1 or self.max_request_age < 1:
            raise ConfigError("bunker settings must be positive")
        if self.refresh_seconds <= 0 or self.publish_timeout <= 0:
            raise ConfigError("bunker intervals must be positive")
        if not self.public_url.startswith(("http://", "https://")):
            raise ConfigError("bunker public_url must be an http(s) URL")
