"""One WebSocket connection to one Nostr relay, kept open for the life of the process.

Speaks NIP-01 (REQ, EVENT, OK, EOSE, CLOSED, NOTICE, CLOSE) and answers NIP-42 AUTH
challenges with a kind 22242 event signed by a caller-provided async signer. The
connection reconnects forever with capped, jittered exponential backoff, and after each
reconnect re-sends every active subscription with `since` moved up to the last point it
is known to have been complete (minus a margin), and re-sends every EVENT still waiting
for its OK. De-duplication of the replayed overlap is the pool's job (relay_pool.py),
because the same event also arrives from several relays.

Events are plain JSON objects (`dict`) here: this layer moves wire messages and checks
only their shape. Signature verification and filter matching happen in the pool.

Logging names relays, subscription ids, event ids and kinds, never event content, tags,
AUTH challenges or signed AUTH events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from nostr_passport.errors import BadRequestError, ConfigError, PassportError, UnavailableError

log = logging.getLogger(__name__)

# websockets logs every frame, content included, at DEBUG. Our connections log through
# this logger, held at INFO so that turning on DEBUG globally does not write event
# contents or AUTH challenges into the logs. (Setting it to DEBUG explicitly still can.)
frame_log = logging.getLogger(f"{__name__}.websocket")
frame_log.setLevel(logging.INFO)

EventDict = dict[str, Any]
"""A NIP-01 event as a JSON object: id, pubkey, created_at, kind, tags, content, sig."""

Filter = dict[str, Any]
"""A NIP-01 filter as a JSON object."""

AuthSigner = Callable[[EventDict], Awaitable[EventDict]]
"""Signs a NIP-42 template (kind, created_at, tags, content; no pubkey) into a full event."""

AUTH_EVENT_KIND = 22242
# Relays that keep challenging must not make us sign without bound: each AUTH signature
# may cost an HSM round trip.
MAX_AUTH_PER_CONNECTION = 5
# A relay-supplied string (NOTICE, OK reason) is truncated to this length in logs.
LOG_TEXT_LIMIT = 200


# ---------------------------------------------------------------- errors


class RelayError(PassportError):
    """Base of relay client errors."""

    code = "relay_error"


class RelayUnavailableError(RelayError, UnavailableError):
    """No relay could be reached (or none answered in time), or the pool is closed."""

    code = "relay_unavailable"


class RelayRejectedError(RelayError):
    """Every relay that answered refused the event (OK false)."""

    code = "relay_rejected"


class RelayMessageTooLargeError(RelayError, BadRequestError):
    """An outgoing message is larger than the configured limit."""

    code = "relay_message_too_large"


class RelayUrlError(RelayError, ConfigError):
    """A relay URL is not a ws:// or wss:// URL with a host."""

    code = "relay_url_invalid"


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class RelaySettings:
    """Per-connection knobs. Defaults suit a long-running bunker on public relays."""

    connect_timeout: float = 10.0
    publish_timeout: float = 10.0
    backoff_initial: float = 0.5
    backoff_max: float = 60.0
    # Fraction of each backoff delay removed at random, so that the clients of a
    # restarted relay do not all come back in the same millisecond.
    backoff_jitter: float = 0.5
    # A connection that stayed up this long resets the backoff; a relay that accepts and
    # drops us at once keeps backing off instead of being hammered.
    stable_after: float = 10.0
    # WebSocket keepalive: a relay that stops answering pings is treated as gone.
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    close_timeout: float = 2.0
    # Incoming frames larger than this close the connection (code 1009) and reconnect.
    max_incoming_bytes: int = 1024 * 1024
    # Outgoing messages larger than this are refused before sending.
    max_outgoing_bytes: int = 512 * 1024
    # Seconds subtracted from the resume point when resubscribing: covers events whose
    # created_at lags behind the moment the relay forwarded them (author clock skew).
    resubscribe_margin: int = 60
    auth_timeout: float = 10.0
    compression: bool = False
    # Some relays (nostr-sdk's LocalRelay among them) write without TCP_NODELAY: their
    # second small message waits for our delayed ACK (~40 ms on Linux). Asking the
    # kernel for an immediate ACK after each message removes that stall.
    tcp_quickack: bool = True

    def __post_init__(self) -> None:
        positive = {
            "connect_timeout": self.connect_timeout,
            "publish_timeout": self.publish_timeout,
            "backoff_initial": self.backoff_initial,
            "backoff_max": self.backoff_max,
            "close_timeout": self.close_timeout,
            "max_incoming_bytes": self.max_incoming_bytes,
            "max_outgoing_bytes": self.max_outgoing_bytes,
            "auth_timeout": self.auth_timeout,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"relay setting {name} must be positive")
        if self.backoff_max < self.backoff_initial:
            raise ConfigError("relay setting backoff_max must be >= backoff_initial")
        if not 0 <= self.backoff_jitter <= 1:
            raise ConfigError("relay setting backoff_jitter must be within [0, 1]")
        if self.resubscribe_margin < 0 or self.stable_after < 0:
            raise ConfigError("relay settings resubscribe_margin/stable_after must be >= 0")


