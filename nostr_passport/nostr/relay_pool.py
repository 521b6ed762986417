"""A pool of relay connections shared by every identity the server serves.

One RelayConnection per relay URL, however many identities and subscriptions use it
(relays limit connections per IP; a bunker with thousands of identities must not open
thousands of sockets). On top of the connections the pool adds what spans relays:

- subscriptions fan out to their relays under one id; every event is checked (shape,
  optional signature verifier, the subscription's own filters), de-duplicated by id
  (across relays and across the overlap replayed after a reconnect) and handed to the
  subscription's handler through a bounded queue;
- publish sends one EVENT to several relays and gathers their OKs with a timeout.

Bounded queues. Each subscription has its own queue (PoolSettings.queue_size) drained
by one task that awaits the handler, one event at a time. When the handler falls behind:

- OverflowPolicy.DROP_OLDEST (default): the oldest queued event is dropped and counted
  (SubscriptionStats.dropped). The connection keeps reading, so one slow identity never
  stalls the others sharing the relay. Right for live NIP-46 traffic, where a stale
  request is worth less than a fresh one.
- OverflowPolicy.BACKPRESSURE: the connection stops reading until there is room, and TCP
  pushes back on the relay. Nothing is dropped, but every subscription on that relay
  waits, and a stall longer than the ping timeout drops the connection (the resubscribe
  then replays what was missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nostr_passport.errors import BadRequestError, ConfigError, NotFoundError
from nostr_passport.nostr.relay import (
    AuthSigner,
    ConnectionState,
    ConnectionStats,
    EventDict,
    Filter,
    PublishStatus,
    RelayConnection,
    RelayMessageTooLargeError,
    RelayPublishResult,
    RelayRejectedError,
    RelaySettings,
    RelayUnavailableError,
    describe_filters,
    encode_message,
    is_event_shaped,
    normalize_relay_url,
)

log = logging.getLogger(__name__)

EventVerifier = Callable[[Mapping[str, Any]], bool]
"""True when an event's id and signature are valid (e.g. nostr.event.verify_event)."""

ClosedCallback = Callable[[str, str], None]
"""Called with (relay_url, reason) when a relay ends a subscription with CLOSED."""

NoticeCallback = Callable[[str, str], None]
"""Called with (relay_url, message) for every NOTICE."""

_MAX_SUBSCRIPTION_ID = 64
_FILTER_LIST_KEYS = ("ids", "authors", "kinds")
_FILTER_INT_KEYS = ("since", "until", "limit")


class OverflowPolicy(Enum):
    DROP_OLDEST = "drop_oldest"
    BACKPRESSURE = "backpressure"


@dataclass(frozen=True)
class PoolSettings:
    relay: RelaySettings = field(default_factory=RelaySettings)
    queue_size: int = 1024
    overflow: OverflowPolicy = OverflowPolicy.DROP_OLDEST
    # Ids remembered per subscription for de-duplication; must exceed the number of
    # events a resubscribe can replay (resubscribe_margin seconds of traffic).
    dedup_capacity: int = 10_000
    # None delivers events whose signature was not checked: only for callers that
    # verify themselves. The bunker passes nostr.event.verify_event.
    verify_event: EventVerifier | None = None

    def __post_init__(self) -> None:
        if self.queue_size <= 0 or self.dedup_capacity <= 0:
            raise ConfigError("pool settings queue_size and dedup_capacity must be positive")


@dataclass(frozen=True)
class ReceivedEvent:
    relay_url: str
    subscription_id: str
    event: EventDict


EventHandler = Callable[[ReceivedEvent], Awaitable[None]]


@dataclass(frozen=True)
class SubscriptionStats:
    delivered: int  # handed to the handler
    duplicates: int  # same id seen before (other relay, or replay after reconnect)
    dropped: int  # lost to DROP_OLDEST
    rejected: int  # bad signature or not matching the subscription's filters
    queued: int
    closed_by: Mapping[str, str]  # relay -> CLOSED reason


