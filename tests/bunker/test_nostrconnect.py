"""Client-initiated connections: the app shows a nostrconnect:// URI, the owner hands it
to the gateway, the bunker answers `connect` with the URI's secret."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from nostr_sdk import Keys

from tests.relays import run_async

from .gateway import Gateway
from .sdk import connect_signer, unsigned

pytestmark = pytest.mark.timeout(120)


def _nostrconnect_uri(keys: Keys, relay_url: str, secret: str, perms: str) -> str:
    """The current form: name, url, image and perms as their own parameters."""
    return (
        f"nostrconnect://{keys.public_key().to_hex()}?relay={quote(relay_url, safe='')}"
        f"&secret={secret}&perms={quote(perms, safe='')}&name=Test%20App"
        "&url=https%3A%2F%2Fapp.example&image=javascript%3Aalert(1)"
    )


def _metadata_uri(keys: Keys, relay_url: str, secret: str, perms: str) -> str:
    """The older form nostr-sdk 0.45 insists on: one `metadata` JSON parameter."""
    metadata = json.dumps({"name": "Test App", "url": "https://app.example", "perms": perms})
    return (
        f"nostrconnect://{keys.public_key().to_hex()}?relay={quote(relay_url, safe='')}"
        f"&secret={secret}&metadata={quote(metadata, safe='')}"
    )


def _accept(gateway: Gateway, uri: str, **body: Any) -> httpx.Response:
    with gateway.client() as api:
        return api.post(
            f"/v1/identities/{gateway.identity['id']}/bunker/nostrconnect",
            json={"uri": uri, **body},
        )


def test_nostrconnect_flow_with_nostr_sdk(gateway: Gateway, module_relay: Any) -> None:
    keys = Keys.generate()
    uri = _metadata_uri(keys, module_relay.url, secrets.token_hex(8), "sign_event:1")

    async def main() -> None:
        signer = connect_signer(uri, keys, timeout=30)
        waiting = asyncio.ensure_future(signer.get_public_key_async())
        # The app must be listening before our connect reply (LocalRelay keeps no
        # ephemeral events): accept, and accept again until it has heard us.
        for _ in range(20):
            reply = await asyncio.to_thread(_accept, gateway, uri)
            assert reply.status_code == 201, reply.text
            done, _pending = await asyncio.wait({waiting}, timeout=1.0)
            if done:
                break
        user = await asyncio.wait_for(waiting, 30)
        assert user is not None and user.to_hex() == gateway.identity["pubkey"]
        connection = reply.json()
        assert connection["via"] == "nostrconnect" and connection["name"] == "Test App"
        assert connection["url"] == "https://app.example"
        assert [g["permission"] for g in connection["grants"]] == ["sign_event:1"]
        event = await signer.sign_event_async(unsigned(user, 1, "via nostrconnect"))
        assert event is not None and event.verify()

    run_async(main(), timeout=100)


def test_nostrconnect_grants_are_capped_by_the_callers_perms(
    gateway: Gateway, module_relay: Any
) -> None:
    keys = Keys.generate()
    perms = "sign_event:1,sign_event:4,nip44_encrypt"
    uri = _nostrconnect_uri(keys, module_relay.url, "s3cret", perms)
    reply = _accept(gateway, uri, perms="sign_event:1,nip04_encrypt")
    assert reply.status_code == 201, reply.text
    connection = reply.json()
    assert [g["permission"] for g in connection["grants"]] == ["sign_event:1"]
    assert connection["url"] == "https://app.example"  # the javascript: image is dropped
    with gateway.client() as api:
        listed = api.get(f"/v1/identities/{gateway.identity['id']}/bunker/connections").json()
    mine = [c for c in listed["connections"] if c["client_pubkey"] == keys.public_key().to_hex()]
    assert [c["status"] for c in mine] == ["active"]


def test_a_malformed_nostrconnect_uri_is_refused(gateway: Gateway) -> None:
    for bad in ("nostrconnect://xyz?relay=ws%3A%2F%2Fa&secret=s", "bunker://" + "a" * 64):
        reply = _accept(gateway, bad)
        assert reply.status_code == 400
        assert reply.json()["error"] == "bad_request"
