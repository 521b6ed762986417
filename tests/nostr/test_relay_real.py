"""The relay client against real relays: nostr-sdk's LocalRelay and PyPI nostr-relay.

Tests taking `any_relay` run once per relay implementation; the others exercise what
only one of them can do (NIP-42 on LocalRelay; NOTICE, persistence and freezing the
process on nostr-relay).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import coincurve
import pytest

from nostr_passport.nostr.relay import ConnectionState, PublishStatus, RelaySettings
from nostr_passport.nostr.relay_pool import PoolSettings, RelayPool
from tests.relays import (  # noqa: F401 - the *_fixture names are pytest fixtures
    Collector,
    LocalTestRelay,
    PythonTestRelay,
    RunningRelay,
    TcpProxy,
    any_relay_fixture,
    auth_signer_for,
    eventually,
    local_relay_fixture,
    python_relay_fixture,
    run_async,
    signed_event,
    verify_test_event,
)

pytestmark = pytest.mark.timeout(120)

FAST = RelaySettings(
    backoff_initial=0.05, backoff_max=0.5, publish_timeout=15.0, connect_timeout=5.0
)


def pool_settings(**relay_changes: Any) -> PoolSettings:
    return PoolSettings(relay=replace(FAST, **relay_changes), verify_event=verify_test_event)


def new_key() -> tuple[coincurve.PrivateKey, str]:
    key = coincurve.PrivateKey()
    return key, key.public_key_xonly.format().hex()


# ---------------------------------------------------------------- both relays


def test_publish_subscribe_stored_and_live(any_relay: RunningRelay) -> None:
    key, pubkey = new_key()
    stored = signed_event(key, content="stored before the REQ")
    live = signed_event(key, content="published after EOSE", tags=[["p", pubkey]])

    async def main() -> None:
        handler = Collector()
        async with RelayPool([any_relay.url], pool_settings()) as pool:
            first = await pool.publish(stored)
            assert first.results[0].status is PublishStatus.ACCEPTED
            sub_id = await pool.subscribe([{"authors": [pubkey]}], handler)
            assert await pool.wait_eose(sub_id, 15) == {any_relay.url}
            await handler.wait_event(stored["id"])
            (await pool.publish(live)).require_accepted()
            received = await handler.wait_event(live["id"])
            assert received.event == live
            assert received.relay_url == any_relay.url
            assert received.subscription_id == sub_id
            again = await pool.publish(live)  # a relay that already has it says so
            assert again.results[0].status is PublishStatus.ACCEPTED
            assert handler.event_ids == [stored["id"], live["id"]]

    run_async(main())


def test_bad_signature_is_rejected_with_the_relays_reason(any_relay: RunningRelay) -> None:
    key, _ = new_key()
    event = signed_event(key, content="tampered")
    event["sig"] = signed_event(key, content="other")["sig"]

    async def main() -> None:
        async with RelayPool([any_relay.url], pool_settings()) as pool:
            report = await pool.publish(event)
            (result,) = report.results
            assert result.status is PublishStatus.REJECTED
            assert result.message  # the relay's own words, e.g. "invalid: ..."
            assert result.event_id == event["id"]

    run_async(main())


def test_fifty_concurrent_publishes_all_get_ok_and_arrive(any_relay: RunningRelay) -> None:
    key, pubkey = new_key()
    events = [signed_event(key, content=f"n{i}") for i in range(50)]

    async def main() -> None:
        handler = Collector()
        async with (
            RelayPool([any_relay.url], pool_settings()) as subscriber,
            RelayPool([any_relay.url], pool_settings()) as publisher,
        ):
            sub_id = await subscriber.subscribe([{"authors": [pubkey]}], handler)
            await subscriber.wait_eose(sub_id, 15)
            reports = await asyncio.gather(*(publisher.publish(e) for e in events))
            assert [r.results[0].status for r in reports] == [PublishStatus.ACCEPTED] * 50
            await handler.wait_count(50, timeout=30)
            assert sorted(handler.event_ids) == sorted(e["id"] for e in events)

    run_async(main(), timeout=90)


def test_relay_restart_reconnects_resubscribes_and_delivers(any_relay: RunningRelay) -> None:
    key, pubkey = new_key()
    before = signed_event(key, content="before restart")
    after = signed_event(key, content="after restart")

    async def main() -> None:
        handler = Collector()
        async with RelayPool([any_relay.url], pool_settings()) as pool:
            sub_id = await pool.subscribe([{"authors": [pubkey]}], handler)
            await pool.wait_eose(sub_id, 15)
            (await pool.publish(before)).require_accepted()
            await handler.wait_event(before["id"])
            await any_relay.arestart()
            url = any_relay.url
            await eventually(lambda: pool.connection_stats(url).connects == 2, 30, "reconnect")
            assert await pool.wait_eose(sub_id, 15) == {url}
            (await pool.publish(after)).require_accepted()
            await handler.wait_event(after["id"])
            # nostr-relay keeps `before` across the restart and replays it inside the
            # resubscribe margin: de-duplicated, not delivered twice.
            assert handler.event_ids == [before["id"], after["id"]]

    run_async(main(), timeout=90)


def test_events_published_while_cut_off_arrive_after_reconnect(any_relay: RunningRelay) -> None:
    key, pubkey = new_key()
    seen_before = signed_event(key, content="seen live")
    missed = signed_event(key, content="published while we were away")

    async def main() -> None:
        proxy = TcpProxy(any_relay.port)
        await proxy.start()
        handler = Collector()
        async with (
            RelayPool([proxy.url], pool_settings()) as subscriber,
            RelayPool([any_relay.url], pool_settings()) as publisher,
        ):
            sub_id = await subscriber.subscribe([{"authors": [pubkey]}], handler)
            await subscriber.wait_eose(sub_id, 15)
            (await publisher.publish(seen_before)).require_accepted()
            await handler.wait_event(seen_before["id"])
            await proxy.cut()
            await eventually(
                lambda: subscriber.connection_states()[proxy.url] is not ConnectionState.CONNECTED
            )
            (await publisher.publish(missed)).require_accepted()
            await proxy.restore()
            await handler.wait_event(missed["id"], timeout=30)
            await subscriber.wait_eose(sub_id, 15)  # the replay is complete
            assert handler.event_ids == [seen_before["id"], missed["id"]]
            assert subscriber.subscription_stats(sub_id).duplicates == 1
        await proxy.close()

    run_async(main(), timeout=90)


def test_incoming_frame_limit_drops_and_recovers(any_relay: RunningRelay) -> None:
    key, pubkey = new_key()
    # Dated before the subscription's EOSE, and the resubscribe margin is 0: a relay that
    # stores it (nostr-relay stores even ephemeral kinds) does not replay it after the
    # reconnect, so the oversized frame is seen exactly once.
    big = signed_event(key, kind=20001, content="x" * 20_000, created_at=int(time.time()) - 30)

    async def main() -> None:
        handler = Collector()
        small_frames = pool_settings(max_incoming_bytes=8192, resubscribe_margin=0)
        async with (
            RelayPool([any_relay.url], small_frames) as subscriber,
            RelayPool([any_relay.url], pool_settings()) as publisher,
        ):
            sub_id = await subscriber.subscribe([{"authors": [pubkey]}], handler)
            await subscriber.wait_eose(sub_id, 15)
            (await publisher.publish(big)).require_accepted()
            url = any_relay.url
            await eventually(lambda: subscriber.connection_stats(url).oversized_frames == 1, 30)
            await eventually(lambda: subscriber.connection_stats(url).connects == 2, 30)
            await subscriber.wait_eose(sub_id, 15)
            small = signed_event(key, kind=20001, content="small")
            (await publisher.publish(small)).require_accepted()
            await handler.wait_event(small["id"], timeout=30)
            assert handler.event_ids == [small["id"]]
            assert subscriber.connection_stats(url).oversized_frames == 1

    run_async(main(), timeout=90)


# ---------------------------------------------------------------- LocalRelay only


def test_local_relay_nip42_auth_with_signer() -> None:
    relay = LocalTestRelay(nip42_mode="BOTH")
    relay.start()
    key, pubkey = new_key()
    event = signed_event(key, content="needs auth")

    async def main() -> None:
        handler = Collector()
        signer = auth_signer_for(coincurve.PrivateKey())
        async with RelayPool([relay.url], pool_settings(), auth_signer=signer) as pool:
            sub_id = await pool.subscribe([{"authors": [pubkey]}], handler)
            (await pool.publish(event)).require_accepted()
            assert await pool.wait_eose(sub_id, 15) == {relay.url}
            await handler.wait_event(event["id"])

    try:
        run_async(main())
    finally:
        relay.stop()


def test_local_relay_nip42_without_signer_is_refused() -> None:
    relay = LocalTestRelay(nip42_mode="BOTH")
    relay.start()
    key, pubkey = new_key()

    async def main() -> None:
        closed: list[str] = []
        async with RelayPool([relay.url], pool_settings()) as pool:
            await pool.subscribe(
                [{"authors": [pubkey]}], Collector(), on_closed=lambda u, r: closed.append(r)
            )
            report = await pool.publish(signed_event(key))
            assert report.results[0].status is PublishStatus.REJECTED
            assert report.results[0].message.startswith("auth-required:")
            await eventually(lambda: bool(closed))
            assert closed[0].startswith("auth-required:")

    try:
        run_async(main())
    finally:
        relay.stop()


def test_local_relay_closed_on_too_many_reqs() -> None:
    relay = LocalTestRelay(max_reqs=1)
    relay.start()

    async def main() -> None:
        closed: list[tuple[str, str]] = []
        async with RelayPool([relay.url], pool_settings()) as pool:
            first = await pool.subscribe([{"kinds": [1]}], Collector())
            second = await pool.subscribe(
                [{"kinds": [2]}], Collector(), on_closed=lambda u, r: closed.append((u, r))
            )
            assert await pool.wait_eose(first, 15) == {relay.url}
            assert await pool.wait_eose(second, 15) == frozenset()
            assert closed == [(relay.url, "rate-limited: too many REQs")]

    try:
        run_async(main())
    finally:
        relay.stop()


def test_local_relay_refuses_events_over_64_kib(local_relay: LocalTestRelay) -> None:
    key, _ = new_key()

    async def main() -> None:
        async with RelayPool([local_relay.url], pool_settings()) as pool:
            report = await pool.publish(signed_event(key, content="x" * 70_000))
            assert report.results[0].status is PublishStatus.REJECTED
            assert "size" in report.results[0].message

    run_async(main())


# ---------------------------------------------------------------- nostr-relay only


def test_python_relay_accepts_large_content_after_raising_its_limit(
    python_relay: PythonTestRelay,
) -> None:
    key, _ = new_key()

    async def main() -> None:
        async with RelayPool([python_relay.url], pool_settings()) as pool:
            (await pool.publish(signed_event(key, content="x" * 100_000))).require_accepted()

    run_async(main())


def test_python_relay_notice_on_subscription_limit(tmp_path: Path) -> None:
    relay = PythonTestRelay(tmp_path / "limited", subscription_limit=1)
    relay.start()

    async def main() -> None:
        notices: list[str] = []
        async with RelayPool(
            [relay.url], pool_settings(), on_notice=lambda u, m: notices.append(m)
        ) as pool:
            await pool.subscribe([{"kinds": [1]}], Collector())
            await pool.subscribe([{"kinds": [2]}], Collector())
            await eventually(lambda: bool(notices), 15)
            assert notices == ["rejected: too many subscriptions"]

    try:
        run_async(main())
    finally:
        relay.stop()


def test_python_relay_frozen_process_is_detected_by_keepalive(
    python_relay: PythonTestRelay,
) -> None:
    key, pubkey = new_key()
    event = signed_event(key, content="after the thaw")

    async def main() -> None:
        handler = Collector()
        settings = pool_settings(ping_interval=0.2, ping_timeout=0.5, connect_timeout=1.0)
        async with RelayPool([python_relay.url], settings) as pool:
            sub_id = await pool.subscribe([{"authors": [pubkey]}], handler)
            await pool.wait_eose(sub_id, 15)
            python_relay.pause()
            try:
                url = python_relay.url
                await eventually(
                    lambda: pool.connection_stats(url).state is not ConnectionState.CONNECTED
                )
            finally:
                python_relay.resume()
            await eventually(lambda: pool.connection_stats(url).connects >= 2, 30)
            (await pool.publish(event)).require_accepted()
            await handler.wait_event(event["id"])

    run_async(main(), timeout=90)
