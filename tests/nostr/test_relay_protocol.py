"""The relay client against a scripted relay: every protocol case, deterministically.

The fake relay (tests/relays.py FakeRelay) records what the client sends and sends
whatever a test needs, including what real relays only do by accident.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import coincurve
import pytest

from nostr_passport.errors import BadRequestError, NotFoundError
from nostr_passport.nostr.relay import (
    ConnectionState,
    PublishStatus,
    RelayMessageTooLargeError,
    RelaySettings,
    RelayUnavailableError,
)
from nostr_passport.nostr.relay_pool import OverflowPolicy, PoolSettings, RelayPool
from tests.relays import (
    Collector,
    FakeRelay,
    auth_signer_for,
    eventually,
    free_port,
    run_async,
    signed_event,
    verify_test_event,
)

pytestmark = pytest.mark.timeout(60)

ALICE = coincurve.PrivateKey(bytes.fromhex("a1" * 32))
ALICE_PUB = ALICE.public_key_xonly.format().hex()
FAST = RelaySettings(
    backoff_initial=0.02, backoff_max=0.1, publish_timeout=10.0, connect_timeout=5.0
)

Responder = Callable[[FakeRelay, Any, list[Any]], Awaitable[None]]


def pool_settings(**relay_changes: Any) -> PoolSettings:
    return PoolSettings(relay=replace(FAST, **relay_changes), verify_event=verify_test_event)


async def send(ws: Any, *message: Any) -> None:
    import json

    await ws.send(json.dumps(list(message)))


async def eose_responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
    if message[0] == "REQ":
        await send(ws, "EOSE", message[1])
    elif message[0] == "EVENT":
        await send(ws, "OK", message[1]["id"], True, "")


def is_kind(kind: str) -> Callable[[list[Any]], bool]:
    return lambda m: m[0] == kind


async def started(*relays: FakeRelay) -> None:
    for relay in relays:
        await relay.start()


# ---------------------------------------------------------------- subscriptions


def test_subscribe_sends_req_and_waits_for_eose() -> None:
    async def main() -> None:
        relay = FakeRelay(eose_responder)
        await started(relay)
        async with RelayPool([relay.url], pool_settings()) as pool:
            sub_id = await pool.subscribe([{"kinds": [24133], "#p": [ALICE_PUB]}], Collector())
            assert await pool.wait_eose(sub_id, 10) == {relay.url}
            (req,) = await relay.wait_for(is_kind("REQ"))
            assert req == ["REQ", sub_id, {"kinds": [24133], "#p": [ALICE_PUB]}]
            await pool.unsubscribe(sub_id)
            await relay.wait_for(lambda m: m == ["CLOSE", sub_id])
            await pool.unsubscribe(sub_id)  # idempotent
        await relay.stop()

    run_async(main())


def test_same_event_from_two_relays_is_delivered_once() -> None:
    event = signed_event(ALICE, content="once")

    async def responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        if message[0] == "REQ":
            await send(ws, "EVENT", message[1], event)
            await send(ws, "EOSE", message[1])

    async def main() -> None:
        first, second = FakeRelay(responder), FakeRelay(responder)
        await started(first, second)
        handler = Collector()
        async with RelayPool([first.url, second.url], pool_settings()) as pool:
            sub_id = await pool.subscribe([{"authors": [ALICE_PUB]}], handler)
            assert await pool.wait_eose(sub_id, 10) == {first.url, second.url}
            await handler.wait_count(1)
            await eventually(lambda: pool.subscription_stats(sub_id).duplicates == 1)
            assert handler.event_ids == [event["id"]]
        await first.stop()
        await second.stop()

    run_async(main())


def test_forged_unmatched_and_malformed_events_are_dropped() -> None:
    genuine = signed_event(ALICE, kind=1, content="genuine")
    other = signed_event(coincurve.PrivateKey(), content="x")
    # Same id as the genuine event, signature of another event: a forgery must not
    # poison the de-duplication memory and block the genuine event.
    forged = {**genuine, "sig": other["sig"]}
    wrong_kind = signed_event(ALICE, kind=7, content="not asked for")
    malformed = {**genuine, "id": "zz"}

    async def responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        if message[0] == "REQ":
            for event in (forged, wrong_kind, malformed, genuine):
                await send(ws, "EVENT", message[1], event)
            await send(ws, "EOSE", message[1])

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        handler = Collector()
        async with RelayPool([relay.url], pool_settings()) as pool:
            sub_id = await pool.subscribe([{"authors": [ALICE_PUB], "kinds": [1]}], handler)
            await handler.wait_event(genuine["id"])
            await pool.wait_eose(sub_id, 10)
            assert handler.event_ids == [genuine["id"]]
            assert pool.subscription_stats(sub_id).rejected == 2
            assert pool.connection_stats(relay.url).malformed_events == 1
        await relay.stop()

    run_async(main())


def test_closed_is_reported_and_not_resent_after_reconnect() -> None:
    async def responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        if message[0] == "REQ" and message[1].startswith("doomed"):
            await send(ws, "CLOSED", message[1], "error: shutting this one down")
        elif message[0] == "REQ":
            await send(ws, "EOSE", message[1])

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        closed: list[tuple[str, str]] = []
        async with RelayPool([relay.url], pool_settings()) as pool:
            doomed = await pool.subscribe(
                [{"kinds": [1]}],
                Collector(),
                subscription_id="doomed-1",
                on_closed=lambda url, reason: closed.append((url, reason)),
            )
            kept = await pool.subscribe([{"kinds": [2]}], Collector(), subscription_id="kept")
            assert await pool.wait_eose(doomed, 10) == frozenset()
            assert closed == [(relay.url, "error: shutting this one down")]
            assert pool.subscription_stats(doomed).closed_by == {relay.url: closed[0][1]}
            await pool.wait_eose(kept, 10)
            await relay.drop_clients()
            # Replay goes in subscription order: once "kept" is re-sent, a re-sent
            # "doomed-1" would already have arrived.
            await relay.wait_for(lambda m: m[:2] == ["REQ", kept], count=2)
            assert len([m for m in relay.received if m[:2] == ["REQ", doomed]]) == 1
        await relay.stop()

    run_async(main())


def test_notice_reaches_the_callback() -> None:
    async def responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        if message[0] == "REQ":
            await send(ws, "NOTICE", "rejected: too many subscriptions")

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        notices: list[tuple[str, str]] = []
        async with RelayPool(
            [relay.url], pool_settings(), on_notice=lambda u, m: notices.append((u, m))
        ) as pool:
            await pool.subscribe([{"kinds": [1]}], Collector())
            await eventually(lambda: len(notices) == 1)
            assert notices == [(relay.url, "rejected: too many subscriptions")]
            assert pool.connection_stats(relay.url).notices == 1
        await relay.stop()

    run_async(main())


def test_garbage_frames_do_not_break_the_connection() -> None:
    good = signed_event(ALICE, content="after the garbage")

    async def responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        if message[0] != "REQ":
            return
        for frame in ("not json", "{}", "[1]", '["EVENT"]', '["OK","x"]', '["EOSE"]', "[" * 5000):
            await ws.send(frame)
        await send(ws, "WHATEVER", 1)
        await send(ws, "EVENT", "unknown-sub", good)
        await send(ws, "EVENT", message[1], good)

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        handler = Collector()
        async with RelayPool([relay.url], pool_settings()) as pool:
            await pool.subscribe([{"authors": [ALICE_PUB]}], handler)
            await handler.wait_event(good["id"])
            stats = pool.connection_stats(relay.url)
            assert stats.protocol_errors == 7
            assert stats.connects == 1
            assert stats.state is ConnectionState.CONNECTED
        await relay.stop()

    run_async(main())


# ---------------------------------------------------------------- reconnect and resume


def test_oversized_frame_drops_connection_then_resubscribes_from_eose() -> None:
    async def responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        if message[0] == "REQ":
            await send(ws, "EOSE", message[1])
            if relay.accepted == 1:
                await send(ws, "NOTICE", "x" * 10_000)

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        before = int(time.time())
        settings = pool_settings(max_incoming_bytes=4096, resubscribe_margin=0)
        async with RelayPool([relay.url], settings) as pool:
            sub_id = await pool.subscribe([{"kinds": [24133], "since": 10}], Collector())
            first, second = await relay.wait_for(is_kind("REQ"), count=2)
            assert first == ["REQ", sub_id, {"kinds": [24133], "since": 10}]
            # Resumed from the EOSE of the first connection, margin 0.
            assert second[2]["kinds"] == [24133]
            assert before <= second[2]["since"] <= int(time.time())
            stats = pool.connection_stats(relay.url)
            assert stats.oversized_frames == 1
            assert stats.connects == 2
        await relay.stop()

    run_async(main())


def test_live_event_dated_in_the_future_cannot_push_resume_point_past_now() -> None:
    future = signed_event(ALICE, created_at=int(time.time()) + 100_000)

    async def main() -> None:
        relay = FakeRelay(eose_responder)
        await started(relay)
        handler = Collector()
        settings = pool_settings(resubscribe_margin=0)
        async with RelayPool([relay.url], settings) as pool:
            sub_id = await pool.subscribe([{"authors": [ALICE_PUB]}], handler)
            await pool.wait_eose(sub_id, 10)
            await relay.send_all(["EVENT", sub_id, future])
            await handler.wait_event(future["id"])
            await relay.drop_clients()
            _, second = await relay.wait_for(is_kind("REQ"), count=2)
            assert second[2]["since"] <= int(time.time())
        await relay.stop()

    run_async(main())


def test_missing_eose_resends_the_original_filters() -> None:
    async def main() -> None:
        relay = FakeRelay()  # never answers
        await started(relay)
        async with RelayPool([relay.url], pool_settings()) as pool:
            await pool.subscribe([{"kinds": [1]}], Collector())
            await relay.wait_for(is_kind("REQ"))
            await relay.drop_clients()
            first, second = await relay.wait_for(is_kind("REQ"), count=2)
            assert first == second
        await relay.stop()

    run_async(main())


def test_connects_once_the_relay_appears() -> None:
    async def main() -> None:
        port = free_port()
        async with RelayPool([f"ws://127.0.0.1:{port}"], pool_settings()) as pool:
            url = pool.relays[0]
            await eventually(lambda: pool.connection_states()[url] is ConnectionState.BACKING_OFF)
            assert await pool.wait_connected(0.05) == frozenset()
            relay = FakeRelay(eose_responder, port=port)
            await relay.start()
            assert await pool.wait_connected(10) == {url}
            await relay.stop()

    run_async(main())


def test_unanswered_event_is_resent_after_reconnect() -> None:
    event = signed_event(ALICE, content="resend me")

    async def responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        if message[0] == "EVENT" and relay.accepted > 1:
            await send(ws, "OK", message[1]["id"], True, "")

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        async with RelayPool([relay.url], pool_settings()) as pool:
            await pool.wait_connected(10)
            publishing = asyncio.create_task(pool.publish(event, timeout=20))
            await relay.wait_for(is_kind("EVENT"))
            await relay.drop_clients()
            report = await publishing
            assert report.accepted_by == (relay.url,)
            assert len([m for m in relay.received if m[0] == "EVENT"]) == 2
        await relay.stop()

    run_async(main())


# ---------------------------------------------------------------- publishing


def test_ok_with_empty_id_answers_the_oldest_unanswered_event() -> None:
    bad = signed_event(ALICE, content="bad")
    good = signed_event(ALICE, content="good")

    async def responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        # nostr-relay style: a refusal carries no event id.
        if message[0] == "EVENT" and message[1]["content"] == "bad":
            await send(ws, "OK", "", False, "invalid: Bad signature")
        elif message[0] == "EVENT":
            await send(ws, "OK", message[1]["id"], True, "")

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        async with RelayPool([relay.url], pool_settings()) as pool:
            await pool.wait_connected(10)
            bad_report, good_report = await asyncio.gather(pool.publish(bad), pool.publish(good))
            assert bad_report.results[0].status is PublishStatus.REJECTED
            assert bad_report.results[0].message == "invalid: Bad signature"
            assert good_report.results[0].status is PublishStatus.ACCEPTED
        await relay.stop()

    run_async(main())


def test_duplicate_refusal_counts_as_accepted() -> None:
    async def responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        if message[0] == "EVENT":
            await send(ws, "OK", message[1]["id"], False, "duplicate: exists")

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        async with RelayPool([relay.url], pool_settings()) as pool:
            report = await pool.publish(signed_event(ALICE))
            assert report.results[0].status is PublishStatus.ACCEPTED
            assert report.results[0].message == "duplicate: exists"
            report.require_accepted()
        await relay.stop()

    run_async(main())


def test_silent_relay_times_out_and_missing_relay_is_unavailable() -> None:
    async def main() -> None:
        silent = FakeRelay()
        await started(silent)
        missing = f"ws://127.0.0.1:{free_port()}"
        async with RelayPool([silent.url, missing], pool_settings()) as pool:
            await pool.wait_connected(10, [silent.url])
            report = await pool.publish(signed_event(ALICE), timeout=0.3)
            statuses = {r.relay_url: r.status for r in report.results}
            assert statuses == {
                silent.url: PublishStatus.TIMEOUT,
                missing: PublishStatus.UNAVAILABLE,
            }
            with pytest.raises(RelayUnavailableError):
                report.require_accepted()
        await silent.stop()

    run_async(main())


def test_min_accepted_returns_without_waiting_for_slow_relays() -> None:
    async def main() -> None:
        fast, silent = FakeRelay(eose_responder), FakeRelay()
        await started(fast, silent)
        async with RelayPool([fast.url, silent.url], pool_settings()) as pool:
            await pool.wait_connected(10)
            # The timeout is far beyond the test's own bound: returning at all proves
            # that the pool did not wait for the silent relay.
            report = await pool.publish(signed_event(ALICE), timeout=600, min_accepted=1)
            assert [r.status for r in report.results] == [
                PublishStatus.ACCEPTED,
                PublishStatus.PENDING,
            ]
        await fast.stop()
        await silent.stop()

    run_async(main(), timeout=30)


def test_publish_refuses_oversized_and_malformed_events() -> None:
    async def main() -> None:
        relay = FakeRelay(eose_responder)
        await started(relay)
        async with RelayPool([relay.url], pool_settings(max_outgoing_bytes=1024)) as pool:
            with pytest.raises(RelayMessageTooLargeError) as info:
                await pool.publish(signed_event(ALICE, content="x" * 2000))
            assert isinstance(info.value, BadRequestError)
            with pytest.raises(BadRequestError):
                await pool.publish({"id": "nope"})
        await relay.stop()
        assert not [m for m in relay.received if m[0] == "EVENT"]

    run_async(main())


def test_closed_pool_and_bad_calls_raise_typed_errors() -> None:
    async def main() -> None:
        relay = FakeRelay(eose_responder)
        await started(relay)
        pool = RelayPool([relay.url], pool_settings())
        await pool.start()
        await pool.subscribe([{"kinds": [1]}], Collector(), subscription_id="one")
        with pytest.raises(BadRequestError):
            await pool.subscribe([{"kinds": [1]}], Collector(), subscription_id="one")
        with pytest.raises(NotFoundError):
            await pool.wait_eose("two", 1)
        with pytest.raises(RelayUnavailableError):
            await RelayPool([], pool_settings()).publish(signed_event(ALICE))
        await pool.close()
        await pool.close()
        with pytest.raises(RelayUnavailableError):
            await pool.publish(signed_event(ALICE))
        with pytest.raises(RelayUnavailableError):
            await pool.subscribe([{"kinds": [1]}], Collector())
        await relay.stop()

    run_async(main())


def test_update_subscription_replaces_filters_under_the_same_id() -> None:
    first = signed_event(ALICE, kind=1)
    second = signed_event(ALICE, kind=2)

    async def main() -> None:
        relay = FakeRelay(eose_responder)
        await started(relay)
        handler = Collector()
        async with RelayPool([relay.url], pool_settings()) as pool:
            sub_id = await pool.subscribe([{"kinds": [1]}], handler)
            await pool.wait_eose(sub_id, 10)
            await pool.update_subscription(sub_id, [{"kinds": [2]}])
            assert await pool.wait_eose(sub_id, 10) == {relay.url}
            reqs = await relay.wait_for(is_kind("REQ"), count=2)
            assert reqs[1] == ["REQ", sub_id, {"kinds": [2]}]
            await relay.send_all(["EVENT", sub_id, first])  # no longer matches
            await relay.send_all(["EVENT", sub_id, second])
            await handler.wait_event(second["id"])
            assert handler.event_ids == [second["id"]]
        await relay.stop()

    run_async(main())


# ---------------------------------------------------------------- NIP-42


def auth_responder(
    *, accept: bool, challenge: str = "challenge-123"
) -> tuple[Responder, dict[str, Any]]:
    state: dict[str, Any] = {"authed": False, "auth_events": []}

    async def responder(relay: FakeRelay, ws: Any, message: list[Any]) -> None:
        if message[0] == "AUTH":
            event = message[1]
            state["auth_events"].append(event)
            state["authed"] = accept
            await send(ws, "OK", event["id"], accept, "" if accept else "invalid: not you")
        elif not state["authed"]:
            await send(ws, "AUTH", challenge)
            if message[0] == "REQ":
                await send(ws, "CLOSED", message[1], "auth-required: log in first")
            elif message[0] == "EVENT":
                await send(ws, "OK", message[1]["id"], False, "auth-required: log in first")
        else:
            await eose_responder(relay, ws, message)

    return responder, state


def test_auth_challenge_is_answered_and_waiting_work_resumes() -> None:
    responder, state = auth_responder(accept=True)

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        bunker_key = coincurve.PrivateKey()
        async with RelayPool(
            [relay.url], pool_settings(), auth_signer=auth_signer_for(bunker_key)
        ) as pool:
            sub_id = await pool.subscribe([{"kinds": [24133]}], Collector())
            report = await pool.publish(signed_event(ALICE))
            report.require_accepted()
            assert await pool.wait_eose(sub_id, 10) == {relay.url}
        (auth,) = state["auth_events"]
        assert auth["kind"] == 22242
        assert auth["pubkey"] == bunker_key.public_key_xonly.format().hex()
        assert ["relay", relay.url] in auth["tags"]
        assert ["challenge", "challenge-123"] in auth["tags"]
        assert verify_test_event(auth)
        await relay.stop()

    run_async(main())


def test_refused_auth_rejects_waiting_event_and_closes_waiting_subscription() -> None:
    responder, _ = auth_responder(accept=False)

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        closed: list[str] = []
        async with RelayPool(
            [relay.url], pool_settings(), auth_signer=auth_signer_for(coincurve.PrivateKey())
        ) as pool:
            sub_id = await pool.subscribe(
                [{"kinds": [24133]}], Collector(), on_closed=lambda u, r: closed.append(r)
            )
            await eventually(lambda: bool(closed))
            assert closed[0].startswith("auth-required:")
            assert await pool.wait_eose(sub_id, 10) == frozenset()
            report = await pool.publish(signed_event(ALICE))
            assert report.results[0].status is PublishStatus.REJECTED
            assert report.results[0].message.startswith("auth-required:")
        await relay.stop()

    run_async(main())


def test_without_signer_auth_required_is_final() -> None:
    responder, state = auth_responder(accept=True)

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        closed: list[str] = []
        async with RelayPool([relay.url], pool_settings()) as pool:
            await pool.subscribe(
                [{"kinds": [1]}], Collector(), on_closed=lambda u, r: closed.append(r)
            )
            report = await pool.publish(signed_event(ALICE))
            assert report.results[0].status is PublishStatus.REJECTED
            await eventually(lambda: closed == ["auth-required: log in first"])
        assert state["auth_events"] == []
        await relay.stop()

    run_async(main())


def test_failing_signer_rejects_instead_of_hanging() -> None:
    responder, _ = auth_responder(accept=True)

    async def broken_signer(template: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("HSM unplugged")

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        async with RelayPool([relay.url], pool_settings(), auth_signer=broken_signer) as pool:
            report = await pool.publish(signed_event(ALICE), timeout=30)
            assert report.results[0].status is PublishStatus.REJECTED
        await relay.stop()

    run_async(main(), timeout=30)


# ---------------------------------------------------------------- bounded queues


def test_drop_oldest_keeps_the_newest_events_when_the_handler_lags() -> None:
    events = [signed_event(ALICE, content=str(i)) for i in range(20)]

    async def main() -> None:
        relay = FakeRelay(eose_responder)
        await started(relay)
        release = asyncio.Event()
        seen: list[str] = []

        async def slow_handler(item: Any) -> None:
            seen.append(item.event["id"])
            await release.wait()

        async with RelayPool([relay.url], pool_settings()) as pool:
            sub_id = await pool.subscribe(
                [{"authors": [ALICE_PUB]}],
                slow_handler,
                overflow=OverflowPolicy.DROP_OLDEST,
                queue_size=5,
            )
            await pool.wait_eose(sub_id, 10)
            # The handler holds the first event before the rest arrive, so what is
            # queued and what is dropped does not depend on task scheduling.
            await relay.send_all(["EVENT", sub_id, events[0]])
            await eventually(lambda: len(seen) == 1)
            for event in events[1:]:
                await relay.send_all(["EVENT", sub_id, event])

            def settled() -> bool:
                s = pool.subscription_stats(sub_id)
                return s.delivered + s.queued + s.dropped == len(events)

            await eventually(settled)
            stats = pool.subscription_stats(sub_id)
            assert (stats.delivered, stats.queued, stats.dropped) == (1, 5, 14)
            release.set()
            await eventually(lambda: len(seen) == 6)
            assert seen == [events[0]["id"]] + [e["id"] for e in events[-5:]]
        await relay.stop()

    run_async(main())


def test_backpressure_loses_nothing() -> None:
    events = [signed_event(ALICE, content=str(i)) for i in range(30)]

    async def main() -> None:
        relay = FakeRelay(eose_responder)
        await started(relay)
        release = asyncio.Event()
        handler = Collector()

        async def slow_handler(item: Any) -> None:
            await release.wait()
            await handler(item)

        async with RelayPool([relay.url], pool_settings()) as pool:
            sub_id = await pool.subscribe(
                [{"authors": [ALICE_PUB]}],
                slow_handler,
                overflow=OverflowPolicy.BACKPRESSURE,
                queue_size=2,
            )
            await pool.wait_eose(sub_id, 10)
            for event in events:
                await relay.send_all(["EVENT", sub_id, event])
            await eventually(lambda: pool.subscription_stats(sub_id).queued == 2)
            release.set()
            await handler.wait_count(len(events))
            assert handler.event_ids == [e["id"] for e in events]
            assert pool.subscription_stats(sub_id).dropped == 0
        await relay.stop()

    run_async(main())


def test_a_failing_handler_does_not_end_the_subscription() -> None:
    events = [signed_event(ALICE, content=str(i)) for i in range(3)]

    async def main() -> None:
        relay = FakeRelay(eose_responder)
        await started(relay)
        handler = Collector()

        async def flaky(item: Any) -> None:
            await handler(item)
            if len(handler.items) == 1:
                raise ValueError("handler bug")

        async with RelayPool([relay.url], pool_settings()) as pool:
            sub_id = await pool.subscribe([{"authors": [ALICE_PUB]}], flaky)
            await pool.wait_eose(sub_id, 10)
            for event in events:
                await relay.send_all(["EVENT", sub_id, event])
            await handler.wait_count(3)
        await relay.stop()

    run_async(main())


def test_logs_never_contain_content_tags_or_challenges(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_text = "SECRET-CONTENT-7f3a"
    secret_tag = "e" * 63 + "f"
    incoming = signed_event(ALICE, content=secret_text, tags=[["p", secret_tag]])
    outgoing = signed_event(ALICE, content=secret_text + "-out")
    responder, _ = auth_responder(accept=True, challenge="SECRET-CHALLENGE-91b2")

    async def main() -> None:
        relay = FakeRelay(responder)
        await started(relay)
        handler = Collector()
        async with RelayPool(
            [relay.url], pool_settings(), auth_signer=auth_signer_for(coincurve.PrivateKey())
        ) as pool:
            sub_id = await pool.subscribe([{"#p": [secret_tag]}], handler)
            (await pool.publish(outgoing)).require_accepted()
            await pool.wait_eose(sub_id, 10)
            await relay.send_all(["EVENT", sub_id, incoming])
            await relay.send_all(["EVENT", sub_id, {**incoming, "id": "0" * 64}])  # bad id
            await handler.wait_event(incoming["id"])
        await relay.stop()

    run_async(main())
    # The fake relay's server-side logs are the test's, not the client's.
    client_logs = [r.getMessage() for r in caplog.records if r.name != "websockets.server"]
    assert client_logs  # something was logged...
    for secret in (secret_text, secret_tag, "SECRET-CHALLENGE-91b2"):
        assert not [line for line in client_logs if secret in line]  # ...but none of this
