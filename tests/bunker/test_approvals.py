"""Permissions per app connection, and the auth_url flow driven over HTTP.

The app is nostr-sdk's NostrConnect (it ignores auth_url replies and keeps waiting for
the final answer to the same request id, as NIP-46 says); an observer holding the
app's key sees the auth_url reply, as the app's user would, and the test plays the
identity's owner on the approval page.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import coincurve
import httpx
import pytest
from nostr_sdk import Keys

from nostr_passport.nostr.event import is_valid_event_dict
from tests.relays import run_async

from .gateway import Gateway
from .rawclient import RawClient
from .sdk import connect_signer, event_dict, unsigned

pytestmark = pytest.mark.timeout(120)


def _observer(relay_url: str, keys: Keys, signer: str) -> RawClient:
    secret = coincurve.PrivateKey(bytes.fromhex(keys.secret_key().to_hex()))
    return RawClient([relay_url], signer, secret_key=secret)


def _signer_of(uri: str) -> str:
    return uri.split("://", 1)[1][:64]


async def _auth_url(observer: RawClient, seen: set[str]) -> str:
    reply = await observer.wait_for(
        lambda r: r.result == "auth_url" and r.error not in seen, timeout=20
    )
    assert reply.error is not None
    seen.add(reply.error)
    return reply.error


def _decide(url: str, token: str, decision: str, **extra: Any) -> httpx.Response:
    return httpx.post(url, data={"token": token, "decision": decision, **extra}, timeout=30)


def test_a_request_outside_the_grants_waits_for_the_owners_approval(
    gateway: Gateway, module_relay: Any
) -> None:
    uri = gateway.bunker_uri(perms="sign_event:1,nip44_encrypt")
    keys = Keys.generate()
    token = gateway.admin_token

    async def main() -> None:
        seen: set[str] = set()
        async with _observer(module_relay.url, keys, _signer_of(uri)) as observer:
            signer = connect_signer(uri, keys, timeout=60)
            user = await signer.get_public_key_async()
            assert user is not None
            # Within the grants: answered at once.
            note = await signer.sign_event_async(unsigned(user, 1, "granted"))
            assert note is not None and note.verify()

            # Outside (kind 7): the app gets auth_url and waits.
            waiting = asyncio.ensure_future(signer.sign_event_async(unsigned(user, 7, "+")))
            url = await _auth_url(observer, seen)
            assert re.fullmatch(rf"{re.escape(gateway.url)}/bunker/auth/bra_[0-9a-f]{{32}}", url)
            assert not waiting.done()

            # The page wants a token; with one, it shows what is asked.
            assert (await asyncio.to_thread(httpx.get, url)).status_code == 401
            page = await asyncio.to_thread(httpx.get, url, params={"token": token})
            assert page.status_code == 200
            assert "sign_event (kind 7)" in page.text and "&quot;+&quot;" in page.text
            assert page.headers["referrer-policy"] == "no-referrer"

            # Allow once: the ORIGINAL request is answered, under its original id.
            done = await asyncio.to_thread(_decide, url, token, "once")
            assert done.status_code == 200, done.text
            event = await asyncio.wait_for(waiting, 30)
            assert event is not None and event.verify()
            assert event_dict(event)["kind"] == 7

            # Once means once: the next kind 7 asks again; this time the owner denies.
            waiting = asyncio.ensure_future(signer.sign_event_async(unsigned(user, 7, "-")))
            url = await _auth_url(observer, seen)
            denied = await asyncio.to_thread(_decide, url, token, "deny")
            assert denied.status_code == 200
            with pytest.raises(Exception, match="denied"):
                await asyncio.wait_for(waiting, 30)

            # A decided request cannot be decided again.
            again = await asyncio.to_thread(_decide, url, token, "once")
            assert again.status_code == 409

            # Always: a grant for kind 7 from now on, no more questions.
            waiting = asyncio.ensure_future(signer.sign_event_async(unsigned(user, 7, "!")))
            url = await _auth_url(observer, seen)
            assert (await asyncio.to_thread(_decide, url, token, "always")).status_code == 200
            assert (await asyncio.wait_for(waiting, 30)) is not None
            quick = await signer.sign_event_async(unsigned(user, 7, "again"))
            assert quick is not None and is_valid_event_dict(event_dict(quick))

    run_async(main(), timeout=110)


def test_approval_needs_a_token_that_may_use_the_identity(
    gateway: Gateway, module_relay: Any
) -> None:
    uri = gateway.bunker_uri(perms="sign_event:1")
    keys = Keys.generate()
    other_token, _ = gateway.harness.token(
        "app", scopes=_scopes(identities=(gateway.other_identity["id"],))
    )
    auditor_token, _ = gateway.harness.token("auditor")

    async def main() -> None:
        async with _observer(module_relay.url, keys, _signer_of(uri)) as observer:
            signer = connect_signer(uri, keys, timeout=60)
            user = await signer.get_public_key_async()
            assert user is not None
            waiting = asyncio.ensure_future(signer.sign_event_async(unsigned(user, 4, "dm")))
            url = await _auth_url(observer, set())
            for token, status in ((other_token, 403), (auditor_token, 403), ("np_bad", 401)):
                reply = await asyncio.to_thread(_decide, url, token, "once")
                assert reply.status_code == status
            assert not waiting.done()
            # The JSON API lists it and decides it too (bearer token).
            request_id = url.rsplit("/", 1)[1]
            with gateway.client() as api:
                listed = (
                    await asyncio.to_thread(
                        api.get, f"/v1/identities/{gateway.identity['id']}/bunker/requests"
                    )
                ).json()["requests"]
                assert [r["id"] for r in listed] == [request_id]
                assert listed[0]["method"] == "sign_event" and listed[0]["kind"] == 4
                reply = await asyncio.to_thread(
                    api.post,
                    f"/v1/bunker/requests/{request_id}",
                    json={"decision": "for", "seconds": 600},
                )
                assert reply.status_code == 200, reply.text
            assert (await asyncio.wait_for(waiting, 30)) is not None

    run_async(main(), timeout=110)


def test_connections_are_listed_and_revoked(gateway: Gateway, module_relay: Any) -> None:
    uri = gateway.bunker_uri(perms="sign_event:1,sign_event:7", grant_uses=5)
    keys = Keys.generate()
    app_pubkey = keys.public_key().to_hex()

    async def main() -> None:
        signer = connect_signer(uri, keys, timeout=15)
        user = await signer.get_public_key_async()
        assert user is not None
        assert await signer.sign_event_async(unsigned(user, 1, "one use")) is not None
        with gateway.client() as api:
            path = f"/v1/identities/{gateway.identity['id']}/bunker/connections"
            listed = (await asyncio.to_thread(api.get, path)).json()["connections"]
            mine = next(c for c in listed if c["client_pubkey"] == app_pubkey)
            assert mine["status"] == "active" and mine["via"] == "bunker"
            grants = {g["permission"]: g["uses_left"] for g in mine["grants"]}
            assert grants == {"sign_event:1": 4, "sign_event:7": 5}
            revoked = await asyncio.to_thread(api.delete, f"{path}/{app_pubkey}")
            assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
            missing = await asyncio.to_thread(api.delete, f"{path}/{app_pubkey}")
            assert missing.status_code == 404
        with pytest.raises(Exception, match="not_connected"):
            await signer.sign_event_async(unsigned(user, 1, "after revoke"))

    run_async(main(), timeout=60)


def _scopes(**axes: Any) -> Any:
    from nostr_passport.store.tokens import TokenScopes

    return TokenScopes(**axes)
