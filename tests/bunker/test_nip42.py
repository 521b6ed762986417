"""The bunker behind a relay that requires NIP-42 AUTH for every REQ and EVENT.

The relay is nostr-sdk's LocalRelay with nip42 mode BOTH (tests.relays.auth_relay): a
subscription gets CLOSED "auth-required" and an EVENT OK false until the connection has
authenticated. The app is nostr-sdk's Client with a SignerAuthenticator over the app's
keys (it answers AUTH challenges itself) speaking NIP-46 over NIP-44 with nostr-sdk's
own event builder and encryption. nostr-sdk's NostrConnect cannot be the app here: its
relay pool is built without a signer, so it never authenticates.

Without the bunker's auth signer the very same request is never answered: the AUTH is
what makes it work. Also: an AUTH the signers fail is retried through a new subscription,
and a relay that challenges only on connect (a FakeRelay here), before the bunker has a
key, is answered with the stored challenge once it refuses the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from nostr_sdk import (
    Client,
    ClientBuilder,
    Event,
    EventBuilder,
    Filter,
    Keys,
    Kind,
    Nip44Version,
    PublicKey,
    RelayUrl,
    ReqTarget,
    SignerAuthenticator,
    Tag,
    nip44_decrypt,
    nip44_encrypt,
    uniffi_set_event_loop,
)

from nostr_passport.errors import UnavailableError
from nostr_passport.nostr.event import is_valid_event_dict
from nostr_passport.store.audit_log import audit_records
from tests.relays import (  # noqa: F401
    FakeRelay,
    LocalTestRelay,
    auth_relay_fixture,
    run_async,
    verify_test_event,
)

from .gateway import Gateway, running_gateway

pytestmark = pytest.mark.timeout(60)

NO_ANSWER_WAIT = 3.0


class AuthingApp:
    """A NIP-46 app on nostr-sdk's Client, which answers the relay's AUTH challenges."""

    def __init__(self, uri: str) -> None:
        parts = urlsplit(uri)
        query = parse_qs(parts.query)
        self.remote = PublicKey.parse(parts.netloc)
        self.relay = RelayUrl.parse(query["relay"][0])
        self.secret = query["secret"][0]
        self.keys = Keys.generate()
        self.client: Client | None = None

    async def start(self) -> None:
        # The authenticator is a Python callback that uniffi runs on this loop.
        uniffi_set_event_loop(asyncio.get_running_loop())
        client = ClientBuilder().authenticator(SignerAuthenticator(self.keys)).build()
        await client.add_relay(self.relay)
        await client.connect(timedelta(seconds=5))
        replies = Filter().kind(Kind(24133)).pubkey(self.keys.public_key()).limit(0)
        output = await client.subscribe(ReqTarget.single(self.relay, [replies]))
        assert output.success, output.failed
        self.client = client
        self.stream = client.notifications()

    async def request(self, method: str, params: list[str], timeout: float) -> dict[str, Any]:
        """The response to one request; TimeoutError if none arrives within `timeout`."""
        assert self.client is not None
        request_id = secrets.token_hex(8)
        plaintext = json.dumps({"id": request_id, "method": method, "params": params})
        sealed = nip44_encrypt(self.keys.secret_key(), self.remote, plaintext, Nip44Version.V2)
        event = (
            EventBuilder(Kind(24133), sealed)
            .tags([Tag.public_key(self.remote)])
            .finalize(self.keys)
        )
        sent = await self.client.send_event(event)
        # The app's own EVENT passes: it authenticated (else "auth-required").
        assert sent.success == [self.relay], sent.failed

        async def answer() -> dict[str, Any]:
            while True:
                notification = await self.stream.next()
                assert notification is not None, "client shut down"
                if not notification.is_new_event():
                    continue
                reply: Event = notification.event
                assert reply.verify()
                text = nip44_decrypt(self.keys.secret_key(), reply.author(), reply.content())
                response: dict[str, Any] = json.loads(text)
                if response.get("id") == request_id:
                    assert reply.author() == self.remote
                    return response

        return await asyncio.wait_for(answer(), timeout)

    async def close(self) -> None:
        try:
            if self.client is not None:
                await self.client.shutdown()
        finally:
            # Back to "the running loop": a stale global loop breaks every later
            # nostr-sdk call in this process (uniffi resumes futures on it).
            uniffi_set_event_loop(None)


@pytest.fixture
def auth_events() -> list[dict[str, Any]]:
    return []


def _gateway(
    tmp_path: Path, relay: LocalTestRelay, auth_events: list[dict[str, Any]], **settings: Any
) -> Iterator[Gateway]:
    with running_gateway(tmp_path / "gateway", (relay.url,), **settings) as gateway:
        signers = gateway.runtime.signers
        sign_auth = signers.sign_auth

        def recording(*args: Any, **kwargs: Any) -> dict[str, Any]:
            event = sign_auth(*args, **kwargs)
            auth_events.append(event)
            return event

        signers.sign_auth = recording  # type: ignore[method-assign]
        yield gateway


@pytest.fixture
def gateway(
    tmp_path: Path, auth_relay: LocalTestRelay, auth_events: list[dict[str, Any]]
) -> Iterator[Gateway]:
    yield from _gateway(tmp_path, auth_relay, auth_events)


@pytest.fixture
def gateway_without_auth(
    tmp_path: Path, auth_relay: LocalTestRelay, auth_events: list[dict[str, Any]]
) -> Iterator[Gateway]:
    yield from _gateway(tmp_path, auth_relay, auth_events, relay_auth=False)


def test_app_gets_a_valid_signature_through_a_relay_that_requires_auth(
    gateway: Gateway, auth_relay: LocalTestRelay, auth_events: list[dict[str, Any]]
) -> None:
    uri = gateway.bunker_uri()
    app = AuthingApp(uri)

    async def main() -> None:
        try:
            await app.start()
            connected = await app.request("connect", [app.remote.to_hex(), app.secret], 10)
            assert connected == {"id": connected["id"], "result": "ack"}
            user = await app.request("get_public_key", [], 10)
            assert user["result"] == gateway.identity["pubkey"]
            template = {
                "kind": 1,
                "content": "through an AUTH relay",
                "tags": [["t", "nip42"]],
                "created_at": 1_700_000_000,
            }
            signed = await app.request("sign_event", [json.dumps(template)], 10)
            event = json.loads(signed["result"])
            assert Event.from_json(signed["result"]).verify()  # nostr-sdk's check
            assert is_valid_event_dict(event)  # and ours
            assert event["pubkey"] == gateway.identity["pubkey"]
            assert (event["kind"], event["content"], event["tags"]) == (
                1,
                template["content"],
                template["tags"],
            )
        finally:
            await app.close()

    run_async(main(), timeout=40)

    # The relay challenged the bunker and got an AUTH event of the remote-signer key
    # the URI names (what the app p-tags), a valid Schnorr signature over its id.
    service = gateway.runtime.service
    assert service is not None
    remote_signer = app.remote.to_hex()
    auth_signer = service.auth_identity()
    assert auth_signer is not None and auth_signer.pubkey == remote_signer
    assert auth_events, "the bunker never signed an AUTH event"
    for auth in auth_events:
        assert Event.from_json(json.dumps(auth)).verify()
        assert is_valid_event_dict(auth)
        assert auth["kind"] == 22242 and auth["pubkey"] == remote_signer
        assert ["relay", auth_relay.url] in auth["tags"]
        assert any(t[0] == "challenge" and t[1] for t in auth["tags"])

    # Each AUTH signature is audited: allowed before the key is used, then ok.
    with gateway.harness.passport.store.read() as conn:
        records = [r for r in audit_records(conn) if r.action == "bunker.relay_auth"]
    allowed = [r for r in records if r.outcome == "allowed"]
    done = [r for r in records if r.outcome == "ok"]
    assert len(allowed) == len(done) == len(records) // 2 == len(auth_events)
    assert {r.request_id for r in allowed} == {r.request_id for r in done}
    assert {r.details["event_id"] for r in done} == {a["id"] for a in auth_events}
    for record in records:
        assert record.actor == "bunker"
        assert record.identity_id == gateway.identity["id"]
        assert record.details["remote_signer"] == remote_signer
        assert record.details["relay"] == auth_relay.url


def test_without_the_auth_signer_the_request_is_never_answered(
    gateway_without_auth: Gateway, auth_events: list[dict[str, Any]]
) -> None:
    gateway = gateway_without_auth
    app = AuthingApp(gateway.bunker_uri())

    async def main() -> None:
        try:
            await app.start()
            # The app authenticates and its request is stored by the relay, but the
            # bunker's subscription was refused ("auth-required"): nobody answers.
            with pytest.raises(TimeoutError):
                await app.request("connect", [app.remote.to_hex(), app.secret], NO_ANSWER_WAIT)
        finally:
            await app.close()

    run_async(main(), timeout=30)
    assert auth_events == []
    service = gateway.runtime.service
    assert service is not None
    live = asyncio.run_coroutine_threadsafe(service.wait_subscribed(0.5), service.loop)
    assert live.result(5) == frozenset()  # the relay refused the bunker's REQ
    assert service.handled == 0


def test_a_failed_auth_signature_is_retried_on_the_next_sync(
    tmp_path: Path, auth_relay: LocalTestRelay, auth_events: list[dict[str, Any]]
) -> None:
    """The signers fail the first AUTH (quorum down, say): the relay then closes the
    bunker's subscription; the bunker subscribes again and authenticates."""
    with contextlib.ExitStack() as stack:
        gateway = stack.enter_context(
            contextlib.contextmanager(_gateway)(tmp_path, auth_relay, auth_events)
        )
        signers = gateway.runtime.signers
        recording = signers.sign_auth
        failures: list[int] = []

        def failing_once(*args: Any, **kwargs: Any) -> dict[str, Any]:
            if not failures:
                failures.append(1)
                raise UnavailableError("signers unreachable")
            return recording(*args, **kwargs)

        signers.sign_auth = failing_once  # type: ignore[method-assign]
        app = AuthingApp(gateway.bunker_uri())
        # LocalRelay keeps no ephemeral events: ask once the bunker listens again.
        gateway.wait_listening(10)
        assert failures == [1]

        async def main() -> None:
            try:
                await app.start()
                connected = await app.request("connect", [app.remote.to_hex(), app.secret], 10)
                assert connected["result"] == "ack"
            finally:
                await app.close()

        run_async(main(), timeout=30)
        assert failures == [1] and len(auth_events) == 1


