"""Real Nostr relays for tests, on 127.0.0.1 with a free port, that can stop and restart.

Two implementations, so that the client is tested against more than one reading of
NIP-01. Both run as subprocesses: stop() kills the process, so the port is free at once
and every connection drops without a close frame, as in a crash.

- nostr-sdk's LocalRelay (Rust, in-memory database), `local_relay`. Traps handled here:
  it allows only 60 EVENTs a minute per connection unless given a RateLimit (raised to
  1,000,000 here); run in-process, LocalRelay.shutdown() now and then leaves the
  listener accepting connections (seen after clients dropped abruptly), hence the
  subprocess. Traps to know: it refuses events over 64 KiB (not settable); it writes
  without TCP_NODELAY, so a second small message on a connection waits for the
  client's delayed ACK, ~44 ms (the relay client sets TCP_QUICKACK to avoid it); over
  max_reqs live REQs on a connection get CLOSED "rate-limited: too many REQs"; it does
  not store ephemeral events; a restart forgets every event. With nip42_mode set it
  sends an AUTH challenge (a new one each time) when a REQ or EVENT needs one and
  answers CLOSED / OK false "auth-required: ...".
- PyPI nostr-relay 1.14 (Python: falcon + uvicorn + SQLite in a directory, so events
  survive a restart), `python_relay`, with a generated config. Traps handled here: its
  content limit is 4,096 characters (raised to 256 KiB). Traps to know: it answers a
  rejected EVENT with an EMPTY event id in OK; it never sends CLOSED (a refused REQ
  gets a NOTICE, e.g. "rejected: too many subscriptions"); after one rejected EVENT it
  sleeps 2 s (then 4, 8 ...) before every later message on that connection; it stores
  ephemeral events (kinds 20000-29999) and returns them to later REQs until its garbage
  collector runs (every 300 s); it closes a connection idle for message_timeout
  seconds (pings do not count); with authentication enabled it sends AUTH on connect
  and never answers the AUTH with OK.

Both expose `url`, `port`, `start()`, `stop()`, `restart()` (same port), `pause()` /
`resume()` (SIGSTOP / SIGCONT: a hung relay), and `astart()`, `astop()`, `arestart()`
for use inside a running event loop (the blocking parts run in a thread). Use the
fixtures `local_relay`, `python_relay`, `any_relay` (both, parametrized) and
`auth_relay` (LocalRelay requiring NIP-42 AUTH for reads and writes) by importing
their definitions (named *_fixture so that test parameters do not shadow the import):

    from tests.relays import any_relay_fixture, local_relay_fixture  # noqa: F401
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import coincurve
import pytest

T = TypeVar("T")

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


# ---------------------------------------------------------------- plumbing


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run a coroutine to completion from sync test code, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class RunningRelay(Protocol):
    name: str
    port: int

    @property
    def url(self) -> str: ...

    @property
    def running(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def restart(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    async def astart(self) -> None: ...

    async def astop(self) -> None: ...

    async def arestart(self) -> None: ...


async def eventually(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll predicate until true; TimeoutError after timeout (a bound, never asserted)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Collector:
    """An async event handler that records what it gets (a RelayPool EventHandler)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._arrived = asyncio.Event()

    async def __call__(self, item: Any) -> None:
        self.items.append(item)
        self._arrived.set()

    @property
    def event_ids(self) -> list[str]:
        return [item.event["id"] for item in self.items]

    async def wait_count(self, count: int, timeout: float = 10.0) -> list[Any]:
        await eventually(lambda: len(self.items) >= count, timeout, f"{count} event(s)")
        return self.items

    async def wait_event(self, event_id: str, timeout: float = 10.0) -> Any:
        await eventually(lambda: event_id in self.event_ids, timeout, f"event {event_id}")
        return next(i for i in self.items if i.event["id"] == event_id)


# ---------------------------------------------------------------- relay processes


class _RelayProcess:
    """A relay subprocess on 127.0.0.1:port; subclasses say how to launch it."""

    name = "relay"

    def __init__(self, directory: Path | None, port: int | None) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix=f"{self.name}-relay-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}-relay.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        if self.running:
            return
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                self.command(),
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not port_accepts(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} relay did not start on {self.port}:\n{tail}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill the process: connections drop without a close frame, the port frees."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the relay freezes with its sockets open (a hung relay)."""
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            os.kill(self._process.pid, signal.SIGCONT)

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def arestart(self) -> None:
        await asyncio.to_thread(self.restart)


# Runs inside the LocalRelay subprocess; options arrive as JSON in argv[1].
_LOCAL_RELAY_MAIN = """
import asyncio, json, sys
from nostr_sdk import (
    LocalRelayBuilder, LocalRelayBuilderNip42, LocalRelayBuilderNip42Mode, RateLimit,
)
options = json.loads(sys.argv[1])
async def main():
    builder = (
        LocalRelayBuilder().addr("127.0.0.1").port(options["port"])
        .rate_limit(RateLimit(
            max_reqs=options["max_reqs"], notes_per_minute=options["notes_per_minute"]
        ))
    )
    if options["nip42"]:
        mode = getattr(LocalRelayBuilderNip42Mode, options["nip42"])
        builder = builder.nip42(LocalRelayBuilderNip42(mode=mode))
    relay = builder.build()
    await relay.run()
    await asyncio.Event().wait()  # until killed
asyncio.run(main())
"""


