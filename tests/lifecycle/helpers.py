"""Shared pieces of the lifecycle suite: a harness over real signers, test-only share reads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nostr_passport.crypto import bip340, curve
from nostr_passport.hsm.provider import WrappedBlob
from nostr_passport.service.gateway import assemble
from nostr_passport.service.lifecycle.context import LifecycleContext
from nostr_passport.signer.aad import share_aad
from nostr_passport.signer.local import LocalSigner
from nostr_passport.store import Store

from ..service.faults import FaultySigner
from ..service.harness import Harness, settings_for_tests
from ..store.databases import database_url


def local(h: Harness, signer_id: str) -> LocalSigner:
    inner = h.signers[signer_id].inner
    assert isinstance(inner, LocalSigner)
    return inner


def context(h: Harness) -> LifecycleContext:
    return LifecycleContext.of(h.passport)


def plain_share(signer: LocalSigner, identity_id: str, epoch: int) -> tuple[int, int]:
    """TEST-ONLY: (participant, share) read from the signer's store through its provider.

    Production code never does this; the suite needs it to show that shares of
    different epochs do not combine.
    """
    record = signer.store.share(identity_id, epoch)
    raw = signer.provider.unwrap(
        WrappedBlob.from_bytes(record.wrapped_share),
        share_aad(identity_id, record.participant, epoch),
    )
    return record.participant, int.from_bytes(raw, "big")


def template(i: int = 0) -> dict[str, object]:
    return {"kind": 1, "content": f"note {i}", "tags": [], "created_at": 1_700_000_000 + i}


def sign_ok(h: Harness, identity_id: str, pubkey: str, count: int = 1) -> None:
    events = h.passport.sign_events(h.admin, identity_id, [template(i) for i in range(count)])
    for event in events:
        assert event["pubkey"] == pubkey
        assert bip340.verify(
            bytes.fromhex(pubkey), bytes.fromhex(str(event["id"])), bytes.fromhex(str(event["sig"]))
        )


def x_of_secret(secret: int) -> str:
    point = curve.point_mul_g(secret)
    assert point is not None
    return curve.xbytes(point).hex()


@dataclass
class LoadResult:
    ok: int = 0
    failures: list[str] = field(default_factory=list)


@contextmanager
def signing_load(
    h: Harness, identity_id: str, pubkey: str, threads: int = 4, pause: float = 0.05
) -> Iterator[LoadResult]:
    """Continuous signing from `threads` threads (each ~1/pause requests/s) until the block ends.

    Bounded by the block, not by time: the caller decides when enough work overlapped.
    """
    result = LoadResult()
    stop = threading.Event()
    lock = threading.Lock()

    def run(k: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                sign_ok(h, identity_id, pubkey)
                with lock:
                    result.ok += 1
            except Exception as exc:  # every failure counts, whatever its type
                with lock:
                    result.failures.append(f"{type(exc).__name__}: {exc}")
            i += 1
            stop.wait(pause)

    workers = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(threads)]
    for w in workers:
        w.start()
    try:
        yield result
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=30)


@contextmanager
def sqlite_harness_over(tmp_path: Path, clients: dict[str, Any]) -> Iterator[Harness]:
    """`harness_over` on a fresh SQLite store, closed afterwards."""
    with database_url("sqlite", tmp_path) as url:
        store = Store.open(url)
        h = harness_over(store, clients)
        try:
            yield h
        finally:
            h.close()
            store.close()


def harness_over(store: Store, clients: dict[str, Any]) -> Harness:
    """A Harness (real Passport) over any signer clients, local or HTTP."""
    signers = {sid: FaultySigner(c) for sid, c in clients.items()}
    passport = assemble(store, signers, settings_for_tests())
    passport.register_signers()
    h = Harness(store, passport, signers, admin=None, admin_token="")  # type: ignore[arg-type]
    h.admin_token, h.admin = h.token("admin")
    return h
