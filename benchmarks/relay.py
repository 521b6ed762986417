"""Relay round trip latency: publish an event, receive it back on a subscription.

For each test relay (nostr-sdk's LocalRelay and PyPI nostr-relay, both on 127.0.0.1)
`measure` returns p50/p99 in milliseconds for:

- pool: our RelayPool, publishing and subscribing on its one shared connection (the
  bunker's situation);
- pool_no_quickack: the same with tcp_quickack off, to show the delayed-ACK stall on
  relays that write without TCP_NODELAY (LocalRelay);
- raw: the baseline, a bare `websockets` client sending EVENT and reading until the
  event comes back on its REQ, no tricks.

Events are signed before the clock starts. Run directly: `python benchmarks/relay.py
[rounds]`; the last line printed is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import coincurve
from websockets.asyncio.client import connect

from nostr_passport.nostr.relay import RelaySettings
from nostr_passport.nostr.relay_pool import PoolSettings, ReceivedEvent, RelayPool

# The test relays live with the tests; benchmarks run from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.relays import LocalTestRelay, PythonTestRelay, signed_event

WARMUP = 5


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49] * 1000, 3), "p99_ms": round(cuts[98] * 1000, 3)}


def _events(rounds: int) -> tuple[str, list[dict[str, Any]]]:
    key = coincurve.PrivateKey()
    pubkey = key.public_key_xonly.format().hex()
    return pubkey, [signed_event(key, content=f"bench {i}") for i in range(rounds + WARMUP)]


async def pool_round_trips(url: str, rounds: int, quickack: bool = True) -> list[float]:
    """Seconds from publish() to the handler receiving the event, per round."""
    pubkey, events = _events(rounds)
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[float]] = {}

    async def handler(item: ReceivedEvent) -> None:
        future = waiting.pop(item.event["id"], None)
        if future is not None:
            future.set_result(time.perf_counter())

    settings = PoolSettings(relay=replace(RelaySettings(), tcp_quickack=quickack))
    samples: list[float] = []
    async with RelayPool([url], settings) as pool:
        sub_id = await pool.subscribe([{"authors": [pubkey]}], handler)
        await pool.wait_eose(sub_id, 30)
        for index, event in enumerate(events):
            arrived = loop.create_future()
            waiting[event["id"]] = arrived
            start = time.perf_counter()
            (await pool.publish(event)).require_accepted()
            received_at = await asyncio.wait_for(arrived, 30)
            if index >= WARMUP:
                samples.append(received_at - start)
    return samples


async def raw_round_trips(url: str, rounds: int) -> list[float]:
    """The same with a bare websockets client: send EVENT, read until it comes back."""
    pubkey, events = _events(rounds)
    samples: list[float] = []
    async with connect(url, proxy=None, compression=None) as ws:
        await ws.send(json.dumps(["REQ", "bench", {"authors": [pubkey]}]))
        while json.loads(await ws.recv())[0] != "EOSE":
            pass
        for index, event in enumerate(events):
            start = time.perf_counter()
            await ws.send(json.dumps(["EVENT", event]))
            while True:
                message = json.loads(await ws.recv())
                if message[0] == "EVENT" and message[2]["id"] == event["id"]:
                    break
            if index >= WARMUP:
                samples.append(time.perf_counter() - start)
    return samples


def _run(factory: Callable[[], Awaitable[list[float]]]) -> dict[str, float]:
    async def bounded() -> list[float]:
        return await asyncio.wait_for(factory(), 300)

    return _percentiles(asyncio.run(bounded()))


def measure_relay(url: str, rounds: int) -> dict[str, Any]:
    """{client: {p50_ms, p99_ms}} and the pool/raw p50 ratio for one running relay."""
    pool = _run(lambda: pool_round_trips(url, rounds))
    numbers: dict[str, Any] = {
        "pool": pool,
        "pool_no_quickack": _run(lambda: pool_round_trips(url, rounds, quickack=False)),
        "raw": (raw := _run(lambda: raw_round_trips(url, rounds))),
        "pool_vs_raw_p50": round(pool["p50_ms"] / raw["p50_ms"], 3),
    }
    return numbers


def measure(rounds: int = 200) -> dict[str, Any]:
    """{relay: measure_relay(...)} for LocalRelay ("local") and nostr-relay ("python")."""
    results: dict[str, Any] = {"rounds": rounds}
    with tempfile.TemporaryDirectory(prefix="np-bench-relay-") as directory:
        relays = (
            LocalTestRelay(directory=Path(directory) / "local"),
            PythonTestRelay(Path(directory) / "python"),
        )
        for relay in relays:
            relay.start()
            try:
                results[relay.name] = measure_relay(relay.url, rounds)
            finally:
                relay.stop()
    return results


def main(argv: list[str]) -> None:
    rounds = int(argv[1]) if len(argv) > 1 else 200
    results = measure(rounds)
    print(f"round trip publish -> subscription, {rounds} rounds, milliseconds")
    print(f"{'relay':8} {'client':18} {'p50':>9} {'p99':>9}")
    for relay in ("local", "python"):
        for client in ("pool", "pool_no_quickack", "raw"):
            numbers = results[relay][client]
            print(f"{relay:8} {client:18} {numbers['p50_ms']:9.3f} {numbers['p99_ms']:9.3f}")
        print(f"{relay:8} pool/raw p50 ratio {results[relay]['pool_vs_raw_p50']:9.3f}")
    print(json.dumps({"relay": results}, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
