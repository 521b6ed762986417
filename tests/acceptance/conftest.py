"""Acceptance fixtures: the real app on a uvicorn socket over SQLite and PostgreSQL.

The signers are the real in-process signers on the HSM simulator, not wrapped (the
gateway finds the HSM key that signs audit checkpoints on a local signer's provider).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from nostr_passport.api.app import create_app
from nostr_passport.api.routes_bunker import install_bunker
from nostr_passport.service.bunker.commands import bunker_settings
from nostr_passport.service.bunker.runtime import BunkerRuntime
from nostr_passport.service.gateway import assemble
from nostr_passport.signer.protocol import SignerClient
from nostr_passport.store import Store

from ..api.conftest import BODY_LIMIT, Server, run_server
from ..service.harness import SIGNER_IDS, Harness, real_signer, settings_for_tests
from ..store.databases import BACKENDS, database_url


def plain_harness(store: Store, tmp_path: Path) -> Harness:
    signers: dict[str, SignerClient] = {sid: real_signer(sid, tmp_path) for sid in SIGNER_IDS}
    passport = assemble(store, signers, settings_for_tests())
    passport.register_signers()
    harness = Harness(store, passport, {}, admin=None, admin_token="")  # type: ignore[arg-type]
    harness.admin_token, harness.admin = harness.token("admin")
    return harness


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with database_url(request.param, tmp_path) as url:
        store = Store.open(url)
        harness = plain_harness(store, tmp_path)
        try:
            with run_server(harness) as base:
                yield Server(base, harness)
        finally:
            harness.close()
            store.close()


def full_app(harness: Harness | None, public_url: str = "http://127.0.0.1") -> FastAPI:
    """The app as `serve` builds it: create_app plus the NIP-46 bunker (no relays)."""
    passport = None if harness is None else harness.passport
    app = create_app(passport, max_body_bytes=BODY_LIMIT)  # type: ignore[arg-type]
    if harness is None:
        from nostr_passport.api import routes_bunker

        app.include_router(routes_bunker.router)
    else:
        # The relays named in nostrconnect:// URIs here do not exist: fail in 1 s, not 10.
        settings = replace(bunker_settings([], public_url), publish_timeout=1.0)
        install_bunker(app, BunkerRuntime(harness.passport, settings))
    return app


@contextmanager
def run_full_server(harness: Harness) -> Iterator[str]:
    """Like tests/api's run_server, with the bunker routes mounted as `serve` does."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = full_app(harness, f"http://127.0.0.1:{port}")
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


@pytest.fixture(params=BACKENDS)
def full_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with database_url(request.param, tmp_path) as url:
        store = Store.open(url)
        harness = plain_harness(store, tmp_path)
        try:
            with run_full_server(harness) as base:
                yield Server(base, harness)
        finally:
            harness.close()
            store.close()