class ChallengeOnConnectRelay(FakeRelay):
    """A relay that sends one AUTH challenge when a client connects and never another
    (as many do), then refuses REQ and EVENT until the connection authenticated."""

    def __init__(self) -> None:
        super().__init__(self._respond)
        self.challenge = secrets.token_hex(16)
        self.auth_events: list[dict[str, Any]] = []
        self._authed: set[Any] = set()

    async def _handle(self, ws: Any) -> None:
        await ws.send(json.dumps(["AUTH", self.challenge]))
        await super()._handle(ws)

    async def _respond(self, relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        kind = message[0]
        if kind == "AUTH":
            event = message[1]
            good = (
                verify_test_event(event)
                and event["kind"] == 22242
                and ["challenge", self.challenge] in event["tags"]
            )
            if good:
                self._authed.add(ws)
                self.auth_events.append(event)
            await ws.send(json.dumps(["OK", event["id"], good, "" if good else "invalid: no"]))
        elif kind == "REQ":
            if ws in self._authed:
                await ws.send(json.dumps(["EOSE", message[1]]))
            else:
                await ws.send(json.dumps(["CLOSED", message[1], "auth-required: log in"]))
        elif kind == "EVENT":
            ok = ws in self._authed
            reason = "" if ok else "auth-required: log in"
            await ws.send(json.dumps(["OK", message[1]["id"], ok, reason]))


def test_the_challenge_sent_on_connect_is_used_once_there_is_a_key(tmp_path: Path) -> None:
    """The relay challenges at connect, when the bunker has no remote-signer key yet (no
    AUTH possible); once a key exists the refused subscription authenticates with the
    stored challenge."""
    relay = ChallengeOnConnectRelay()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(relay.start(), loop).result(10)
        with running_gateway(tmp_path / "gateway", (relay.url,)) as gateway:
            uri = gateway.bunker_uri()
            gateway.wait_listening(10)
            (auth,) = relay.auth_events
            assert auth["pubkey"] == urlsplit(uri).netloc
    finally:
        asyncio.run_coroutine_threadsafe(relay.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