@dataclass(frozen=True)
class PublishReport:
    event_id: str
    results: tuple[RelayPublishResult, ...]

    @property
    def accepted_by(self) -> tuple[str, ...]:
        return tuple(r.relay_url for r in self.results if r.accepted)

    def require_accepted(self, minimum: int = 1) -> None:
        """Raise unless at least `minimum` relays accepted the event.

        RelayRejectedError when some relay answered OK false (resending will not help),
        else RelayUnavailableError (timeouts, relays down: retrying later may help).
        """
        if len(self.accepted_by) >= minimum:
            return
        refusals = [r for r in self.results if r.status is PublishStatus.REJECTED]
        if refusals:
            detail = "; ".join(f"{r.relay_url}: {r.message[:120]}" for r in refusals)
            raise RelayRejectedError(f"event {self.event_id} rejected: {detail}")
        detail = "; ".join(f"{r.relay_url}: {r.status.value}" for r in self.results)
        raise RelayUnavailableError(f"event {self.event_id} not accepted: {detail}")


# ---------------------------------------------------------------- helpers


def event_matches_filter(event: Mapping[str, Any], filter_: Mapping[str, Any]) -> bool:
    """NIP-01 filter semantics for the keys a client can check (limit, search: ignored)."""
    for key, value in filter_.items():
        if key == "ids":
            if event["id"] not in value:
                return False
        elif key == "authors":
            if event["pubkey"] not in value:
                return False
        elif key == "kinds":
            if event["kind"] not in value:
                return False
        elif key == "since":
            if event["created_at"] < value:
                return False
        elif key == "until":
            if event["created_at"] > value:
                return False
        elif len(key) == 2 and key[0] == "#":
            wanted = set(value)
            if not any(len(t) > 1 and t[0] == key[1] and t[1] in wanted for t in event["tags"]):
                return False
    return True


def validate_filters(filters: Sequence[Mapping[str, Any]]) -> list[Filter]:
    """Copy and check filters; BadRequestError names the first problem."""
    if isinstance(filters, Mapping) or not filters:
        raise BadRequestError("a subscription needs a non-empty list of filters")
    checked: list[Filter] = []
    for filter_ in filters:
        if not isinstance(filter_, Mapping):
            raise BadRequestError("a filter must be a JSON object")
        for key, value in filter_.items():
            if not isinstance(key, str):
                raise BadRequestError("filter keys must be strings")
            if key in _FILTER_LIST_KEYS or (len(key) == 2 and key[0] == "#"):
                if not isinstance(value, list):
                    raise BadRequestError(f"filter key {key!r} needs a list")
            elif key in _FILTER_INT_KEYS and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise BadRequestError(f"filter key {key!r} needs a non-negative integer")
        try:
            encode_message([dict(filter_)])
        except (TypeError, ValueError) as exc:
            raise BadRequestError("filters must be JSON-serialisable") from exc
        checked.append(dict(filter_))
    return checked


