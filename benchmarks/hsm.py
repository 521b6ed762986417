"""Throughput of the HSM providers: simulator and pkcs11 over SoftHSM2.

Each `bench_*` function runs its operation for about `seconds` against a given
provider and returns operations per second. `measure` runs them all on both
providers; `main` prints each result with its ratio against the simulator, and the
random-batching gain (one C_GenerateRandom for 100 values vs one call per value).
Run directly: `python benchmarks/hsm.py [seconds]`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.hsm.softhsm import init_token

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
BENCH_PIN = "bench-pin-0000"
VALUE_LEN = 32
BATCH = 100
AAD = b"identity=bench|participant=0|epoch=1"


def _rate(operation: Callable[[], object], seconds: float, units: int = 1) -> float:
    """`units` per second over at least one call of `operation` and about `seconds`."""
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        operation()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count * units / (now - start)


def bench_wrap_unwrap(provider: HsmProvider, seconds: float) -> float:
    """wrap + unwrap round trips of a 32-byte share per second."""
    share = bytes(VALUE_LEN)
    return _rate(lambda: provider.unwrap(provider.wrap(share, AAD), AAD), seconds)


def bench_random_single(provider: HsmProvider, seconds: float) -> float:
    """32-byte random values per second, one random_bytes(32) call each."""
    return _rate(lambda: provider.random_bytes(VALUE_LEN), seconds)


def bench_random_batched(provider: HsmProvider, seconds: float) -> float:
    """32-byte random values per second, drawn 100 at a time (nonce-pool batching)."""
    return _rate(lambda: provider.random_bytes(VALUE_LEN * BATCH), seconds, units=BATCH)


def bench_attestation_sign(provider: HsmProvider, seconds: float) -> float:
    """ECDSA P-256 attestation signatures per second."""
    message = b'{"statement":"bench"}'
    return _rate(lambda: provider.attestation_sign(message), seconds)


BENCHES: dict[str, Callable[[HsmProvider, float], float]] = {
    "wrap+unwrap": bench_wrap_unwrap,
    "random_bytes(32) x1": bench_random_single,
    "random_bytes(32*100) per 32 B": bench_random_batched,
    "attestation_sign": bench_attestation_sign,
}


@contextmanager
def simulator_provider() -> Iterator[HsmProvider]:
    provider = open_provider(ProviderConfig(kind="simulator", name="bench-sim"))
    try:
        yield provider
    finally:
        provider.close()


@contextmanager
def softhsm_provider() -> Iterator[HsmProvider]:
    """A provider on a fresh SoftHSM2 token in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="np-bench-") as directory:
        conf = init_token(directory, "bench", BENCH_PIN)
        config = ProviderConfig(
            kind="pkcs11",
            name="bench-softhsm",
            profile="softhsm2",
            module_path=SOFTHSM_MODULE,
            token_label="bench",
            user_pin=BENCH_PIN,
            softhsm2_conf=str(conf),
        )
        provider = open_provider(config)
        try:
            yield provider
        finally:
            provider.close()


def measure(seconds: float) -> dict[str, dict[str, float]]:
    """{provider kind: {bench name: ops/s}} for the simulator and SoftHSM2."""
    results: dict[str, dict[str, float]] = {}
    for kind, opener in (("simulator", simulator_provider), ("softhsm2", softhsm_provider)):
        with opener() as provider:
            results[kind] = {name: bench(provider, seconds) for name, bench in BENCHES.items()}
    return results


def main(argv: list[str]) -> None:
    seconds = float(argv[1]) if len(argv) > 1 else 0.5
    results = measure(seconds)
    baseline = results["simulator"]
    print(f"{'operation':32} {'simulator /s':>14} {'softhsm2 /s':>14} {'softhsm2/sim':>13}")
    for name in BENCHES:
        sim, hsm = baseline[name], results["softhsm2"][name]
        print(f"{name:32} {sim:14.0f} {hsm:14.0f} {hsm / sim:13.3f}")
    for kind, numbers in results.items():
        gain = numbers["random_bytes(32*100) per 32 B"] / numbers["random_bytes(32) x1"]
        print(f"{kind}: batching random values 100 per call is {gain:.1f}x faster per value")


if __name__ == "__main__":
    main(sys.argv)
