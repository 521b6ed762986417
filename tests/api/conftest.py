from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from nostr_passport.api.app import create_app
from nostr_passport.store import Store

from ..service.harness import Harness, build_harness, settings_for_tests
from ..store.databases import BACKENDS, database_url

BODY_LIMIT = 64 * 1024


@dataclass
class Server:
    url: str
    harness: Harness

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    @property
    def admin(self) -> httpx.Client:
        return self.client(self.harness.admin_token)


@contextmanager
def run_server(harness: Harness, **settings: object) -> Iterator[str]:
    app = create_app(harness.passport, max_body_bytes=BODY_LIMIT)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def served(backend: str, tmp_path: Path) -> Iterator[Server]:
    """A Passport over three simulator signers on `backend`, served over HTTP."""
    with database_url(backend, tmp_path) as url:
        store = Store.open(url)
        harness = build_harness(store, tmp_path, settings_for_tests())
        try:
            with run_server(harness) as base:
                yield Server(base, harness)
        finally:
            harness.close()
            store.close()


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with served(request.param, tmp_path) as running:
        yield running


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    """One server on SQLite: for behaviour that does not depend on the database."""
    with served("sqlite", tmp_path) as running:
        yield running
