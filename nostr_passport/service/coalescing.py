"""Coalescing of concurrent partial_sign calls to one signer into one batch.

A signer's cost per call is dominated by fixed work (a durable nonce-consumption commit,
an HSM session round trip, an HTTP exchange), so eight concurrent requests signed as one
batch of eight cost far less than eight calls. `CoalescingSigner` wraps a signer: while
a partial_sign call is in flight, further calls queue, and the next call carries all of
them. An idle signer is called at once, so nothing waits for a batching window.

Each request keeps its own nonce and session; only the transport is shared. If the
batched call fails, every caller in it sees the failure and its coordinator retries on
other signers, exactly as for a single call.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from nostr_passport.signer.protocol import PartialSignature, SignerClient, SignRequest

log = logging.getLogger(__name__)

MAX_COALESCED_REQUESTS = 256


@dataclass
class _Pending:
    requests: tuple[SignRequest, ...]
    future: Future[tuple[PartialSignature, ...]] = field(default_factory=Future)


class CoalescingSigner:
    """A SignerClient whose partial_sign calls are batched by one dispatcher thread."""

    def __init__(self, inner: SignerClient, max_requests: int = MAX_COALESCED_REQUESTS) -> None:
        self.inner = inner
        self.max_requests = max_requests
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self.batches = 0  # calls made to the inner signer (for tests and metrics)

    @property
    def signer_id(self) -> str:
        return self.inner.signer_id

    def __getattr__(self, name: str) -> Any:
        # Everything but partial_sign (and close) goes straight to the wrapped signer.
        return getattr(self.inner, name)

    def partial_sign(self, requests: tuple[SignRequest, ...]) -> tuple[PartialSignature, ...]:
        if self._closed:
            raise RuntimeError("signer client is closed")
        pending = _Pending(tuple(requests))
        self._ensure_dispatcher()
        self._queue.put(pending)
        return pending.future.result()

    def _ensure_dispatcher(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._dispatch, name=f"coalesce-{self.signer_id}", daemon=True
                )
                self._thread.start()

    def _dispatch(self) -> None:
        carry: _Pending | None = None
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = None
            if first is None:
                return
            batch = [first]
            size = len(first.requests)
            while size < self.max_requests:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # close after this batch
                    break
                if size + len(more.requests) > self.max_requests:
                    carry = more
                    break
                batch.append(more)
                size += len(more.requests)
            self._run(batch)

    def _run(self, batch: list[_Pending]) -> None:
        requests = tuple(r for pending in batch for r in pending.requests)
        self.batches += 1
        try:
            replies = tuple(self.inner.partial_sign(requests))
        except BaseException as exc:  # every caller must learn of it
            for pending in batch:
                pending.future.set_exception(exc)
            return
        if len(replies) != len(requests):
            # Let each caller's coordinator see a short reply and blame the signer.
            for pending in batch:
                pending.future.set_result(())
            return
        offset = 0
        for pending in batch:
            count = len(pending.requests)
            pending.future.set_result(replies[offset : offset + count])
            offset += count

    def close(self) -> None:
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
        closer = getattr(self.inner, "close", None)
        if callable(closer):
            closer()
