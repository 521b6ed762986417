"""The gateway's signers: clients by id, who failed recently, and the threads that call them.

Health is learnt from real calls: a signer that failed is tried after the others for
`backoff_seconds` (never skipped outright, so a restarted signer is found again on the
next request that needs it). Public signer information (SignerInfo) is cached after the
first successful call; nothing secret passes through here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import TypeVar, cast

from nostr_passport.errors import PassportError, SignersUnavailableError
from nostr_passport.ops.signer_metrics import InstrumentedSigner, SignerMetrics
from nostr_passport.signer.protocol import SignerClient, SignerInfo

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignerHealth:
    signer_id: str
    ok: bool
    detail: str


@dataclass
class _State:
    failed_until: float = 0.0
    last_error: str = ""
    info: SignerInfo | None = None


def failure_reason(exc: BaseException) -> str:
    """A short reason for logs and 503 messages: error code or class, first line only.

    Messages from signers are ours (PassportError) and secret-free by contract; anything
    else is reduced to its class name plus first line, which for transport errors is
    e.g. "ConnectError: connection refused".
    """
    if isinstance(exc, FutureTimeout | TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()
    first = text[0][:160] if text else ""
    if isinstance(exc, PassportError):
        return f"{exc.code}: {first}" if first else exc.code
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _info(client: SignerClient) -> SignerInfo:
    return client.info()


def _health(client: SignerClient) -> bool:
    return client.health()


class SignerPool:
    def __init__(
        self,
        clients: Mapping[str, SignerClient],
        *,
        backoff_seconds: float = 2.0,
        max_workers: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # The metrics hook: every client is timed by one thin wrapper (ops/signer_metrics.py).
        self.metrics = SignerMetrics()
        self._clients: dict[str, SignerClient] = {
            sid: cast(SignerClient, InstrumentedSigner(client, self.metrics))
            for sid, client in clients.items()
        }
        self._state = {sid: _State() for sid in self._clients}
        self._lock = threading.Lock()
        self._backoff = backoff_seconds
        self._clock = clock
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="signer")

    # ---------------------------------------------------------------- registry

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._clients))

    def client(self, signer_id: str) -> SignerClient:
        return self._clients[signer_id]

    def __contains__(self, signer_id: object) -> bool:
        return signer_id in self._clients

    # ---------------------------------------------------------------- health bookkeeping

    def mark_failed(self, signer_id: str, reason: str) -> None:
        with self._lock:
            state = self._state[signer_id]
            state.failed_until = self._clock() + self._backoff
            state.last_error = reason
        self.metrics.failover(signer_id, reason)
        log.warning("signer %s failed: %s", signer_id, reason)

    def mark_ok(self, signer_id: str) -> None:
        with self._lock:
            state = self._state[signer_id]
            state.failed_until = 0.0
            state.last_error = ""

    def recently_failed(self, signer_id: str) -> bool:
        with self._lock:
            return self._state[signer_id].failed_until > self._clock()

    def last_error(self, signer_id: str) -> str:
        with self._lock:
            return self._state[signer_id].last_error

    def preferred_order(self, signer_ids: Iterable[str]) -> list[str]:
        """Signers not recently failed first (stable within each group)."""
        ids = list(signer_ids)
        return sorted(ids, key=lambda sid: (self.recently_failed(sid), ids.index(sid)))

    # ---------------------------------------------------------------- calls

    def submit(self, signer_id: str, call: Callable[[SignerClient], T]) -> Future[T]:
        client = self._clients[signer_id]
        return self.executor.submit(call, client)

    def call_all(
        self, calls: Mapping[str, Callable[[SignerClient], T]], timeout: float
    ) -> tuple[dict[str, T], dict[str, str]]:
        """Run one call per signer in parallel; (results, failure reasons) after `timeout`.

        Failures (exceptions and timeouts) are marked on the signer; successes clear it.
        A call still running at the timeout keeps its thread until the client's own
        transport timeout ends it; its result is ignored.
        """
        futures = {sid: self.submit(sid, call) for sid, call in calls.items()}
        wait_futures(list(futures.values()), timeout=max(0.0, timeout))
        results: dict[str, T] = {}
        failures: dict[str, str] = {}
        for sid, future in futures.items():
            if not future.done():
                future.cancel()
                failures[sid] = "timed out"
                self.mark_failed(sid, "timed out")
                continue
            exc = future.exception()
            if exc is not None:
                reason = failure_reason(exc)
                failures[sid] = reason
                self.mark_failed(sid, reason)
            else:
                results[sid] = future.result()
                self.mark_ok(sid)
        return results, failures

    def info(self, signer_id: str, timeout: float) -> SignerInfo:
        """Public SignerInfo, cached after the first successful call."""
        with self._lock:
            cached = self._state[signer_id].info
        if cached is not None:
            return cached
        results, failures = self.call_all({signer_id: _info}, timeout)
        if signer_id not in results:
            raise SignersUnavailableError(f"signer {signer_id}: {failures[signer_id]}")
        with self._lock:
            self._state[signer_id].info = results[signer_id]
        return results[signer_id]

    def infos(self, timeout: float) -> tuple[dict[str, SignerInfo], dict[str, str]]:
        """SignerInfo of every signer that answers (cached ones without a call)."""
        with self._lock:
            cached = {sid: s.info for sid, s in self._state.items() if s.info is not None}
        missing = {sid: _info for sid in self._clients if sid not in cached}
        results, failures = self.call_all(missing, timeout) if missing else ({}, {})
        with self._lock:
            for sid, info in results.items():
                self._state[sid].info = info
        return {**cached, **results}, failures

    def health(self, timeout: float) -> list[SignerHealth]:
        """Ask every signer now (in parallel); the readiness probe."""
        results, failures = self.call_all({sid: _health for sid in self._clients}, timeout)
        report = []
        for sid in self.ids:
            if results.get(sid):
                report.append(SignerHealth(sid, True, "ok"))
            else:
                detail = failures.get(sid, "reported unhealthy")
                if sid in results:
                    self.mark_failed(sid, detail)
                report.append(SignerHealth(sid, False, detail))
        return report

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        for client in self._clients.values():
            closer = getattr(client, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception as exc:
                    log.warning("closing a signer client failed: %s", type(exc).__name__)
