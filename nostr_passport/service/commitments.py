"""The coordinator's cache of preprocessed nonce commitments, per signer.

A signature then costs one round (partial_sign) instead of two: commitments are fetched
in batches ahead of need. They are public (the signer keeps the secret nonces, single
use, durable), so caching them is safe; a commitment taken from the cache is never put
back, so no nonce is ever offered to two sessions.
"""

from __future__ import annotations

import threading
from collections import deque

from nostr_passport.errors import SignersUnavailableError
from nostr_passport.signer.protocol import NonceCommitment, SignerClient

PUBNONCE_LEN = 66


class CommitmentCache:
    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._queues: dict[str, deque[NonceCommitment]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_of(self, signer_id: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(signer_id)
            if lock is None:
                lock = self._locks[signer_id] = threading.Lock()
                self._queues[signer_id] = deque()
            return lock

    def take(self, client: SignerClient, count: int) -> tuple[NonceCommitment, ...]:
        """`count` unused commitments of this signer, fetching a batch when short.

        Runs on the signer's worker thread; concurrent requests for one signer wait for
        one fetch rather than each fetching.
        """
        signer_id = client.signer_id
        with self._lock_of(signer_id):
            queue = self._queues[signer_id]
            if len(queue) < count:
                want = max(self.batch_size, count - len(queue))
                fetched = client.commitments(want)
                if len(fetched) != want or any(
                    len(c.pubnonce) != PUBNONCE_LEN or not c.nonce_id for c in fetched
                ):
                    raise SignersUnavailableError(
                        f"signer {signer_id} returned malformed nonce commitments"
                    )
                queue.extend(fetched)
            return tuple(queue.popleft() for _ in range(count))

    def drop(self, signer_id: str) -> None:
        """Forget a signer's cached commitments (after it failed: it may have restarted)."""
        with self._lock_of(signer_id):
            self._queues[signer_id].clear()

    def size(self, signer_id: str) -> int:
        with self._lock_of(signer_id):
            return len(self._queues[signer_id])
