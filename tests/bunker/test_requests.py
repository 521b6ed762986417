"""What no well-behaved library sends, sent by a bare client: every request we can
decrypt gets a reply (an error when it must), never silence, never an empty result,
and the bunker keeps serving afterwards. NIP-04 requests are answered in NIP-04."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import coincurve
import pytest

from nostr_passport.nostr.event import is_valid_event_dict
from tests.relays import run_async

from .gateway import Gateway
from .rawclient import RawClient, Reply

pytestmark = pytest.mark.timeout(120)


def _parts(uri: str) -> tuple[str, str]:
    split = urlsplit(uri)
    secret = parse_qs(split.query)["secret"][0]
    return split.netloc, secret


def _session(
    gateway: Gateway, relay_url: str, body: Callable[[RawClient, str], Awaitable[None]], **kw: str
) -> None:
    """Run `body(client, secret)` with a raw client aimed at alice's remote signer."""
    uri = gateway.bunker_uri()
    signer, secret = _parts(uri)

    async def main() -> None:
        async with RawClient([relay_url], signer, **kw) as client:  # type: ignore[arg-type]
            await body(client, secret)

    run_async(main(), timeout=90)


def _is_error(reply: Reply, fragment: str) -> bool:
    return reply.result is None and reply.error is not None and fragment in reply.error


async def _connected(client: RawClient, secret: str) -> None:
    reply = await client.request("connect", [client.remote_signer, secret])
    assert reply.result == "ack", reply.raw


def test_every_reply_has_a_result_or_an_error(gateway: Gateway, module_relay: object) -> None:
    async def body(client: RawClient, secret: str) -> None:
        await _connected(client, secret)
        for method, params in [
            ("ping", []),
            ("get_public_key", []),
            ("switch_relays", []),
            ("no_such_method", []),
            ("sign_event", ["{not json"]),
        ]:
            reply = await client.request(method, params)
            assert "result" in reply.raw or "error" in reply.raw
            assert reply.result or reply.error
            if reply.error:
                assert "result" not in reply.raw  # rust-nostr reads result first

    _session(gateway, module_relay.url, body)  # type: ignore[attr-defined]


def test_ping_switch_relays_and_get_public_key(gateway: Gateway, module_relay: object) -> None:
    relay_url: str = module_relay.url  # type: ignore[attr-defined]

    async def body(client: RawClient, secret: str) -> None:
        await _connected(client, secret)
        assert (await client.request("ping", [])).result == "pong"
        assert (await client.request("get_public_key", [])).result == gateway.identity["pubkey"]
        relays = json.loads((await client.request("switch_relays", [])).result or "null")
        assert relays == [relay_url]

    _session(gateway, relay_url, body)


def test_garbage_and_malformed_requests_get_error_replies(
    gateway: Gateway, module_relay: object
) -> None:
    async def body(client: RawClient, secret: str) -> None:
        await _connected(client, secret)
        # Not JSON at all, inside valid encryption: no id to answer, still an answer.
        await client.send_text("\x00\x01 garbage ☃")
        reply = await client.wait_for(lambda r: r.id == "" and r.error is not None)
        assert "invalid_payload" in (reply.error or "")
        # JSON with an id but no valid method: the error names the request.
        await client.send_text(json.dumps({"id": "m1", "method": 5, "params": []}))
        assert _is_error(await client.wait_reply("m1"), "invalid_request")
        # params that are not strings.
        await client.send_text(json.dumps({"id": "p1", "method": "sign_event", "params": [{}]}))
        assert _is_error(await client.wait_reply("p1"), "invalid_request")
        # Unknown method.
        assert _is_error(await client.request("frobnicate", []), "unsupported method")
        # sign_event with params that are not a JSON template.
        assert _is_error(await client.request("sign_event", ["not json"]), "bad_request")
        assert _is_error(await client.request("sign_event", ["[1,2]"]), "bad_request")
        assert _is_error(await client.request("sign_event", ['{"kind":"one"}']), "bad_request")
        assert _is_error(await client.request("sign_event", []), "bad_request")
        # Encryption requests with a bad peer key or the wrong arity.
        assert _is_error(await client.request("nip44_encrypt", ["zz", "hi"]), "bad_request")
        assert _is_error(await client.request("nip44_decrypt", ["a" * 64]), "bad_request")
        # Undecryptable content (a NIP-44 payload under another key).
        stranger = coincurve.PrivateKey().public_key_xonly.format().hex()
        await client.publish_content(client.encrypt("x", peer=stranger))
        await client.wait_for(lambda r: r.id == "" and "decryption_failed" in (r.error or ""))
        # And the bunker still serves.
        assert (await client.request("ping", [])).result == "pong"

    _session(gateway, module_relay.url, body)  # type: ignore[attr-defined]


