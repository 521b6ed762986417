"""A real NIP-46 client (nostr-sdk's NostrConnect) against the gateway's bunker, over a
real relay (nostr-sdk's LocalRelay in a subprocess)."""

from __future__ import annotations

import asyncio
import json

import pytest
from nostr_sdk import (
    Keys,
    PublicKey,
    UnwrappedGift,
    nip17_make_private_msg,
    nip17_make_private_msg_async,
)

from nostr_passport.nostr.event import is_valid_event_dict
from tests.relays import run_async

from .gateway import Gateway
from .sdk import connect_signer, event_dict, unsigned

pytestmark = pytest.mark.timeout(120)

UNICODE = 'Grüße, 世界! ☃ 🚀 \u2028 "quoted" \\ back\nslash \u0000nul'


def test_connect_and_get_public_key_is_the_users_key(gateway: Gateway) -> None:
    uri = gateway.bunker_uri()

    async def main() -> None:
        signer = connect_signer(uri)
        user = await signer.get_public_key_async()
        assert user is not None
        assert user.to_hex() == gateway.identity["pubkey"]
        # The remote-signer key in the URI is not the user's key.
        assert uri.split("://")[1][:64] != gateway.identity["pubkey"]

    run_async(main())


def test_signs_events_of_many_kinds_with_unicode_content(gateway: Gateway) -> None:
    uri = gateway.bunker_uri()
    cases = [
        (0, json.dumps({"name": "alice ✨", "about": UNICODE}), []),
        (1, UNICODE, [["t", "nostr"], ["p", "a" * 64]]),
        (3, "", [["p", "b" * 64, "wss://relay.example", "bob"]]),
        (7, "🤙", [["e", "c" * 64], ["p", "d" * 64]]),
        (30023, "# Long form\n\n" + UNICODE * 20, [["d", "article-ü"], ["title", "Ünïcode"]]),
    ]

    async def main() -> None:
        signer = connect_signer(uri)
        user = await signer.get_public_key_async()
        assert user is not None
        for kind, content, tags in cases:
            event = await signer.sign_event_async(unsigned(user, kind, content, tags))
            assert event is not None
            assert event.verify()  # nostr-sdk's own id and signature check
            data = event_dict(event)
            assert is_valid_event_dict(data)  # and ours
            assert data["pubkey"] == gateway.identity["pubkey"]
            assert (data["kind"], data["content"], data["tags"]) == (kind, content, tags)

    run_async(main())


def test_nip44_and_nip04_round_trips_with_a_third_party(gateway: Gateway) -> None:
    uri = gateway.bunker_uri()
    third = Keys.generate()

    async def main() -> None:
        signer = connect_signer(uri)
        user = await signer.get_public_key_async()
        assert user is not None
        for text in ("hello", UNICODE, "x" * 20_000):
            sealed = await signer.nip44_encrypt_async(third.public_key(), text)
            assert third.nip44_decrypt(user, sealed) == text
            assert await signer.nip44_decrypt_async(third.public_key(), sealed) == text
            incoming = third.nip44_encrypt(user, text)
            assert await signer.nip44_decrypt_async(third.public_key(), incoming) == text
        for text in ("hello", UNICODE):
            sealed = await signer.nip04_encrypt_async(third.public_key(), text)
            assert third.nip04_decrypt(user, sealed) == text
            incoming = third.nip04_encrypt(user, text)
            assert await signer.nip04_decrypt_async(third.public_key(), incoming) == text

    run_async(main())


def test_fifty_concurrent_sign_requests_are_all_answered_correctly(gateway: Gateway) -> None:
    uri = gateway.bunker_uri()

    async def main() -> None:
        signer = connect_signer(uri, timeout=60)
        user = await signer.get_public_key_async()
        assert user is not None
        contents = [f"concurrent {i} ✓" for i in range(50)]
        events = await asyncio.gather(
            *(signer.sign_event_async(unsigned(user, 1, c)) for c in contents)
        )
        signed = [event_dict(e) for e in events if e is not None]
        assert sorted(e["content"] for e in signed) == sorted(contents)
        assert all(is_valid_event_dict(e) for e in signed)
        assert len({e["id"] for e in signed}) == 50

    run_async(main())


def test_a_consumed_secret_is_refused_to_a_second_client(gateway: Gateway) -> None:
    uri = gateway.bunker_uri()

    async def main() -> None:
        first = connect_signer(uri)
        assert await first.get_public_key_async() is not None
        second = connect_signer(uri, timeout=10)
        with pytest.raises(Exception, match="already used"):
            await second.get_public_key_async()
        # The first client keeps working.
        user = await first.get_public_key_async()
        assert user is not None and user.to_hex() == gateway.identity["pubkey"]

    run_async(main())


def test_reconnecting_with_the_same_app_key_and_uri_is_accepted(gateway: Gateway) -> None:
    uri = gateway.bunker_uri()
    keys = Keys.generate()

    async def main() -> None:
        first = connect_signer(uri, keys)
        assert await first.get_public_key_async() is not None
        # An app restarting with its stored key and URI sends connect again.
        restarted = connect_signer(uri, keys)
        user = await restarted.get_public_key_async()
        assert isinstance(user, PublicKey)

    run_async(main())


def test_nostr_sdk_nip17_messages_through_the_bunker(gateway: Gateway) -> None:
    """nostr-sdk's own NIP-17 code driving the NostrConnect signer: sealing uses the
    bunker's nip44_encrypt and sign_event (kind 13), unwrapping its nip44_decrypt."""
    uri = gateway.bunker_uri()
    third = Keys.generate()

    async def main() -> None:
        signer = connect_signer(uri)
        user = await signer.get_public_key_async()
        assert user is not None
        wrap = await nip17_make_private_msg_async(signer, third.public_key(), "to you ✉")
        opened = UnwrappedGift.from_gift_wrap(third, wrap)
        assert opened.sender().to_hex() == user.to_hex()
        assert opened.rumor().content() == "to you ✉"
        incoming = nip17_make_private_msg(third, user, "back to you ↩")
        unwrapped = await UnwrappedGift.from_gift_wrap_async(signer, incoming)
        assert unwrapped.sender().to_hex() == third.public_key().to_hex()
        assert unwrapped.rumor().content() == "back to you ↩"

    run_async(main())
