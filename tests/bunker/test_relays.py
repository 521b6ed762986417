"""The bunker against relay realities: size limits, a second relay implementation,
a relay restarting in the middle of a session."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from nostr_passport.nostr.event import is_valid_event_dict
from tests.relays import LocalTestRelay, PythonTestRelay, run_async

from .gateway import running_gateway
from .rawclient import RawClient
from .sdk import connect_signer, event_dict, unsigned

pytestmark = pytest.mark.timeout(120)


def _parts(uri: str) -> tuple[str, str]:
    split = urlsplit(uri)
    return split.netloc, parse_qs(split.query)["secret"][0]


def test_on_nostr_relay_a_100_kb_event_gets_an_error_reply(tmp_path: Path) -> None:
    """LocalRelay refuses events over 64 KiB, so the request could never reach us there;
    nostr-relay with its content limit raised carries it, and the bunker must answer."""
    relay = PythonTestRelay(tmp_path / "nostr-relay", max_event_size=512 * 1024)
    relay.start()
    try:
        with running_gateway(tmp_path / "gw", (relay.url,)) as gateway:
            signer, secret = _parts(gateway.bunker_uri())

            async def main() -> None:
                async with RawClient([relay.url], signer) as client:
                    assert (await client.request("connect", [signer, secret])).result == "ack"
                    big = {"kind": 1, "content": "ü" * 50_000, "tags": []}  # 100 KB of UTF-8
                    reply = await client.request(
                        "sign_event", [json.dumps(big, ensure_ascii=False)]
                    )
                    assert reply.result is None
                    assert reply.error is not None and "too large" in reply.error
                    # The same on NIP-04.
                    reply = await client.request(
                        "sign_event", [json.dumps(big, ensure_ascii=False)], scheme="nip04"
                    )
                    assert reply.error is not None and "too large" in reply.error
                    # And a normal request still works on this relay.
                    small = {"kind": 1, "content": "small ü", "tags": []}
                    reply = await client.request("sign_event", [json.dumps(small)])
                    assert is_valid_event_dict(json.loads(reply.result or ""))

            run_async(main(), timeout=100)
    finally:
        relay.stop()


def test_a_reply_no_relay_accepts_is_replaced_by_an_error_reply(tmp_path: Path) -> None:
    """A reply within our limit but over the relay's: the relay refuses it, and the
    bunker sends the error reply it signed in advance instead of leaving silence."""
    relay = PythonTestRelay(tmp_path / "nostr-relay", max_event_size=48 * 1024)
    relay.start()
    try:
        with running_gateway(tmp_path / "gw", (relay.url,)) as gateway:
            signer, secret = _parts(gateway.bunker_uri())
            peer = gateway.other_identity["pubkey"]

            async def main() -> None:
                async with RawClient([relay.url], signer) as client:
                    assert (await client.request("connect", [signer, secret])).result == "ack"
                    # ~30 KB in (fits the relay), ~54 KB out (does not).
                    reply = await client.request("nip04_encrypt", [peer, "z" * 30_000])
                    assert reply.error is not None and "no relay accepted" in reply.error

            run_async(main(), timeout=100)
    finally:
        relay.stop()


def test_the_bunker_serves_on_nostr_relay_too(tmp_path: Path) -> None:
    relay = PythonTestRelay(tmp_path / "nostr-relay")
    relay.start()
    try:
        with running_gateway(tmp_path / "gw", (relay.url,)) as gateway:
            uri = gateway.bunker_uri()

            async def main() -> None:
                signer = connect_signer(uri)
                user = await signer.get_public_key_async()
                assert user is not None and user.to_hex() == gateway.identity["pubkey"]
                event = await signer.sign_event_async(unsigned(user, 1, "on nostr-relay ✓"))
                assert event is not None and event.verify()

            run_async(main(), timeout=100)
    finally:
        relay.stop()


def test_relay_restart_during_a_session(tmp_path: Path) -> None:
    relay = LocalTestRelay(directory=tmp_path / "relay")
    relay.start()
    try:
        with running_gateway(tmp_path / "gw", (relay.url,)) as gateway:
            uri = gateway.bunker_uri()
            gateway.wait_listening()

            async def main() -> None:
                signer = connect_signer(uri, timeout=30, fast_retry=True)
                user = await signer.get_public_key_async()
                assert user is not None
                first = await signer.sign_event_async(unsigned(user, 1, "before restart"))
                assert first is not None
                connects = gateway.connects(relay.url)
                await relay.arestart()  # every connection drops; the relay forgets all
                # The bunker reconnects and resubscribes on its own; nostr-sdk too.
                await asyncio.to_thread(gateway.wait_reconnected, relay.url, connects)
                event = await signer.sign_event_async(unsigned(user, 1, "after restart"))
                assert event is not None and event.verify()
                assert event_dict(event)["content"] == "after restart"

            run_async(main(), timeout=100)
    finally:
        relay.stop()


def test_a_bunker_uri_on_a_relay_the_server_does_not_use(tmp_path: Path) -> None:
    """`bunker uri --relay other`: the bunker listens there before the URI is handed out."""
    main_relay = LocalTestRelay(directory=tmp_path / "main")
    other_relay = LocalTestRelay(directory=tmp_path / "other")
    main_relay.start()
    other_relay.start()
    try:
        with running_gateway(tmp_path / "gw", (main_relay.url,)) as gateway:
            uri = gateway.bunker_uri(relays=[other_relay.url])
            assert other_relay.url.replace(":", "%3A").replace("/", "%2F") in uri

            async def main() -> None:
                signer = connect_signer(uri)
                user = await signer.get_public_key_async()
                assert user is not None and user.to_hex() == gateway.identity["pubkey"]
                event = await signer.sign_event_async(unsigned(user, 1, "on the other relay"))
                assert event is not None and event.verify()

            run_async(main(), timeout=60)
    finally:
        main_relay.stop()
        other_relay.stop()