def test_connect_refusals(gateway: Gateway, module_relay: object) -> None:
    async def body(client: RawClient, secret: str) -> None:
        # Not connected yet: everything but connect is refused.
        assert _is_error(await client.request("ping", []), "not_connected")
        assert _is_error(await client.request("connect", [client.remote_signer]), "forbidden")
        assert _is_error(
            await client.request("connect", [client.remote_signer, "wrong"]), "already used"
        )
        assert _is_error(await client.request("connect", ["e" * 64, secret]), "bad_request")
        # NDK's form: an empty first param.
        assert (await client.request("connect", ["", secret])).result == "ack"
        assert (await client.request("ping", [])).result == "pong"

    _session(gateway, module_relay.url, body)  # type: ignore[attr-defined]


def test_nip04_requests_are_answered_in_nip04(gateway: Gateway, module_relay: object) -> None:
    async def body(client: RawClient, secret: str) -> None:
        reply = await client.request("connect", [client.remote_signer, secret])
        assert reply.result == "ack" and reply.scheme == "nip04"
        key = await client.request("get_public_key", [])
        assert key.result == gateway.identity["pubkey"] and key.scheme == "nip04"
        template = {"kind": 1, "content": "from an old client", "tags": []}
        signed = await client.request("sign_event", [json.dumps(template)])
        assert signed.scheme == "nip04"
        assert is_valid_event_dict(json.loads(signed.result or ""))

    _session(gateway, module_relay.url, body, scheme="nip04")  # type: ignore[attr-defined]


def test_requests_for_another_identity_are_refused(gateway: Gateway, module_relay: object) -> None:
    bob_signer, _ = _parts(gateway.bunker_uri(gateway.other_identity["id"]))
    bob = gateway.other_identity["pubkey"]

    async def body(client: RawClient, secret: str) -> None:
        await _connected(client, secret)
        # A template naming bob's key, sent to alice's remote signer.
        template = {"kind": 1, "content": "as bob", "tags": [], "pubkey": bob}
        reply = await client.request("sign_event", [json.dumps(template)])
        assert _is_error(reply, "pubkey")
        # A request to bob's remote signer, where this app never connected.
        reply = await client.request("get_public_key", [], p_tag=bob_signer)
        assert _is_error(reply, "not_connected")
        template = {"kind": 1, "content": "to bob's signer", "tags": []}
        reply = await client.request("sign_event", [json.dumps(template)], p_tag=bob_signer)
        assert _is_error(reply, "not_connected")
        # Alice's connection is unaffected.
        assert (await client.request("get_public_key", [])).result == gateway.identity["pubkey"]

    _session(gateway, module_relay.url, body)  # type: ignore[attr-defined]


def test_logout_ends_the_connection(gateway: Gateway, module_relay: object) -> None:
    async def body(client: RawClient, secret: str) -> None:
        await _connected(client, secret)
        assert (await client.request("logout", [])).result == "ack"
        assert _is_error(await client.request("ping", []), "not_connected")
        # The secret was single-use: reconnecting needs a new URI.
        assert _is_error(
            await client.request("connect", [client.remote_signer, secret]), "already used"
        )

    _session(gateway, module_relay.url, body)  # type: ignore[attr-defined]


def test_an_expired_secret_is_refused(gateway: Gateway, module_relay: object) -> None:
    relay_url: str = module_relay.url  # type: ignore[attr-defined]
    uri = gateway.bunker_uri(expires_in=1)
    signer, secret = _parts(uri)
    clock = gateway.harness.passport

    async def main() -> None:
        async with RawClient([relay_url], signer) as client:
            original = clock._clock
            clock._clock = lambda: original() + 5  # the secret's hour has passed
            try:
                reply = await client.request("connect", [signer, secret])
            finally:
                clock._clock = original
            assert _is_error(reply, "expired")

    run_async(main(), timeout=60)