# ---------------------------------------------------------------- small pure helpers


class Backoff:
    """Capped exponential backoff with jitter.

    Attempt n waits a random time in [(1 - jitter)·d, d] with d = min(cap, initial·2^n).
    """

    def __init__(
        self, initial: float, cap: float, jitter: float, rng: random.Random | None = None
    ) -> None:
        self._initial = initial
        self._cap = cap
        self._jitter = jitter
        self._rng = rng or random.Random()  # jitter, not secrets
        self._attempts = 0

    @property
    def attempts(self) -> int:
        return self._attempts

    def next_delay(self) -> float:
        # min() before the power would overflow after ~1000 attempts otherwise.
        exponent = min(self._attempts, 64)
        ceiling = min(self._cap, self._initial * (2.0**exponent))
        self._attempts += 1
        return ceiling * (1.0 - self._jitter * self._rng.random())

    def reset(self) -> None:
        self._attempts = 0


def normalize_relay_url(url: str) -> str:
    """Canonical form used as the pool's key: lowercase scheme and host, no bare '/'.

    Raises RelayUrlError for anything but ws:// or wss:// with a host.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # parses, and raises ValueError on a bad port
    except ValueError as exc:
        raise RelayUrlError(f"invalid relay URL: {url!r}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise RelayUrlError(f"relay URL must be ws:// or wss:// with a host: {url!r}")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise RelayUrlError(f"relay URL must not carry credentials or a fragment: {url!r}")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    path = "" if parts.path == "/" else parts.path
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def resume_filters(filters: Sequence[Filter], resume_at: int | None, margin: int) -> list[Filter]:
    """The filters to send when resubscribing: `since` raised to resume_at - margin.

    resume_at None means the subscription was never known complete (no EOSE yet):
    the original filters are sent again unchanged.
    """
    if resume_at is None:
        return [dict(f) for f in filters]
    since = max(0, resume_at - margin)
    resumed: list[Filter] = []
    for original in filters:
        current = dict(original)
        previous = current.get("since")
        if not isinstance(previous, int) or previous < since:
            current["since"] = since
        resumed.append(current)
    return resumed


_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


def is_event_shaped(value: object) -> bool:
    """True when value has the NIP-01 fields with the right JSON types (no crypto check)."""
    if not isinstance(value, dict):
        return False
    event_id, pubkey, sig = value.get("id"), value.get("pubkey"), value.get("sig")
    created_at, kind = value.get("created_at"), value.get("kind")
    tags, content = value.get("tags"), value.get("content")
    return (
        isinstance(event_id, str)
        and _HEX64.fullmatch(event_id) is not None
        and isinstance(pubkey, str)
        and _HEX64.fullmatch(pubkey) is not None
        and isinstance(sig, str)
        and _HEX128.fullmatch(sig) is not None
        and isinstance(created_at, int)
        and not isinstance(created_at, bool)
        and created_at >= 0
        and isinstance(kind, int)
        and not isinstance(kind, bool)
        and 0 <= kind <= 65535
        and isinstance(content, str)
        and isinstance(tags, list)
        and all(isinstance(t, list) and all(isinstance(x, str) for x in t) for t in tags)
    )


def encode_message(message: Sequence[Any]) -> str:
    """Compact JSON, UTF-8 kept as is (NIP-01 relays expect it)."""
    return json.dumps(list(message), separators=(",", ":"), ensure_ascii=False)


def _short(text: object) -> str:
    """A relay-supplied string made safe for one log line."""
    rendered = repr(text)
    if len(rendered) > LOG_TEXT_LIMIT:
        return rendered[:LOG_TEXT_LIMIT] + "..."
    return rendered


# ---------------------------------------------------------------- results and events


class ConnectionState(Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKING_OFF = "backing_off"
    CLOSED = "closed"


class PublishStatus(Enum):
    ACCEPTED = "accepted"  # OK true, or OK false with "duplicate:" (the relay has it)
    REJECTED = "rejected"  # OK false with any other reason
    TIMEOUT = "timeout"  # sent, no OK before the deadline
    UNAVAILABLE = "unavailable"  # never connected before the deadline, or closed
    PENDING = "pending"  # still waiting when the pool stopped waiting (min_accepted)


@dataclass(frozen=True)
class RelayPublishResult:
    relay_url: str
    event_id: str
    status: PublishStatus
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.status is PublishStatus.ACCEPTED


@dataclass(frozen=True)
class ConnectionStats:
    state: ConnectionState
    connects: int
    messages_received: int
    protocol_errors: int
    malformed_events: int
    notices: int
    oversized_frames: int


class RelayListener(Protocol):
    """What a connection reports to its owner (the pool). Only on_event may wait."""

    async def on_event(self, relay_url: str, subscription_id: str, event: EventDict) -> None: ...

    def on_eose(self, relay_url: str, subscription_id: str) -> None: ...

    def on_closed(self, relay_url: str, subscription_id: str, reason: str) -> None: ...

    def on_notice(self, relay_url: str, message: str) -> None: ...

    def on_state(self, relay_url: str, state: ConnectionState) -> None: ...


@dataclass
class _Subscription:
    filters: list[Filter]
    # Resume point: max(time of the last EOSE, created_at of live events seen since),
    # None until the first EOSE. Survives reconnects; that is its purpose.
    resume_at: int | None = None
    complete_in_generation: int = 0
    awaiting_auth: bool = False


@dataclass
class _PendingPublish:
    event_id: str
    frame: str
    future: asyncio.Future[RelayPublishResult]
    waiters: int = 0
    sent_in_generation: int = 0
    awaiting_auth: bool = False
    auth_retries: int = 0


@dataclass
class _Counters:
    connects: int = 0
    messages_received: int = 0
    protocol_errors: int = 0
    malformed_events: int = 0
    notices: int = 0
    oversized_frames: int = 0


@dataclass
class _AuthState:
    event_id: str | None = None
    authenticated: bool = False
    in_flight: bool = False
    attempts: int = 0
    # The relay's latest challenge (NIP-42: valid for the connection or until the next):
    # an auth-required refusal is answered with it when no AUTH is under way, since
    # many relays challenge once, on connect, and never again.
    challenge: str | None = None


# ---------------------------------------------------------------- the connection


class RelayConnection:
    """A single, self-healing connection to one relay. Owned by a RelayPool.

    Start with `start()`, stop with `close()`. All methods must be called from the event
    loop that called `start()`.
    """

    def __init__(
        self,
        url: str,
        listener: RelayListener,
        settings: RelaySettings | None = None,
        *,
        auth_signer: AuthSigner | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.url = normalize_relay_url(url)
        self._listener = listener
        self._settings = settings or RelaySettings()
        self._signer = auth_signer
        self._backoff = Backoff(
            self._settings.backoff_initial,
            self._settings.backoff_max,
            self._settings.backoff_jitter,
            rng,
        )
        self._state = ConnectionState.IDLE
        self._ws: ClientConnection | None = None
        self._generation = 0
        self._connected = asyncio.Event()
        self._subscriptions: dict[str, _Subscription] = {}
        self._pending: dict[str, _PendingPublish] = {}
        # Event ids sent in this generation and not yet answered, in send order: relays
        # answer EVENTs in order, and nostr-relay answers a rejected EVENT with an empty
        # id, so such an OK belongs to the oldest unanswered one.
        self._unanswered: deque[str] = deque()
        self._auth = _AuthState()
        self._counters = _Counters()
        self._runner: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------ lifecycle

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def is_closed(self) -> bool:
        return self._state is ConnectionState.CLOSED

    @property
    def is_connected(self) -> bool:
        return self._state is ConnectionState.CONNECTED

    def stats(self) -> ConnectionStats:
        c = self._counters
        return ConnectionStats(
            state=self._state,
            connects=c.connects,
            messages_received=c.messages_received,
            protocol_errors=c.protocol_errors,
            malformed_events=c.malformed_events,
            notices=c.notices,
            oversized_frames=c.oversized_frames,
        )

    def start(self) -> None:
        if self._state is ConnectionState.CLOSED:
            raise RelayUnavailableError(f"connection to {self.url} is closed")
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name=f"relay {self.url}"
            )

    async def wait_connected(self, timeout: float) -> bool:
        """True once connected; False if not connected within timeout seconds."""
        if self.is_connected:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self.is_connected

    async def close(self) -> None:
        if self._state is ConnectionState.CLOSED:
            return
        self._set_state(ConnectionState.CLOSED)
        tasks = [t for t in (self._runner, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        self._connected.clear()
        for pending in self._pending.values():
            self._resolve(pending, PublishStatus.UNAVAILABLE, "connection closed")

    # ------------------------------------------------------------ subscriptions

    async def subscribe(self, subscription_id: str, filters: Sequence[Filter]) -> None:
        """Start (or replace) a subscription; it is re-sent after every reconnect."""
        subscription = _Subscription(filters=[dict(f) for f in filters])
        self._subscriptions[subscription_id] = subscription
        if self.is_connected:
            await self._send_req(subscription_id, subscription)

    async def unsubscribe(self, subscription_id: str) -> None:
        if self._subscriptions.pop(subscription_id, None) is not None and self.is_connected:
            await self._send(encode_message(["CLOSE", subscription_id]))

    def has_subscription(self, subscription_id: str) -> bool:
        return subscription_id in self._subscriptions

    async def _send_req(self, subscription_id: str, subscription: _Subscription) -> None:
        filters = resume_filters(
            subscription.filters, subscription.resume_at, self._settings.resubscribe_margin
        )
        await self._send(encode_message(["REQ", subscription_id, *filters]))

    # ------------------------------------------------------------ publishing

    async def publish(
        self, event: Mapping[str, Any], timeout: float | None = None
    ) -> RelayPublishResult:
        """Send an EVENT and wait for its OK; waits for a connection within the timeout.

        An EVENT still unanswered when the connection drops is re-sent after the
        reconnect (the id makes this idempotent), as long as the deadline allows.
        """
        if self._state is ConnectionState.CLOSED:
            raise RelayUnavailableError(f"connection to {self.url} is closed")
        if not is_event_shaped(event):
            raise BadRequestError("not a NIP-01 event (fields or types wrong)")
        event_id = str(event["id"])
        frame = encode_message(["EVENT", event])
        if len(frame.encode()) > self._settings.max_outgoing_bytes:
            raise RelayMessageTooLargeError(
                f"EVENT {event_id} is larger than {self._settings.max_outgoing_bytes} bytes"
            )
        deadline = self._settings.publish_timeout if timeout is None else timeout
        pending = self._pending.get(event_id)
        if pending is None:
            future: asyncio.Future[RelayPublishResult] = asyncio.get_running_loop().create_future()
            pending = _PendingPublish(event_id=event_id, frame=frame, future=future)
            self._pending[event_id] = pending
            if self.is_connected:
                await self._send_event(pending)
        pending.waiters += 1
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), deadline)
        except TimeoutError:
            if pending.sent_in_generation:
                return RelayPublishResult(
                    self.url, event_id, PublishStatus.TIMEOUT, f"no OK within {deadline:g}s"
                )
            return RelayPublishResult(
                self.url, event_id, PublishStatus.UNAVAILABLE, "not connected"
            )
        finally:
            pending.waiters -= 1
            if pending.waiters == 0 and self._pending.get(event_id) is pending:
                del self._pending[event_id]
                with contextlib.suppress(ValueError):
                    self._unanswered.remove(event_id)

    async def _send_event(self, pending: _PendingPublish) -> None:
        pending.sent_in_generation = self._generation
        pending.awaiting_auth = False
        self._unanswered.append(pending.event_id)
        await self._send(pending.frame)

    def _resolve(self, pending: _PendingPublish, status: PublishStatus, message: str) -> None:
        if not pending.future.done():
            pending.future.set_result(
                RelayPublishResult(self.url, pending.event_id, status, message)
            )

    # ------------------------------------------------------------ connect loop

    def _set_state(self, state: ConnectionState) -> None:
        if self._state is state:
            return
        self._state = state
        try:
            self._listener.on_state(self.url, state)
        except Exception:
            log.exception("relay %s: listener failed on state change", self.url)

    async def _run(self) -> None:
        while not self.is_closed:
            self._set_state(ConnectionState.CONNECTING)
            try:
                ws = await connect(
                    self.url,
                    open_timeout=self._settings.connect_timeout,
                    ping_interval=self._settings.ping_interval,
                    ping_timeout=self._settings.ping_timeout,
                    close_timeout=self._settings.close_timeout,
                    max_size=self._settings.max_incoming_bytes,
                    compression="deflate" if self._settings.compression else None,
                    logger=frame_log,
                    # Never pick up a proxy from the environment: relay traffic goes
                    # where it is configured to go.
                    proxy=None,
                )
            except (OSError, TimeoutError, WebSocketException) as exc:
                delay = self._backoff.next_delay()
                log.info(
                    "relay %s: connect failed (%s); retry in %.2fs",
                    self.url,
                    type(exc).__name__,
                    delay,
                )
                self._set_state(ConnectionState.BACKING_OFF)
                await asyncio.sleep(delay)
                continue
            opened_at = time.monotonic()
            reason = await self._serve(ws)
            if time.monotonic() - opened_at >= self._settings.stable_after:
                self._backoff.reset()
            if self.is_closed:
                return
            delay = self._backoff.next_delay()
            log.warning(
                "relay %s: connection lost (%s); reconnect in %.2fs", self.url, reason, delay
            )
            self._set_state(ConnectionState.BACKING_OFF)
            await asyncio.sleep(delay)

    async def _serve(self, ws: ClientConnection) -> str:
        """Run one connection until it ends; returns why it ended."""
        self._generation += 1
        generation = self._generation
        self._ws = ws
        self._auth = _AuthState()
        self._unanswered.clear()
        self._counters.connects += 1
        self._set_state(ConnectionState.CONNECTED)
        self._connected.set()
        log.info("relay %s: connected (generation %d)", self.url, generation)
        try:
            for subscription_id, subscription in list(self._subscriptions.items()):
                subscription.awaiting_auth = False
                await self._send_req(subscription_id, subscription)
            for pending in list(self._pending.values()):
                if not pending.future.done():
                    await self._send_event(pending)
            async for raw in ws:
                self._ack_now(ws)
                await self._handle_frame(raw, generation)
            return "closed by relay"
        except ConnectionClosed as exc:
            if exc.rcvd is None and exc.sent is not None and exc.sent.code == 1009:
                self._counters.oversized_frames += 1
                return f"relay sent a message over {self._settings.max_incoming_bytes} bytes"
            return f"{type(exc).__name__}: code {exc.rcvd.code if exc.rcvd else 'none'}"
        except Exception:
            # Never let a bug end the connect loop: log it and reconnect.
            log.exception("relay %s: connection failed unexpectedly", self.url)
            return "internal error"
        finally:
            self._ws = None
            self._connected.clear()
            # Also when cancelled by close(): a socket left open here would leak in
            # CLOSE-WAIT (and keeps e.g. LocalRelay from finishing its shutdown).
            with contextlib.suppress(Exception):
                await ws.close()

    def _ack_now(self, ws: ClientConnection) -> None:
        if not self._settings.tcp_quickack or not hasattr(socket, "TCP_QUICKACK"):
            return
        sock = ws.transport.get_extra_info("socket") if ws.transport else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    async def _send(self, frame: str) -> bool:
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(frame)
        except ConnectionClosed:
            return False
        return True

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def runner() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(runner())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------ incoming messages

    async def _handle_frame(self, raw: str | bytes, generation: int) -> None:
        self._counters.messages_received += 1
        try:
            text = raw.decode() if isinstance(raw, bytes) else raw
            message = json.loads(text)
        except (UnicodeDecodeError, ValueError, RecursionError):
            self._protocol_error("undecodable frame")
            return
        if not isinstance(message, list) or not message or not isinstance(message[0], str):
            self._protocol_error("frame is not a JSON array starting with a string")
            return
        try:
            await self._dispatch(message, generation)
        except Exception:
            # A bug in a handler must not take the connection down with it.
            log.exception("relay %s: failed to handle a %s message", self.url, message[0][:16])

    def _protocol_error(self, what: str) -> None:
        self._counters.protocol_errors += 1
        log.info("relay %s: protocol error: %s", self.url, what)

    async def _dispatch(self, message: list[Any], generation: int) -> None:
        kind = message[0]
        if kind == "EVENT":
            await self._on_event(message, generation)
        elif kind == "OK":
            self._on_ok(message)
        elif kind == "EOSE":
            self._on_eose(message, generation)
        elif kind == "CLOSED":
            self._on_closed(message)
        elif kind == "NOTICE":
            self._on_notice(message)
        elif kind == "AUTH":
            self._on_auth(message, generation)
        else:
            log.debug("relay %s: ignoring %s message", self.url, _short(kind))

    async def _on_event(self, message: list[Any], generation: int) -> None:
        if len(message) < 3 or not isinstance(message[1], str):
            self._protocol_error("EVENT without subscription id and event")
            return
        subscription_id, event = message[1], message[2]
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            return  # late events of a closed subscription
        if not is_event_shaped(event):
            self._counters.malformed_events += 1
            log.info("relay %s: malformed event on %s dropped", self.url, subscription_id)
            return
        if subscription.complete_in_generation == generation:
            # A live event: it moves the resume point, capped at our clock so that an
            # event dated in the future cannot make us skip what comes before it.
            seen = min(event["created_at"], int(time.time()))
            if subscription.resume_at is None or seen > subscription.resume_at:
                subscription.resume_at = seen
        await self._listener.on_event(self.url, subscription_id, event)

    def _on_eose(self, message: list[Any], generation: int) -> None:
        if len(message) < 2 or not isinstance(message[1], str):
            self._protocol_error("EOSE without subscription id")
            return
        subscription = self._subscriptions.get(message[1])
        if subscription is None:
            return
        subscription.complete_in_generation = generation
        now = int(time.time())
        if subscription.resume_at is None or now > subscription.resume_at:
            subscription.resume_at = now
        self._listener.on_eose(self.url, message[1])

    def _on_closed(self, message: list[Any]) -> None:
        if len(message) < 2 or not isinstance(message[1], str):
            self._protocol_error("CLOSED without subscription id")
            return
        subscription_id = message[1]
        reason = message[2] if len(message) > 2 and isinstance(message[2], str) else ""
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            return
        if reason.startswith("auth-required:") and self._can_authenticate():
            # Re-sent once AUTH is accepted (see _on_auth_ok).
            subscription.awaiting_auth = True
            log.info("relay %s: %s needs AUTH", self.url, subscription_id)
            if not self._auth.authenticated:
                self._start_auth(self._generation)
            return
        # Any other refusal is final for this relay: re-sending it after every reconnect
        # would only annoy the relay. The owner is told and may subscribe again.
        del self._subscriptions[subscription_id]
        log.warning("relay %s: closed %s: %s", self.url, subscription_id, _short(reason))
        self._listener.on_closed(self.url, subscription_id, reason)

    def _on_notice(self, message: list[Any]) -> None:
        text = message[1] if len(message) > 1 and isinstance(message[1], str) else ""
        self._counters.notices += 1
        log.warning("relay %s: NOTICE %s", self.url, _short(text))
        self._listener.on_notice(self.url, text)

    def _on_ok(self, message: list[Any]) -> None:
        if len(message) < 3 or not isinstance(message[2], bool):
            self._protocol_error("OK without event id and boolean")
            return
        event_id = message[1] if isinstance(message[1], str) else ""
        accepted: bool = message[2]
        reason = message[3] if len(message) > 3 and isinstance(message[3], str) else ""
        if event_id and event_id == self._auth.event_id:
            self._on_auth_ok(accepted, reason)
            return
        pending = self._pending.get(event_id)
        if pending is not None:
            with contextlib.suppress(ValueError):
                self._unanswered.remove(event_id)
        elif not accepted and self._unanswered:
            pending = self._pending.get(self._unanswered.popleft())
        if pending is None:
            log.debug("relay %s: OK for unknown event %s", self.url, _short(event_id))
            return
        if not accepted and reason.startswith("auth-required:") and self._can_authenticate():
            if pending.auth_retries < 2:
                pending.auth_retries += 1
                pending.awaiting_auth = True
                if self._auth.authenticated:
                    self._spawn(self._send_event(pending))
                else:
                    self._start_auth(self._generation)
                return
        if accepted or reason.startswith("duplicate:"):
            self._resolve(pending, PublishStatus.ACCEPTED, reason)
        else:
            log.info("relay %s: rejected %s: %s", self.url, pending.event_id, _short(reason))
            self._resolve(pending, PublishStatus.REJECTED, reason)

    # ------------------------------------------------------------ NIP-42

    def _can_authenticate(self) -> bool:
        return self._signer is not None

    def _on_auth(self, message: list[Any], generation: int) -> None:
        challenge = message[1] if len(message) > 1 else None
        if not isinstance(challenge, str) or not challenge or len(challenge) > 1024:
            self._protocol_error("AUTH without a usable challenge")
            return
        self._auth.challenge = challenge
        if self._signer is None:
            log.info("relay %s: AUTH requested but no signer configured", self.url)
            return
        self._start_auth(generation)

    def _start_auth(self, generation: int) -> None:
        """Answer the stored challenge, unless an AUTH is under way or the bound is hit."""
        challenge = self._auth.challenge
        if self._signer is None or challenge is None or self._auth.in_flight:
            return
        if self._auth.attempts >= MAX_AUTH_PER_CONNECTION:
            log.warning("relay %s: too many AUTH challenges; ignoring", self.url)
            return
        self._auth.in_flight = True
        self._auth.attempts += 1
        self._spawn(self._authenticate(self._signer, challenge, generation))

    async def _authenticate(self, signer: AuthSigner, challenge: str, generation: int) -> None:
        template: EventDict = {
            "kind": AUTH_EVENT_KIND,
            "created_at": int(time.time()),
            "tags": [["relay", self.url], ["challenge", challenge]],
            "content": "",
        }
        try:
            signed = await asyncio.wait_for(signer(template), self._settings.auth_timeout)
        except Exception as exc:
            self._auth.in_flight = False
            log.warning("relay %s: AUTH signer failed (%s)", self.url, type(exc).__name__)
            self._on_auth_ok(False, "error: AUTH signer failed")
            return
        if generation != self._generation:
            return  # the connection this challenge came from is gone
        if not is_event_shaped(signed) or signed.get("kind") != AUTH_EVENT_KIND:
            self._auth.in_flight = False
            log.warning("relay %s: AUTH signer returned a malformed event", self.url)
            self._on_auth_ok(False, "error: AUTH signer returned a malformed event")
            return
        self._auth.event_id = signed["id"]
        await self._send(encode_message(["AUTH", signed]))
        log.info("relay %s: AUTH sent as %s", self.url, signed["pubkey"])

    def _on_auth_ok(self, accepted: bool, reason: str) -> None:
        self._auth.in_flight = False
        if accepted:
            self._auth.authenticated = True
            log.info("relay %s: AUTH accepted", self.url)
            for subscription_id, subscription in list(self._subscriptions.items()):
                if subscription.awaiting_auth:
                    subscription.awaiting_auth = False
                    self._spawn(self._send_req(subscription_id, subscription))
            for pending in list(self._pending.values()):
                if pending.awaiting_auth and not pending.future.done():
                    self._spawn(self._send_event(pending))
            return
        log.warning("relay %s: AUTH refused: %s", self.url, _short(reason))
        for subscription_id, subscription in list(self._subscriptions.items()):
            if subscription.awaiting_auth:
                del self._subscriptions[subscription_id]
                self._listener.on_closed(self.url, subscription_id, f"auth-required: {reason}")
        for pending in list(self._pending.values()):
            if pending.awaiting_auth:
                self._resolve(pending, PublishStatus.REJECTED, f"auth-required: {reason}")


def describe_filters(filters: Sequence[Filter]) -> str:
    """A log-safe summary of filters: which keys, how many values; no values."""
    parts = []
    for f in filters:
        keys = ",".join(
            f"{k}[{len(v)}]" if isinstance(v, list) else k for k, v in sorted(f.items())
        )
        parts.append("{" + keys + "}")
    return " ".join(parts)


__all__ = [
    "AUTH_EVENT_KIND",
    "AuthSigner",
    "Backoff",
    "ConnectionState",
    "ConnectionStats",
    "EventDict",
    "Filter",
    "PublishStatus",
    "RelayConnection",
    "RelayError",
    "RelayListener",
    "RelayMessageTooLargeError",
    "RelayPublishResult",
    "RelayRejectedError",
    "RelaySettings",
    "RelayUnavailableError",
    "RelayUrlError",
    "describe_filters",
    "encode_message",
    "is_event_shaped",
    "normalize_relay_url",
    "resume_filters",
]
