"""A bare NIP-46 client for what a library client will not send: garbage inside valid
encryption, non-JSON params, NIP-04 transport, requests of any size, any p-tag.

Independent of the bunker's code paths: its own key (coincurve), its own events
(tests.relays.signed_event), NIP-44/NIP-04 from nostr_passport.nostr (checked against
nostr-sdk in tests/nostr and tests/vectors). It also watches every response addressed
to it, so a test can see auth_url challenges and replies to requests it did not send
(an observer with a nostr-sdk app's key).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

import coincurve

from nostr_passport.nostr import nip04, nip44
from nostr_passport.nostr.relay import RelaySettings
from nostr_passport.nostr.relay_pool import (
    PoolSettings,
    PublishReport,
    ReceivedEvent,
    RelayPool,
)
from tests.relays import signed_event, verify_test_event

Scheme = Literal["nip44", "nip04"]
SETTINGS = PoolSettings(
    relay=replace(RelaySettings(), backoff_initial=0.05, backoff_max=0.5),
    verify_event=verify_test_event,
)


@dataclass(frozen=True)
class Reply:
    id: str
    result: str | None
    error: str | None
    raw: dict[str, Any]
    scheme: Scheme
    event: dict[str, Any]


class RawClient:
    def __init__(
        self,
        relays: list[str],
        remote_signer: str,
        secret_key: coincurve.PrivateKey | None = None,
        scheme: Scheme = "nip44",
    ) -> None:
        self.key = secret_key or coincurve.PrivateKey()
        self.pubkey = self.key.public_key_xonly.format().hex()
        self.relays = relays
        self.remote_signer = remote_signer
        self.scheme = scheme
        self.pool = RelayPool(relays, SETTINGS)
        self.replies: list[Reply] = []
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> RawClient:
        await self.pool.start()
        sub = await self.pool.subscribe(
            [{"kinds": [24133], "#p": [self.pubkey], "since": _now() - 5}], self._on_event
        )
        await self.pool.wait_eose(sub, 15)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.close()

    # ------------------------------------------------------------ crypto with the signer

    def _shared_x(self, peer: str) -> bytes:
        point = coincurve.PublicKey(bytes.fromhex("02" + peer))
        shared = point.multiply(self.key.secret).format(compressed=True)
        return shared[1:]

    def encrypt(self, text: str, scheme: Scheme | None = None, peer: str | None = None) -> str:
        shared = self._shared_x(peer or self.remote_signer)
        if (scheme or self.scheme) == "nip04":
            return nip04.encrypt(text, shared)
        return nip44.encrypt(text, nip44.conversation_key_from_shared_x(shared))

    def decrypt(self, content: str, peer: str) -> tuple[str, Scheme]:
        shared = self._shared_x(peer)
        if "?iv=" in content:
            return nip04.decrypt(content, shared), "nip04"
        return nip44.decrypt(content, nip44.conversation_key_from_shared_x(shared)), "nip44"

    # ------------------------------------------------------------ requests

    async def _on_event(self, item: ReceivedEvent) -> None:
        event = item.event
        text, scheme = self.decrypt(event["content"], event["pubkey"])
        data = json.loads(text)
        self.replies.append(
            Reply(data.get("id", ""), data.get("result"), data.get("error"), data, scheme, event)
        )
        self._arrived.set()

    async def publish_content(
        self, content: str, *, p_tag: str | None = None, created_at: int | None = None
    ) -> PublishReport:
        event = signed_event(
            self.key,
            kind=24133,
            content=content,
            tags=[["p", p_tag or self.remote_signer]],
            created_at=created_at,
        )
        return await self.pool.publish(event, timeout=15)

    async def send_text(
        self, text: str, *, scheme: Scheme | None = None, p_tag: str | None = None
    ) -> None:
        peer = p_tag or self.remote_signer
        report = await self.publish_content(self.encrypt(text, scheme, peer), p_tag=peer)
        report.require_accepted()

    async def request(
        self,
        method: str,
        params: list[str],
        *,
        scheme: Scheme | None = None,
        p_tag: str | None = None,
        timeout: float = 20.0,
    ) -> Reply:
        """Send a request and wait for its final reply (auth_url challenges are skipped)."""
        request_id = secrets.token_hex(8)
        text = json.dumps(
            {"id": request_id, "method": method, "params": params}, ensure_ascii=False
        )
        await self.send_text(text, scheme=scheme, p_tag=p_tag)
        return await self.wait_reply(request_id, timeout=timeout)

    async def wait_reply(
        self, request_id: str, *, timeout: float = 20.0, auth_url: bool = False
    ) -> Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for reply in self.replies:
                if reply.id == request_id and (reply.result == "auth_url") == auth_url:
                    return reply
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no reply to {request_id}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass

    async def wait_for(self, predicate: Any, timeout: float = 20.0) -> Reply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for reply in self.replies:
                if predicate(reply):
                    return reply
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no matching reply")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                pass


def _now() -> int:
    return int(time.time())
