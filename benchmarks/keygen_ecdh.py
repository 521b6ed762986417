"""Throughput of trusted-dealer key generation and of verified threshold ECDH.

Each function runs its operation repeatedly for about `seconds` and returns operations
per second. benchmarks/signing.py imports these and reports them as ratios against a
baseline measured in the same run; run this file directly for a quick look.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from nostr_passport.crypto import curve, dealer, ecdh


def _rate(operation: Callable[[], object], seconds: float) -> float:
    """Calls of `operation` per second, over at least one call and about `seconds`."""
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
            return count / (now - start)


def bench_dealer_keygen(t: int, n: int, seconds: float) -> float:
    """Dealer keygens per second: fresh secret, polynomial, shares, commitments, pubshares."""

    def keygen() -> dealer.DealerOutput:
        return dealer.split(dealer.generate_secret(), t, n)

    return _rate(keygen, seconds)


def bench_threshold_ecdh(t: int, n: int, seconds: float) -> float:
    """Full threshold ECDH per second: t shares with DLEQ proofs, verification, combination.

    The signing set is the first t participants; the key is dealt once, outside the timing.
    """
    out = dealer.split(dealer.generate_secret(), t, n)
    ids = list(range(t))
    pubshares = {i: out.pubshares[i] for i in ids}
    peer_point = curve.point_mul_g(dealer.generate_secret())
    assert peer_point is not None
    peer = curve.xbytes(peer_point)

    def threshold_ecdh() -> bytes:
        shares = [ecdh.ecdh_share(out.shares[i].value, i, ids, peer, os.urandom(32)) for i in ids]
        return ecdh.combine_ecdh_shares(shares, pubshares, ids, peer)

    return _rate(threshold_ecdh, seconds)


def main(argv: list[str]) -> None:
    seconds = float(argv[1]) if len(argv) > 1 else 1.0
    for t, n in ((2, 3), (3, 5), (7, 10)):
        print(f"dealer keygen {t}-of-{n}: {bench_dealer_keygen(t, n, seconds):10.1f} /s")
        print(f"threshold ECDH {t}-of-{n}: {bench_threshold_ecdh(t, n, seconds):9.1f} /s")


if __name__ == "__main__":
    main(sys.argv)