class LocalTestRelay(_RelayProcess):
    """nostr-sdk's LocalRelay in a subprocess (in-memory: a restart forgets all events).

    nip42_mode: None, "WRITE", "READ" or "BOTH" (LocalRelayBuilderNip42Mode names).
    """

    name = "local"

    def __init__(
        self,
        port: int | None = None,
        *,
        notes_per_minute: int = 1_000_000,
        max_reqs: int = 1_000,
        nip42_mode: str | None = None,
        directory: Path | None = None,
    ) -> None:
        super().__init__(directory, port)
        self.notes_per_minute = notes_per_minute
        self.max_reqs = max_reqs
        self.nip42_mode = nip42_mode

    def command(self) -> list[str]:
        options = {
            "port": self.port,
            # Default: 60 EVENTs a minute per connection, far too few for tests.
            "notes_per_minute": self.notes_per_minute,
            "max_reqs": self.max_reqs,
            "nip42": self.nip42_mode,
        }
        return [sys.executable, "-c", _LOCAL_RELAY_MAIN, json.dumps(options)]


class PythonTestRelay(_RelayProcess):
    """PyPI nostr-relay in a subprocess, SQLite in `directory` (survives restarts)."""

    name = "python"

    def __init__(
        self,
        directory: Path | None = None,
        port: int | None = None,
        *,
        max_event_size: int = 256 * 1024,
        subscription_limit: int = 32,
        message_timeout: int = 1800,
        auth_enabled: bool = False,
    ) -> None:
        super().__init__(directory, port)
        self.max_event_size = max_event_size
        self.subscription_limit = subscription_limit
        self.message_timeout = message_timeout
        self.auth_enabled = auth_enabled

    @property
    def config_path(self) -> Path:
        return self.directory / "nostr-relay.yaml"

    def config(self) -> dict[str, Any]:
        quiet = {"level": "WARNING"}
        return {
            "DEBUG": False,
            "relay_name": "test relay",
            "storage": {
                "sqlalchemy.url": f"sqlite+aiosqlite:///{self.directory / 'relay.sqlite3'}",
                "num_concurrent_reqs": 10,
                "num_concurrent_adds": 2,
                "validators": [
                    "nostr_relay.validators.is_not_too_large",
                    "nostr_relay.validators.is_signed",
                    "nostr_relay.validators.is_recent",
                ],
            },
            # Default is 4,096 characters of content: too small for NIP-46 payloads.
            "max_event_size": self.max_event_size,
            "gunicorn": {"bind": f"127.0.0.1:{self.port}", "workers": 1, "loglevel": "warning"},
            "authentication": {
                "enabled": self.auth_enabled,
                # (sic) the code reads relay_urls, the sample config says valid_urls.
                "relay_urls": [self.url, f"{self.url}/"],
                "actions": {"save": "a", "query": "a"},
            },
            "message_timeout": self.message_timeout,
            "subscription_limit": self.subscription_limit,
            "max_limit": 6000,
            "verification": {"nip05_verification": "disabled"},
            "logging": {
                "version": 1,
                "handlers": {"console": {"class": "logging.StreamHandler", "level": "WARNING"}},
                "loggers": {"nostr_relay": quiet, "uvicorn": quiet, "websockets": quiet},
                "root": {"level": "WARNING", "handlers": ["console"]},
            },
        }

    def command(self) -> list[str]:
        # YAML is a superset of JSON: no YAML writer needed.
        self.config_path.write_text(json.dumps(self.config(), indent=2))
        launcher = "import sys; from nostr_relay.cli import main; sys.exit(main())"
        config = str(self.config_path)
        return [sys.executable, "-c", launcher, "-c", config, "serve", "--use-uvicorn"]


# ---------------------------------------------------------------- a cuttable TCP link