class _SeenIds:
    """Bounded memory of event ids, least recently seen forgotten first."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


class _Signal:
    """Wakes every waiter on each change (an asyncio.Event that never misses one)."""

    def __init__(self) -> None:
        self._future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def fire(self) -> None:
        if not self._future.done():
            self._future.set_result(None)
        self._future = asyncio.get_running_loop().create_future()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._future), timeout)


@dataclass(eq=False)
class _PoolSubscription:
    id: str
    filters: list[Filter]
    relays: tuple[str, ...]
    handler: EventHandler
    on_closed: ClosedCallback | None
    overflow: OverflowPolicy
    queue: asyncio.Queue[ReceivedEvent]
    seen: _SeenIds
    changed: _Signal
    eose: set[str] = field(default_factory=set)
    closed: dict[str, str] = field(default_factory=dict)
    delivered: int = 0
    duplicates: int = 0
    dropped: int = 0
    rejected: int = 0
    consumer: asyncio.Task[None] | None = None


# ---------------------------------------------------------------- the pool


class RelayPool:
    """Shared relay connections with subscriptions and publishing across them.

    Use as `async with RelayPool(urls) as pool:` or call start() and close().
    """

    def __init__(
        self,
        relays: Iterable[str] = (),
        settings: PoolSettings | None = None,
        *,
        auth_signer: AuthSigner | None = None,
        on_notice: NoticeCallback | None = None,
    ) -> None:
        self._settings = settings or PoolSettings()
        self._default_relays = tuple(dict.fromkeys(normalize_relay_url(u) for u in relays))
        self._auth_signer = auth_signer
        self._on_notice = on_notice
        self._connections: dict[str, RelayConnection] = {}
        self._subscriptions: dict[str, _PoolSubscription] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> RelayPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Open the connections to the default relays (returns without waiting for them)."""
        self._require_open()
        for url in self._default_relays:
            self._connection(url)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for subscription in self._subscriptions.values():
            if subscription.consumer is not None:
                subscription.consumer.cancel()
        tasks = [s.consumer for s in self._subscriptions.values() if s.consumer is not None]
        tasks.extend(self._background)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await asyncio.gather(*(c.close() for c in self._connections.values()))
        self._subscriptions.clear()

    @property
    def relays(self) -> tuple[str, ...]:
        """The default relays (normalized URLs)."""
        return self._default_relays

    def connection_states(self) -> dict[str, ConnectionState]:
        return {url: c.state for url, c in self._connections.items()}

    def connection_stats(self, relay_url: str) -> ConnectionStats:
        connection = self._connections.get(normalize_relay_url(relay_url))
        if connection is None:
            raise NotFoundError(f"no connection to {relay_url}")
        return connection.stats()

    async def add_relay(self, url: str) -> str:
        """Open (or reuse) the connection to a relay; returns its normalized URL."""
        self._require_open()
        return self._connection(normalize_relay_url(url)).url

    async def wait_connected(
        self, timeout: float, relays: Iterable[str] | None = None
    ) -> frozenset[str]:
        """Wait until every given relay (default: the default relays) is connected.

        Returns the relays connected when that happens or when timeout seconds pass.
        """
        urls = self._targets(relays)
        connections = [self._connection(u) for u in urls]
        await asyncio.gather(*(c.wait_connected(timeout) for c in connections))
        return frozenset(c.url for c in connections if c.is_connected)

    def _require_open(self) -> None:
        if self._closed:
            raise RelayUnavailableError("relay pool is closed")

    def _targets(self, relays: Iterable[str] | None) -> tuple[str, ...]:
        urls = (
            self._default_relays
            if relays is None
            else tuple(dict.fromkeys(normalize_relay_url(u) for u in relays))
        )
        if not urls:
            raise RelayUnavailableError("no relays configured")
        return urls

    def _connection(self, url: str) -> RelayConnection:
        connection = self._connections.get(url)
        if connection is None:
            connection = RelayConnection(
                url, _Listener(self), self._settings.relay, auth_signer=self._auth_signer
            )
            self._connections[url] = connection
            connection.start()
        return connection

    # ------------------------------------------------------------ subscriptions

    async def subscribe(
        self,
        filters: Sequence[Mapping[str, Any]],
        handler: EventHandler,
        *,
        relays: Iterable[str] | None = None,
        on_closed: ClosedCallback | None = None,
        subscription_id: str | None = None,
        overflow: OverflowPolicy | None = None,
        queue_size: int | None = None,
    ) -> str:
        """Subscribe on every given relay (default: the default relays); returns the id.

        The handler gets each matching event once, in arrival order, from one task.
        The subscription lives until unsubscribe() or close(), across reconnects.
        """
        self._require_open()
        checked = validate_filters(filters)
        urls = self._targets(relays)
        sub_id = subscription_id or secrets.token_hex(8)
        if not 0 < len(sub_id) <= _MAX_SUBSCRIPTION_ID or not sub_id.isprintable():
            raise BadRequestError("subscription id must be 1-64 printable characters")
        if sub_id in self._subscriptions:
            raise BadRequestError(f"subscription {sub_id} already exists")
        size = self._settings.queue_size if queue_size is None else queue_size
        if size <= 0:
            raise BadRequestError("queue_size must be positive")
        subscription = _PoolSubscription(
            id=sub_id,
            filters=checked,
            relays=urls,
            handler=handler,
            on_closed=on_closed,
            overflow=overflow or self._settings.overflow,
            queue=asyncio.Queue(maxsize=size),
            seen=_SeenIds(self._settings.dedup_capacity),
            changed=_Signal(),
        )
        subscription.consumer = asyncio.get_running_loop().create_task(
            self._consume(subscription), name=f"subscription {sub_id}"
        )
        self._subscriptions[sub_id] = subscription
        log.info("subscription %s on %d relay(s): %s", sub_id, len(urls), describe_filters(checked))
        for url in urls:
            await self._connection(url).subscribe(sub_id, checked)
        return sub_id

    async def update_subscription(
        self, subscription_id: str, filters: Sequence[Mapping[str, Any]]
    ) -> None:
        """Replace a subscription's filters (a new REQ under the same id, NIP-01)."""
        subscription = self._subscription(subscription_id)
        checked = validate_filters(filters)
        subscription.filters = checked
        subscription.eose.clear()
        subscription.closed.clear()
        subscription.changed.fire()
        for url in subscription.relays:
            await self._connection(url).subscribe(subscription_id, checked)

    async def unsubscribe(self, subscription_id: str) -> None:
        """End a subscription everywhere; unknown ids are ignored (idempotent)."""
        subscription = self._subscriptions.pop(subscription_id, None)
        if subscription is None:
            return
        if subscription.consumer is not None:
            subscription.consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await subscription.consumer
        for url in subscription.relays:
            connection = self._connections.get(url)
            if connection is not None:
                await connection.unsubscribe(subscription_id)
        subscription.changed.fire()

    async def wait_eose(self, subscription_id: str, timeout: float) -> frozenset[str]:
        """Wait until each relay of the subscription sent EOSE (or CLOSED) since it last
        connected. Returns the relays that sent EOSE, when that happens or at timeout.
        """
        subscription = self._subscription(subscription_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            finished = subscription.eose | subscription.closed.keys()
            remaining = deadline - loop.time()
            if finished >= set(subscription.relays) or remaining <= 0:
                return frozenset(subscription.eose)
            if self._subscriptions.get(subscription_id) is not subscription:
                return frozenset(subscription.eose)
            await subscription.changed.wait(remaining)

    def subscription_stats(self, subscription_id: str) -> SubscriptionStats:
        s = self._subscription(subscription_id)
        return SubscriptionStats(
            delivered=s.delivered,
            duplicates=s.duplicates,
            dropped=s.dropped,
            rejected=s.rejected,
            queued=s.queue.qsize(),
            closed_by=dict(s.closed),
        )

    def _subscription(self, subscription_id: str) -> _PoolSubscription:
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            raise NotFoundError(f"no subscription {subscription_id}")
        return subscription

    async def _consume(self, subscription: _PoolSubscription) -> None:
        while True:
            item = await subscription.queue.get()
            subscription.delivered += 1
            try:
                await subscription.handler(item)
            except Exception:
                log.exception(
                    "subscription %s: handler failed on event %s",
                    subscription.id,
                    item.event["id"],
                )

    async def _deliver(self, relay_url: str, subscription_id: str, event: EventDict) -> None:
        subscription = self._subscriptions.get(subscription_id)
        if subscription is None:
            return
        event_id: str = event["id"]
        if event_id in subscription.seen:
            subscription.duplicates += 1
            return
        # Verify before remembering the id: otherwise a relay could block a genuine
        # event by first sending a forgery under the same id.
        verify = self._settings.verify_event
        if verify is not None and not verify(event):
            subscription.rejected += 1
            log.warning("relay %s: bad id or signature on %s dropped", relay_url, event_id)
            return
        if not any(event_matches_filter(event, f) for f in subscription.filters):
            subscription.rejected += 1
            log.warning("relay %s: %s does not match %s", relay_url, event_id, subscription_id)
            return
        subscription.seen.add(event_id)
        item = ReceivedEvent(relay_url, subscription_id, event)
        if subscription.overflow is OverflowPolicy.BACKPRESSURE:
            await subscription.queue.put(item)
            return
        if subscription.queue.full():
            subscription.queue.get_nowait()
            subscription.dropped += 1
            if subscription.dropped == 1 or subscription.dropped % 1000 == 0:
                log.warning(
                    "subscription %s: handler behind, %d event(s) dropped so far",
                    subscription_id,
                    subscription.dropped,
                )
        subscription.queue.put_nowait(item)

    # ------------------------------------------------------------ publishing

    async def publish(
        self,
        event: Mapping[str, Any],
        *,
        relays: Iterable[str] | None = None,
        timeout: float | None = None,
        min_accepted: int | None = None,
    ) -> PublishReport:
        """Send a signed event to every given relay (default: the default relays).

        Waits for every relay's OK (or its timeout), or only until `min_accepted`
        relays accepted; the others are then reported PENDING and finish in the
        background. Never raises for relay failures: see PublishReport.require_accepted.
        """
        self._require_open()
        if not is_event_shaped(event):
            raise BadRequestError("not a NIP-01 event (fields or types wrong)")
        event_id: str = event["id"]
        limit = self._settings.relay.max_outgoing_bytes
        if len(encode_message(["EVENT", event]).encode()) > limit:
            raise RelayMessageTooLargeError(f"EVENT {event_id} is larger than {limit} bytes")
        urls = self._targets(relays)
        tasks = {
            asyncio.get_running_loop().create_task(
                self._connection(url).publish(event, timeout)
            ): url
            for url in urls
        }
        results: dict[str, RelayPublishResult] = {}
        waiting = set(tasks)
        while waiting:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                results[tasks[task]] = self._task_result(task, tasks[task], event_id)
            accepted = sum(1 for r in results.values() if r.accepted)
            if min_accepted is not None and accepted >= min_accepted:
                break
        for task in waiting:
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            results[tasks[task]] = RelayPublishResult(tasks[task], event_id, PublishStatus.PENDING)
        return PublishReport(event_id, tuple(results[url] for url in urls))

    @staticmethod
    def _task_result(
        task: asyncio.Task[RelayPublishResult], url: str, event_id: str
    ) -> RelayPublishResult:
        exc = task.exception()
        if exc is None:
            return task.result()
        return RelayPublishResult(url, event_id, PublishStatus.UNAVAILABLE, type(exc).__name__)


class _Listener:
    """Adapter from connection callbacks to the pool (keeps them off its public API)."""

    def __init__(self, pool: RelayPool) -> None:
        self._pool = pool

    async def on_event(self, relay_url: str, subscription_id: str, event: EventDict) -> None:
        await self._pool._deliver(relay_url, subscription_id, event)

    def on_eose(self, relay_url: str, subscription_id: str) -> None:
        subscription = self._pool._subscriptions.get(subscription_id)
        if subscription is not None:
            subscription.eose.add(relay_url)
            subscription.changed.fire()

    def on_closed(self, relay_url: str, subscription_id: str, reason: str) -> None:
        subscription = self._pool._subscriptions.get(subscription_id)
        if subscription is None:
            return
        subscription.closed[relay_url] = reason
        subscription.changed.fire()
        if subscription.on_closed is not None:
            try:
                subscription.on_closed(relay_url, reason)
            except Exception:
                log.exception("subscription %s: on_closed callback failed", subscription_id)

    def on_notice(self, relay_url: str, message: str) -> None:
        if self._pool._on_notice is not None:
            try:
                self._pool._on_notice(relay_url, message)
            except Exception:
                log.exception("relay %s: on_notice callback failed", relay_url)

    def on_state(self, relay_url: str, state: ConnectionState) -> None:
        if state is not ConnectionState.CONNECTED:
            return
        # A fresh connection re-sends every REQ: their EOSE is awaited anew.
        for subscription in self._pool._subscriptions.values():
            if relay_url in subscription.eose:
                subscription.eose.discard(relay_url)
                subscription.changed.fire()


__all__ = [
    "ClosedCallback",
    "EventHandler",
    "EventVerifier",
    "NoticeCallback",
    "OverflowPolicy",
    "PoolSettings",
    "PublishReport",
    "ReceivedEvent",
    "RelayPool",
    "SubscriptionStats",
    "event_matches_filter",
    "validate_filters",
]
