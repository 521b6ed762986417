"""NIP-46 signing through the bunker: round trips per second and p50/p99 latency.

Same server as benchmarks/http.py (`nostr-passport serve`, three local signers, SoftHSM2
when installed, rate limit off), started with `--relay` on a test relay (nostr-sdk's
LocalRelay, then PyPI nostr-relay, both on 127.0.0.1). The client is nostr-sdk's
NostrConnect, connected with a bunker:// URI from `POST .../bunker/uri`; every request
is a `sign_event` of a kind 1 note, `concurrency` in flight at a time.

One NIP-46 round trip costs, on top of the HTTP path's FROST signature of the event:
a threshold ECDH (decrypt the request), a second FROST signature (the kind 24133 reply,
by the remote-signer key), three audit records, and two trips through the relay.

`measure()` returns {relay: {requests_per_second, p50_ms, p99_ms, ...}}; run directly,
`python -m benchmarks.nip46 [requests] [concurrency]` (as a module: benchmarks/http.py
would shadow the standard library's http package), the last line is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from nostr_sdk import EventBuilder, Keys, Kind, NostrConnect, NostrConnectUri

ROOT = Path(__file__).resolve().parent.parent
# The test relays live with the tests; benchmarks run from the repository root.
sys.path.insert(0, str(ROOT))
from tests.relays import LocalTestRelay, PythonTestRelay, free_port  # noqa: E402

WARMUP = 10


def _percentile(sorted_samples: list[float], q: float) -> float:
    index = min(len(sorted_samples) - 1, max(0, round(q * (len(sorted_samples) - 1))))
    return sorted_samples[index]


@contextmanager
def bunker_server(relay_url: str) -> Iterator[tuple[str, str, str]]:
    """(url, admin token, signer kind) of `nostr-passport serve --relay relay_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSTR_PASSPORT_")}
    env["PYTHONPATH"] = str(ROOT)
    cli = [sys.executable, "-m", "nostr_passport"]
    with tempfile.TemporaryDirectory(prefix="np-bench-nip46-") as tmp:
        data_dir = Path(tmp) / "data"
        init = subprocess.run(
            [*cli, "init", "--data-dir", str(data_dir), "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        info = json.loads(init.stdout)
        port = free_port()
        server = subprocess.Popen(
            [*cli, "serve", "--data-dir", str(data_dir), "--port", str(port), "--relay", relay_url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**env, "NOSTR_PASSPORT_RATE_LIMIT__ENABLED": "false"},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("benchmark server did not start")
                time.sleep(0.1)
            yield url, str(info["admin_token"]), str(info["signers"])
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def bunker_uri(url: str, token: str) -> str:
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as api:
        identity = api.post("/v1/identities", json={"label": "bench"})
        identity.raise_for_status()
        issued = api.post(f"/v1/identities/{identity.json()['id']}/bunker/uri", json={})
        issued.raise_for_status()
        return str(issued.json()["uri"])


async def sign_round_trips(uri: str, requests: int, concurrency: int) -> dict[str, Any]:
    signer = NostrConnect(NostrConnectUri.parse(uri), Keys.generate(), timedelta(seconds=60), None)
    user = await signer.get_public_key_async()
    assert user is not None
    latencies: list[float] = []
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int, record: bool) -> None:
        async with slots:
            template = EventBuilder(Kind(1), f"bench {i} ☃").finalize_unsigned(user)
            started = time.perf_counter()
            event = await signer.sign_event_async(template)
            elapsed = time.perf_counter() - started
            if event is None or not event.verify():
                raise RuntimeError("bad signature from the bunker")
            if record:
                latencies.append(elapsed)

    await asyncio.gather(*(one(i, False) for i in range(WARMUP)))
    started = time.perf_counter()
    await asyncio.gather(*(one(i, True) for i in range(requests)))
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": requests,
        "concurrency": concurrency,
        "requests_per_second": requests / seconds,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
    }


def measure_relay(relay_url: str, requests: int, concurrency: int) -> dict[str, Any]:
    with bunker_server(relay_url) as (url, token, signers):
        uri = bunker_uri(url, token)

        async def bounded() -> dict[str, Any]:
            return await asyncio.wait_for(sign_round_trips(uri, requests, concurrency), 600)

        result = asyncio.run(bounded())
    result["signers"] = signers
    result["scheme"] = "2-of-3, local signers"
    return result


def measure(requests: int = 400, concurrency: int = 8) -> dict[str, Any]:
    """{"local": ..., "python": ...}: NIP-46 sign round trips on each test relay."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="np-bench-relays-") as directory:
        relays = (
            LocalTestRelay(directory=Path(directory) / "local"),
            PythonTestRelay(Path(directory) / "python"),
        )
        for relay in relays:
            relay.start()
            try:
                results[relay.name] = measure_relay(relay.url, requests, concurrency)
            finally:
                relay.stop()
    return results


def main(argv: list[str]) -> None:
    requests = int(argv[1]) if len(argv) > 1 else 400
    concurrency = int(argv[2]) if len(argv) > 2 else 8
    results = measure(requests, concurrency)
    print(f"NIP-46 sign_event round trips, {requests} requests, {concurrency} in flight")
    print(f"{'relay':8} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}")
    for name, numbers in results.items():
        print(
            f"{name:8} {numbers['requests_per_second']:9.1f} "
            f"{numbers['p50_ms']:9.2f} {numbers['p99_ms']:9.2f}"
        )
    print(json.dumps({"nip46": results}, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv)
