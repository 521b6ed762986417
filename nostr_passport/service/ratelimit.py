"""Per-token rate limits: a token bucket per key, in memory (each gateway its own)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from nostr_passport.errors import RateLimitedError

# Buckets idle this long are full again anyway; forgetting them bounds memory.
_IDLE_FORGET_SECONDS = 600.0
_SWEEP_EVERY = 1024


class TooManyRequestsError(RateLimitedError):
    """Carries how long to wait (for the Retry-After header)."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limit exceeded, retry in {math.ceil(retry_after)} s")


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`burst` requests at once, refilled at `rate` per second, per key."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def acquire(self, key: str, cost: float = 1.0) -> None:
        """Take `cost` from key's bucket, or raise TooManyRequestsError (nothing taken)."""
        now = self._clock()
        with self._lock:
            self._calls += 1
            if self._calls % _SWEEP_EVERY == 0:
                self._forget_idle(now)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens < cost:
                raise TooManyRequestsError((cost - bucket.tokens) / self.rate)
            bucket.tokens -= cost

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, b in self._buckets.items() if now - b.updated > _IDLE_FORGET_SECONDS]
        for key in idle:
            del self._buckets[key]


class NoRateLimit:
    """Stand-in when rate limiting is disabled in the config."""

    def acquire(self, key: str, cost: float = 1.0) -> None:
        return None
