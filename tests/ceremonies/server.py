"""A real HTTP server (uvicorn in a thread) over the gateway app, ceremonies on a test clock."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from nostr_passport.api.app import create_app
from nostr_passport.service.ceremonies import Ceremonies


def app_with_ceremonies(ceremonies: Ceremonies) -> FastAPI:
    """The gateway's app (api/app.py mounts the ceremony routes) on a test clock."""
    app = create_app(ceremonies.passport)
    app.state.ceremonies = ceremonies
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
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
