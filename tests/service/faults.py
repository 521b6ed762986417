"""Fault injection around REAL signers: a switchable outage, delay or corruption.

These wrap a working signer and forward every call; when a fault is switched on they
behave like a broken network or a malicious signer would. Nothing is mocked: the
signatures and proofs come from the real signer underneath.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from nostr_passport.crypto.curve import N
from nostr_passport.signer.protocol import (
    EcdhRequest,
    EcdhShareReply,
    PartialSignature,
    SignRequest,
)


class FaultySigner:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False
        self.delay = 0.0
        self.corrupt_psig = False
        self.corrupt_ecdh = False
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def signer_id(self) -> str:
        return str(self.inner.signer_id)

    def _enter(self, name: str) -> None:
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            raise ConnectionRefusedError(f"{self.signer_id} is down")

    def count(self, name: str) -> int:
        with self._lock:
            return self.calls.get(name, 0)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._enter(name)
            return target(*args, **kwargs)

        return call

    def health(self) -> bool:
        self._enter("health")
        return bool(self.inner.health())

    def partial_sign(self, requests: tuple[SignRequest, ...]) -> tuple[PartialSignature, ...]:
        self._enter("partial_sign")
        replies = self.inner.partial_sign(requests)
        if not self.corrupt_psig:
            return tuple(replies)
        bad = []
        for r in replies:
            s = (int.from_bytes(r.psig, "big") + 1) % N
            bad.append(PartialSignature(r.participant, r.nonce_id, s.to_bytes(32, "big")))
        return tuple(bad)

    def ecdh_share(self, request: EcdhRequest) -> EcdhShareReply:
        self._enter("ecdh_share")
        reply = self.inner.ecdh_share(request)
        if not self.corrupt_ecdh:
            return reply  # type: ignore[no-any-return]
        flipped = bytes([reply.point[0] ^ 1]) + reply.point[1:]  # the negated point
        return EcdhShareReply(reply.participant, flipped, reply.proof)
