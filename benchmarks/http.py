"""HTTP signing throughput of a running gateway: requests/s and p50/p99 latency.

`measure_server(url, token, ...)` signs events through POST /v1/identities/{id}/sign
from `concurrency` client threads against a server that is already running. `measure()`
starts its own: a fresh data directory, `nostr-passport serve` as a subprocess (three
local signers, SoftHSM2 when installed, 2-of-3 identity), then stops it. Both return a
dict, so the main benchmark can print the ratio to the in-process FROST figure.

Run directly: `python benchmarks/http.py [requests] [concurrency]`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's directory is sys.path[0] and its name would shadow the
# standard library's `http` package that httpx imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402


def _percentile(sorted_samples: list[float], q: float) -> float:
    if not sorted_samples:
        return float("nan")
    index = min(len(sorted_samples) - 1, max(0, round(q * (len(sorted_samples) - 1))))
    return sorted_samples[index]


def measure_server(
    url: str,
    token: str,
    *,
    identity_id: str | None = None,
    requests: int = 400,
    concurrency: int = 8,
    warmup: int = 20,
) -> dict[str, Any]:
    """Sign `requests` events (kind 1, small content) and time each request."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        if identity_id is None:
            created = client.post("/v1/identities", json={"threshold": 2, "participants": 3})
            created.raise_for_status()
            identity_id = str(created.json()["id"])
        path = f"/v1/identities/{identity_id}/sign"
        for i in range(warmup):
            client.post(path, json={"kind": 1, "content": f"warmup {i}"}).raise_for_status()

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = {"kind": 1, "content": f"benchmark event {i} ☃", "tags": [["t", "bench"]]}
                start = time.perf_counter()
                response = client.post(path, json=body)
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        errors += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": requests,
        "concurrency": concurrency,
        "errors": errors,
        "seconds": wall,
        "requests_per_second": len(latencies) / wall if wall > 0 else 0.0,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "scheme": "2-of-3, local signers",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli() -> list[str]:
    return [sys.executable, "-m", "nostr_passport"]


@contextmanager
def local_server() -> Iterator[tuple[str, str, str]]:
    """(url, admin token, signer kind) of a fresh `nostr-passport serve` subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOSTR_PASSPORT_")}
    env["PYTHONPATH"] = str(ROOT)
    with tempfile.TemporaryDirectory(prefix="np-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        init = subprocess.run(
            [*_cli(), "init", "--data-dir", str(data_dir), "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        info = json.loads(init.stdout)
        port = _free_port()
        server = subprocess.Popen(
            [*_cli(), "serve", "--data-dir", str(data_dir), "--port", str(port)],
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


def measure(requests: int = 400, concurrency: int = 8) -> dict[str, Any]:
    """Start a server, measure it, stop it."""
    with local_server() as (url, token, signers):
        result = measure_server(url, token, requests=requests, concurrency=concurrency)
    result["signers"] = signers
    return result


def main(argv: list[str]) -> None:
    requests = int(argv[1]) if len(argv) > 1 else 400
    concurrency = int(argv[2]) if len(argv) > 2 else 8
    result = measure(requests, concurrency)
    print(
        f"HTTP sign ({result['scheme']}, {result['signers']}): "
        f"{result['requests_per_second']:.1f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, {result['errors']} errors"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
