"""Interop with another implementation: nostr-sdk's Client on the same relay.

An event built and signed by nostr-sdk reaches our pool (and passes our independent
id/signature check); an event we publish reaches nostr-sdk's subscription (and passes
its verification). Runs against both relays.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import coincurve
import pytest
from nostr_sdk import (
    Client,
    Event,
    EventBuilder,
    Filter,
    Keys,
    Kind,
    PublicKey,
    RelayUrl,
    ReqTarget,
)

from nostr_passport.nostr.relay import RelaySettings
from nostr_passport.nostr.relay_pool import PoolSettings, RelayPool
from tests.relays import (  # noqa: F401 - any_relay_fixture is a pytest fixture
    Collector,
    RunningRelay,
    any_relay_fixture,
    run_async,
    signed_event,
    verify_test_event,
)

pytestmark = pytest.mark.timeout(120)

SETTINGS = PoolSettings(
    relay=replace(RelaySettings(), backoff_initial=0.05, backoff_max=0.5),
    verify_event=verify_test_event,
)


async def sdk_client(url: str) -> Client:
    client = Client()
    await client.add_relay(RelayUrl.parse(url))
    await client.connect()
    return client


def test_event_from_nostr_sdk_client_reaches_our_pool(any_relay: RunningRelay) -> None:
    keys = Keys.generate()
    pubkey = keys.public_key().to_hex()

    async def main() -> None:
        handler = Collector()
        client = await sdk_client(any_relay.url)
        try:
            async with RelayPool([any_relay.url], SETTINGS) as pool:
                sub_id = await pool.subscribe([{"authors": [pubkey], "kinds": [1]}], handler)
                await pool.wait_eose(sub_id, 15)
                unsigned = EventBuilder(Kind(1), "from nostr-sdk ☃").finalize_unsigned(
                    keys.public_key()
                )
                event = keys.sign_event(unsigned)
                output = await client.send_event(event)
                assert [str(u) for u in output.success] == [any_relay.url]
                received = await handler.wait_event(event.id().to_hex(), timeout=30)
                assert received.event == json.loads(event.as_json())
                assert verify_test_event(received.event)
        finally:
            await client.shutdown()

    run_async(main())


def test_event_from_our_pool_reaches_nostr_sdk_client(any_relay: RunningRelay) -> None:
    key = coincurve.PrivateKey()
    ours = signed_event(key, content="from nostr_passport ☃", tags=[["t", "interop"]])

    async def main() -> None:
        client = await sdk_client(any_relay.url)
        try:
            author = PublicKey.parse(ours["pubkey"])
            await client.subscribe(ReqTarget.auto([Filter().author(author).kind(Kind(1))]))
            notifications = client.notifications()
            async with RelayPool([any_relay.url], SETTINGS) as pool:
                (await pool.publish(ours)).require_accepted()
                while True:
                    notification = await asyncio.wait_for(notifications.next(), 30)
                    assert notification is not None
                    if notification.is_new_event():
                        received: Event = notification.event
                        break
            assert received.id().to_hex() == ours["id"]
            assert received.verify()
            assert received.content() == ours["content"]
            assert Event.from_json(json.dumps(ours)).verify()
        finally:
            await client.shutdown()

    run_async(main())