class TcpProxy:
    """127.0.0.1:port -> 127.0.0.1:target_port; cut() severs it, restore() mends it.

    Lets a test take ONE client's connection down while the relay keeps running and
    other clients keep publishing: the deterministic way to test "missed while away".
    Runs on the test's event loop.
    """

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    async def cut(self) -> None:
        """Stop listening and abort every forwarded connection (no close frames)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.cut()


# ---------------------------------------------------------------- a scripted relay


class FakeRelay:
    """A WebSocket server that records every client message and sends what it is told.

    For protocol cases real relays will not produce on demand: empty-id OKs, CLOSED,
    NOTICE, AUTH challenges, malformed or oversized frames, silence.
    `responder` (optional) is awaited for each client message and may reply.
    """

    def __init__(
        self,
        responder: Callable[[FakeRelay, Any, list[Any]], Awaitable[None]] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.responder = responder
        self.received: list[list[Any]] = []
        self.clients: list[Any] = []
        self.accepted = 0
        self._server: Any = None
        self._arrived = asyncio.Event()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        from websockets.asyncio.server import serve

        self._server = await serve(
            self._handle, "127.0.0.1", self.port, max_size=None, compression=None
        )

    async def _handle(self, ws: Any) -> None:
        self.accepted += 1
        self.clients.append(ws)
        try:
            async for raw in ws:
                message = json.loads(raw)
                self.received.append(message)
                self._arrived.set()
                if self.responder is not None:
                    await self.responder(self, ws, message)
        except Exception:  # a client going away mid-message is normal here
            pass
        finally:
            if ws in self.clients:
                self.clients.remove(ws)

    async def send_all(self, message: Sequence[Any] | str) -> None:
        frame = message if isinstance(message, str) else json.dumps(list(message))
        for ws in list(self.clients):
            with contextlib.suppress(Exception):
                await ws.send(frame)

    async def wait_for(
        self, predicate: Callable[[list[Any]], bool], timeout: float = 10.0, count: int = 1
    ) -> list[list[Any]]:
        """Wait until `count` received messages satisfy predicate; returns them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [m for m in self.received if predicate(m)]
            if len(found) >= count:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"fake relay: expected {count} message(s), got {found}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def wait_clients(self, count: int = 1, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.clients) < count:
            if loop.time() > deadline:
                raise TimeoutError("fake relay: client did not connect")
            await asyncio.sleep(0.01)

    async def drop_clients(self) -> None:
        """Abort every client connection (as a crashed relay would)."""
        for ws in list(self.clients):
            ws.transport.abort()
        self.clients.clear()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


# ---------------------------------------------------------------- fixtures


@pytest.fixture(name="local_relay")
def local_relay_fixture(tmp_path: Path) -> Iterator[LocalTestRelay]:
    relay = LocalTestRelay(directory=tmp_path / "local-relay")
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


@pytest.fixture(name="auth_relay")
def auth_relay_fixture(tmp_path: Path) -> Iterator[LocalTestRelay]:
    """LocalRelay that requires NIP-42 AUTH for every REQ and every EVENT (any pubkey)."""
    relay = LocalTestRelay(nip42_mode="BOTH", directory=tmp_path / "auth-relay")
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


@pytest.fixture(name="python_relay")
def python_relay_fixture(tmp_path: Path) -> Iterator[PythonTestRelay]:
    relay = PythonTestRelay(tmp_path / "nostr-relay")
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


@pytest.fixture(name="any_relay", params=["local", "python"])
def any_relay_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningRelay]:
    """Each test using it runs once against LocalRelay and once against nostr-relay."""
    relay: LocalTestRelay | PythonTestRelay
    if request.param == "local":
        relay = LocalTestRelay(directory=tmp_path / "local-relay")
    else:
        relay = PythonTestRelay(tmp_path / "nostr-relay")
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


# ---------------------------------------------------------------- events for tests


def event_id(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> str:
    """NIP-01 id: sha256 of [0, pubkey, created_at, kind, tags, content], compact JSON."""
    serialized = json.dumps(
        [0, pubkey, created_at, kind, [list(t) for t in tags], content],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(serialized.encode()).hexdigest()


def signed_event(
    secret: coincurve.PrivateKey,
    *,
    kind: int = 1,
    content: str = "",
    tags: Sequence[Sequence[str]] = (),
    created_at: int | None = None,
) -> dict[str, Any]:
    """A valid signed event (coincurve BIP-340), independent of our own event code."""
    pubkey = secret.public_key_xonly.format().hex()
    timestamp = int(time.time()) if created_at is None else created_at
    tag_list = [list(t) for t in tags]
    identifier = event_id(pubkey, timestamp, kind, tag_list, content)
    signature = secret.sign_schnorr(bytes.fromhex(identifier)).hex()
    return {
        "id": identifier,
        "pubkey": pubkey,
        "created_at": timestamp,
        "kind": kind,
        "tags": tag_list,
        "content": content,
        "sig": signature,
    }


def verify_test_event(event: Any) -> bool:
    """Recompute the id and check the BIP-340 signature."""
    try:
        expected = event_id(
            event["pubkey"], event["created_at"], event["kind"], event["tags"], event["content"]
        )
        if expected != event["id"]:
            return False
        key = coincurve.PublicKeyXOnly(bytes.fromhex(event["pubkey"]))
        return bool(key.verify(bytes.fromhex(event["sig"]), bytes.fromhex(event["id"])))
    except (KeyError, TypeError, ValueError):
        return False


def auth_signer_for(
    secret: coincurve.PrivateKey,
) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    """A NIP-42 AUTH signer for RelayPool(auth_signer=...) backed by a plain key."""

    async def sign(template: dict[str, Any]) -> dict[str, Any]:
        return signed_event(
            secret,
            kind=template["kind"],
            content=template["content"],
            tags=template["tags"],
            created_at=template["created_at"],
        )

    return sign
