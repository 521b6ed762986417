"""The bunker's asyncio side: one relay pool, one subscription per relay, worker threads.

One connection per relay, shared by every identity (relay_pool.py); on each relay one
subscription `{"kinds": [24133], "#p": [every remote-signer key]}`, replaced (NIP-01:
same subscription id) when a key is added, here or on another gateway (the store is
re-read every `refresh_seconds`). The relays are the configured ones plus those active
app connections expect replies on (nostrconnect:// URIs name the app's relays).

Each request event is handled by `Dispatcher.handle` in a worker thread (it blocks on
the store and the signers); at most `max_concurrency` at once, beyond which the pool's
bounded queue drops the oldest. Replies are published on the connection's relays and
the relay the request came from; a reply no relay takes is followed by its fallback
error reply, so that a client never waits on silence for a too-large answer.

Relays that require NIP-42 get an AUTH event signed (FROST, audited) by a remote-signer
key: the oldest usable one, since the relay client answers a challenge with one event
(docs/bunker.md, "Relays that require authentication").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from nostr_passport.errors import PassportError
from nostr_passport.nostr import nip46
from nostr_passport.nostr.event import is_valid_event_dict
from nostr_passport.nostr.relay import EventDict, RelayError, RelayUnavailableError
from nostr_passport.nostr.relay_pool import PublishReport, ReceivedEvent, RelayPool
from nostr_passport.service.passport import Passport
from nostr_passport.store.bunker_tables import (
    PendingRequest,
    active_connection_relays,
    claim_decided,
    decided_request_ids,
    expire_requests,
    forget_seen,
    open_secret_relays,
    request_by_id,
)

from .dispatch import Dispatcher, Outgoing
from .keys import RemoteSigner, RemoteSigners
from .settings import BunkerSettings

log = logging.getLogger(__name__)

# Seconds before now a (re)subscription starts from: requests sent while it was being
# replaced are not lost (duplicates are recognised by event id).
SINCE_MARGIN = 30
SYNC_TIMEOUT = 15.0


class BunkerService:
    def __init__(
        self,
        passport: Passport,
        signers: RemoteSigners,
        dispatcher: Dispatcher,
        settings: BunkerSettings,
    ) -> None:
        self.passport = passport
        self.signers = signers
        self.dispatcher = dispatcher
        self.settings = settings
        pool_settings = replace(settings.pool, verify_event=is_valid_event_dict)
        auth_signer = self._sign_auth if settings.relay_auth else None
        self.pool = RelayPool(settings.relays, pool_settings, auth_signer=auth_signer)
        self._executor = ThreadPoolExecutor(
            max_workers=settings.max_concurrency, thread_name_prefix="nip46"
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._subscriptions: dict[str, str] = {}  # relay url -> subscription id
        self._pubkeys: tuple[str, ...] = ()
        self._sync_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._maintainer: asyncio.Task[None] | None = None
        self.handled = 0

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.pool.start()
        try:
            await self.sync()
        except PassportError as exc:
            log.warning("bunker: first sync failed (%s); retrying in the background", exc.code)
        self._maintainer = self._loop.create_task(self._maintain(), name="bunker maintenance")

    async def close(self) -> None:
        if self._maintainer is not None:
            self._maintainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintainer
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.pool.close()
        self._executor.shutdown(wait=True, cancel_futures=True)

    @property
    def subscribed_relays(self) -> tuple[str, ...]:
        return tuple(self._subscriptions)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the bunker runs on (for callers in other threads)."""
        return self._require_loop()

    # ------------------------------------------------------------ thread-safe entry points

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RelayUnavailableError("the bunker is not running")
        return self._loop

    def request_sync(self) -> None:
        """Re-read keys and relays soon (from any thread, without waiting)."""
        loop = self._require_loop()
        loop.call_soon_threadsafe(self._spawn, self.sync())

    def sync_blocking(self) -> None:
        """Re-read keys and relays and wait until subscribed (from a non-loop thread)."""
        loop = self._require_loop()
        asyncio.run_coroutine_threadsafe(self.sync(), loop).result(SYNC_TIMEOUT)

    def submit_decided(self, request_id: str) -> None:
        """Answer a decided approval soon (from any thread)."""
        loop = self._require_loop()
        loop.call_soon_threadsafe(self._spawn, self.answer_decided(request_id))

    def publish_blocking(self, outgoing: Outgoing) -> None:
        """Publish a reply from a non-loop thread; RelayError if no relay took it."""
        loop = self._require_loop()
        future = asyncio.run_coroutine_threadsafe(self._publish_required(outgoing), loop)
        future.result(self.settings.publish_timeout + SYNC_TIMEOUT)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("bunker task failed: %s", getattr(exc, "code", type(exc).__name__))

    # ------------------------------------------------------------ subscriptions

    def _read_state(self) -> tuple[tuple[str, ...], set[str]]:
        pubkeys = tuple(sorted(s.pubkey for s in self.signers.all()))
        with self.passport.store.read() as conn:
            relays = active_connection_relays(conn) | open_secret_relays(conn, self.passport.now())
        return pubkeys, relays

    async def sync(self) -> None:
        """Listen on every relay we should, for every remote-signer key there is."""
        async with self._sync_lock:
            pubkeys, extra = await asyncio.to_thread(self._read_state)
            if not pubkeys:
                return
            filters = [
                {
                    "kinds": [nip46.KIND],
                    "#p": list(pubkeys),
                    "since": self.passport.now() - SINCE_MARGIN,
                }
            ]
            wanted: list[str] = []
            for url in (*self.settings.relays, *sorted(extra)):
                try:
                    wanted.append(await self.pool.add_relay(url))
                except RelayError as exc:
                    log.warning("bunker: relay %s unusable: %s", url[:200], exc.code)
            changed = pubkeys != self._pubkeys
            for url in dict.fromkeys(wanted):
                subscription = self._subscriptions.get(url)
                if subscription is None:
                    subscription = "nip46-" + secrets.token_hex(8)
                    self._subscriptions[url] = subscription
                    await self.pool.subscribe(
                        filters,
                        self._on_event,
                        relays=[url],
                        subscription_id=subscription,
                        on_closed=functools.partial(self._on_closed, subscription),
                    )
                elif changed:
                    await self.pool.update_subscription(subscription, filters)
            self._pubkeys = pubkeys

    def _on_closed(self, subscription: str, relay_url: str, reason: str) -> None:
        """A relay ended our subscription (a refused or failed AUTH, a limit): the next
        sync (every `refresh_seconds`) subscribes anew, and authenticates anew if asked."""
        if self._subscriptions.get(relay_url) != subscription:
            return
        del self._subscriptions[relay_url]
        log.warning("bunker: relay %s closed the subscription; renewing it", relay_url[:200])
        self._spawn(self.pool.unsubscribe(subscription))

    async def wait_subscribed(self, timeout: float) -> frozenset[str]:
        """Relays whose subscription is live (EOSE received), within `timeout`."""
        live: set[str] = set()
        for subscription in list(self._subscriptions.values()):
            live |= await self.pool.wait_eose(subscription, timeout)
        return frozenset(live)

    # ------------------------------------------------------------ NIP-42

    def auth_identity(self) -> RemoteSigner | None:
        """The remote-signer key AUTH events are signed with: the oldest usable one.

        One connection serves every key and the relay client answers a challenge with
        one AUTH event, so the connection is authenticated as one key; the oldest is
        the same on every gateway and across restarts.
        """
        for signer in self.signers.all():  # by creation time
            if self.signers.usable(signer):
                return signer
        return None

    def _auth_event(self, template: EventDict) -> EventDict:
        signer = self.auth_identity()
        if signer is None:
            raise RelayUnavailableError("no remote-signer key to authenticate with")
        return self.signers.sign_auth(signer, template)

    async def _sign_auth(self, template: EventDict) -> EventDict:
        # A threshold signature blocks: off the loop, but not in the request workers'
        # pool, so that a full queue of requests does not starve the AUTH they wait for.
        return await asyncio.to_thread(self._auth_event, template)

    # ------------------------------------------------------------ requests

    async def _on_event(self, item: ReceivedEvent) -> None:
        event = item.event
        if event.get("kind") != nip46.KIND:
            return
        age = self.passport.now() - int(event.get("created_at", 0))
        if abs(age) > self.settings.max_request_age:
            return  # replayed from a relay's storage, or a clock far off: not live
        await self._slots.acquire()
        task = asyncio.get_running_loop().create_task(self._process(item))
        self._tasks.add(task)
        task.add_done_callback(self._request_done)

    def _request_done(self, task: asyncio.Task[Any]) -> None:
        self._slots.release()
        self._finished(task)

    async def _process(self, item: ReceivedEvent) -> None:
        loop = asyncio.get_running_loop()
        try:
            outgoing = await loop.run_in_executor(
                self._executor, self.dispatcher.handle, item.event, item.relay_url
            )
        except PassportError as exc:
            # No reply possible: the key could not be used (signers, store, audit down).
            log.warning("nip46 request %s not answered: %s", item.event["id"], exc.code)
            return
        self.handled += 1
        for out in outgoing:
            await self._publish(out)

    async def _publish(self, out: Outgoing) -> PublishReport | None:
        try:
            report = await self._send(out.event, out.relays)
            if not report.accepted_by and out.fallback is not None:
                log.warning(
                    "nip46 reply %s refused by every relay: error reply sent", report.event_id
                )
                report = await self._send(out.fallback, out.relays)
            if not report.accepted_by:
                log.warning("nip46 reply %s reached no relay", report.event_id)
            return report
        except RelayError as exc:
            log.warning("nip46 reply not published: %s", exc.code)
            return None

    async def _send(self, event: dict[str, Any], relays: tuple[str, ...]) -> PublishReport:
        return await self.pool.publish(
            event,
            relays=relays or None,
            timeout=self.settings.publish_timeout,
            min_accepted=1,
        )

    async def _publish_required(self, out: Outgoing) -> None:
        await self.sync()  # listen on the app's relays before it can answer
        report = await self._publish(out)
        if report is None or not report.accepted_by:
            raise RelayUnavailableError("no relay accepted the connect reply")

    # ------------------------------------------------------------ approvals

    def _claim(self, request_id: str) -> PendingRequest | None:
        def unit(conn: Any) -> PendingRequest | None:
            if not claim_decided(conn, request_id):
                return None
            return request_by_id(conn, request_id)

        return self.passport.store.run_write(unit)

    async def answer_decided(self, request_id: str) -> None:
        loop = asyncio.get_running_loop()
        pending = await loop.run_in_executor(self._executor, self._claim, request_id)
        if pending is None:
            return  # another gateway answers it
        try:
            outgoing = await loop.run_in_executor(self._executor, self.dispatcher.resume, pending)
        except PassportError as exc:
            log.warning("approved request %s not answered: %s", request_id, exc.code)
            return
        for out in outgoing:
            await self._publish(out)

    # ------------------------------------------------------------ upkeep

    def _housekeeping(self) -> list[str]:
        now = self.passport.now()

        def unit(conn: Any) -> list[str]:
            forget_seen(conn, now - 4 * self.settings.max_request_age)
            expire_requests(conn, now)
            return decided_request_ids(conn)

        return self.passport.store.run_write(unit)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_seconds)
            try:
                if await asyncio.to_thread(self.signers.retire_orphans):
                    self._pubkeys = ()  # re-subscribe without the retired keys
                await self.sync()
                for request_id in await asyncio.to_thread(self._housekeeping):
                    await self.answer_decided(request_id)
            except PassportError as exc:
                log.warning("bunker upkeep failed: %s", exc.code)
            except RelayError as exc:
                log.warning("bunker upkeep: relay problem %s", exc.code)
