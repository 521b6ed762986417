"""A running gateway with its bunker, in this process: the FastAPI app and the bunker on
uvicorn's event loop in a thread, three real in-process signers (HSM simulator), SQLite.

The subprocess form (`nostr-passport serve --relay ...`) is exercised in test_serve.py.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from nostr_passport.api.app import create_app
from nostr_passport.api.routes_bunker import install_bunker
from nostr_passport.nostr.relay import RelaySettings
from nostr_passport.nostr.relay_pool import PoolSettings
from nostr_passport.service.bunker.runtime import BunkerRuntime
from nostr_passport.service.bunker.settings import BunkerSettings
from nostr_passport.store import Store

from ..service.harness import Harness, build_harness

# Fast reconnects: a restarted test relay is back within a second.
FAST_POOL = PoolSettings(relay=replace(RelaySettings(), backoff_initial=0.05, backoff_max=0.5))
START_TIMEOUT = 30.0


@dataclass
class Gateway:
    url: str
    harness: Harness
    runtime: BunkerRuntime
    identity: dict[str, Any]
    other_identity: dict[str, Any]

    @property
    def admin_token(self) -> str:
        return self.harness.admin_token

    def client(self, token: str | None = None) -> httpx.Client:
        token = token or self.admin_token
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def bunker_uri(
        self, identity_id: str | None = None, token: str | None = None, **body: Any
    ) -> str:
        with self.client(token) as api:
            reply = api.post(
                f"/v1/identities/{identity_id or self.identity['id']}/bunker/uri", json=body
            )
        assert reply.status_code == 201, reply.text
        uri: str = reply.json()["uri"]
        return uri

    def connects(self, relay_url: str) -> int:
        """How many times the bunker's connection to this relay has been established."""
        service = self.runtime.service
        assert service is not None
        return service.pool.connection_stats(relay_url).connects

    def wait_reconnected(self, relay_url: str, connects_before: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.connects(relay_url) <= connects_before:
            if time.monotonic() > deadline:
                raise TimeoutError("the bunker did not reconnect")
            time.sleep(0.02)
        self.wait_listening(timeout)

    def wait_listening(self, timeout: float = 15.0) -> None:
        """Until the bunker's subscriptions are live on every relay (after a restart)."""
        service = self.runtime.service
        assert service is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            future = asyncio.run_coroutine_threadsafe(service.wait_subscribed(0.5), service.loop)
            live = future.result(5)
            if live and set(service.subscribed_relays) <= live:
                return
            time.sleep(0.05)
        raise TimeoutError("bunker subscriptions not live")


def _create_identity(harness: Harness, url: str, label: str) -> dict[str, Any]:
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {harness.admin_token}"}, timeout=30
    ) as api:
        reply = api.post("/v1/identities", json={"threshold": 2, "participants": 3, "label": label})
    assert reply.status_code == 201, reply.text
    identity: dict[str, Any] = reply.json()
    return identity


@contextmanager
def running_gateway(tmp_path: Path, relays: tuple[str, ...], **settings: Any) -> Iterator[Gateway]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = Store.open(f"sqlite+pysqlite:///{tmp_path / 'gateway.sqlite3'}")
    harness = build_harness(store, tmp_path)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    bunker_settings = BunkerSettings(
        relays=relays, public_url=url, pool=FAST_POOL, refresh_seconds=1.0, **settings
    )
    runtime = BunkerRuntime(harness.passport, bunker_settings)
    app = create_app(harness.passport)
    install_bunker(app, runtime)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        alice = _create_identity(harness, url, "alice")
        bob = _create_identity(harness, url, "bob")
        yield Gateway(url, harness, runtime, alice, bob)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
        harness.close()
        store.close()
