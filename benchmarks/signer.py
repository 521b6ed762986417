"""Throughput of one FROST participant (LocalSigner) on the simulator and on SoftHSM2.

What one partial signature costs in a signer, beyond the FROST arithmetic: the public
checks (group data from the store, our nonce, the NIP-01 id), one KEK unwrap of the
share, one KEK unwrap of the nonce batch seed, and one durable (fsynced) SQLite commit
that consumes the nonce before the signature exists. A batch of events in one
partial_sign call shares the unwraps and the commit.

Functions return rates so that a main benchmark can print them as ratios against the
in-memory FROST figure measured in the same run (`in_memory_partial_signatures_per_second`).
Run directly: `python -m benchmarks.signer [seconds]`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from nostr_passport.crypto import curve, dealer, frost
from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.softhsm import init_token
from nostr_passport.signer.local import LocalSigner
from nostr_passport.signer.protocol import EventToSign, ShareSlot, SignRequest

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
BENCH_PIN = "bench-pin-0000"
KINDS = ("simulator", "pkcs11")


def _best_rate(prepare: Callable[[], Callable[[], object]], seconds: float, units: int) -> float:
    """`units` per second in the fastest of short timed rounds (setup is untimed)."""
    best, spent = 0.0, 0.0
    while spent < seconds or best == 0.0:
        operation = prepare()
        start = time.perf_counter()
        operation()
        elapsed = time.perf_counter() - start
        spent += elapsed
        best = max(best, units / elapsed)
    return best


@contextmanager
def _signers(kind: str, count: int, batch_size: int = 100) -> Iterator[list[LocalSigner]]:
    with tempfile.TemporaryDirectory(prefix="np-bench-signer-") as tmp:
        base = Path(tmp)
        configs = []
        for i in range(count):
            if kind == "simulator":
                configs.append(
                    ProviderConfig(kind="simulator", name=f"sim-{i}", state_dir=str(base / f"p{i}"))
                )
            else:
                conf = init_token(base / "softhsm", f"bench-{i}", BENCH_PIN)
                configs.append(
                    ProviderConfig(
                        kind="pkcs11",
                        name=f"softhsm-{i}",
                        profile="softhsm2",
                        module_path=SOFTHSM_MODULE,
                        token_label=f"bench-{i}",
                        user_pin=BENCH_PIN,
                        softhsm2_conf=str(conf),
                    )
                )
        signers = [
            LocalSigner(f"s{i}", open_provider(c), base / f"s{i}", nonce_batch_size=batch_size)
            for i, c in enumerate(configs)
        ]
        try:
            yield signers
        finally:
            for signer in signers:
                signer.close()


def _identity(signers: list[LocalSigner]) -> tuple[str, bytes]:
    slots = tuple(
        ShareSlot(i, s.signer_id, s.info().transport_public_key) for i, s in enumerate(signers)
    )
    dealt = signers[0].deal_identity("bench", 2, slots)
    for w in dealt.wrapped_shares:
        signers[w.participant].receive_share(
            "bench", w.participant, 0, 2, dealt.group_pubkey, dealt.vss_commitments, w.blob
        )
    return "bench", frost.group_pubkey_xonly(dealt.group_pubkey)


def partial_signatures_per_second(
    kind: str, seconds: float = 2.0, events_per_call: int = 1
) -> float:
    """Partial signatures per second of ONE signer (participant 0 of a 2-of-3 identity).

    Commitments are fetched before each timed round (preprocessing, as the gateway's
    cache does); the timed part is partial_sign calls of `events_per_call` events each.
    """
    per_round = max(20, events_per_call)
    calls = per_round // events_per_call
    with _signers(kind, 3) as signers:
        identity_id, xonly = _identity(signers)
        counter = iter(range(10**9))

        def prepare() -> Callable[[], object]:
            mine = signers[0].commitments(calls * events_per_call)
            theirs = signers[1].commitments(calls * events_per_call)
            batches = []
            for c in range(calls):
                batch = []
                for k in range(c * events_per_call, (c + 1) * events_per_call):
                    event = EventToSign(xonly.hex(), 1_700_000_000 + next(counter), 1, (), "b")
                    batch.append(
                        SignRequest(
                            identity_id,
                            0,
                            (0, 1),
                            (mine[k].pubnonce, theirs[k].pubnonce),
                            mine[k].nonce_id,
                            event,
                        )
                    )
                batches.append(tuple(batch))

            def run() -> None:
                for batch in batches:
                    signers[0].partial_sign(batch)

            return run

        return _best_rate(prepare, seconds, calls * events_per_call)


def nonce_refill_seconds_per_nonce(kind: str, batch_size: int, seconds: float = 1.0) -> float:
    """Seconds of nonce-pool refill per nonce (HSM randomness, seed wrap, pubnonces, commit)."""
    with _signers(kind, 1, batch_size=batch_size) as (signer,):
        pool = signer.nonce_pool
        rounds = max(1, 50 // batch_size)

        def prepare() -> Callable[[], object]:
            def run() -> None:
                for _ in range(rounds):
                    pool.refill()

            return run

        return 1.0 / _best_rate(prepare, seconds, rounds * batch_size)


def in_memory_partial_signatures_per_second(seconds: float = 2.0) -> float:
    """The baseline: frost.sign with a share and a preprocessed nonce in memory."""
    secret = dealer.generate_secret()
    output = dealer.split(secret, 2, 3)
    share = curve.bytes_from_int(output.shares[0].value)
    ids = (0, 1)
    signers_ctx = frost.SignersContext(3, 2, ids, output.pubshares[:2], output.group_pubkey)
    msg = os.urandom(32)
    per_round = 50

    def prepare() -> Callable[[], object]:
        sessions = []
        for _ in range(per_round):
            sec0, pub0 = frost.nonce_gen()
            _, pub1 = frost.nonce_gen()
            aggnonce = frost.nonce_agg([pub0, pub1], ids)
            sessions.append((sec0, frost.SessionContext(signers_ctx, aggnonce, (), (), msg)))

        def run() -> None:
            for secnonce, session in sessions:
                frost.sign(secnonce, share, 0, session)

        return run

    return _best_rate(prepare, seconds, per_round)


def measure(seconds: float = 2.0) -> dict[str, float]:
    out = {"in_memory_psig_per_s": in_memory_partial_signatures_per_second(seconds)}
    for kind in KINDS:
        out[f"{kind}_psig_per_s"] = partial_signatures_per_second(kind, seconds)
        out[f"{kind}_psig_per_s_batch10"] = partial_signatures_per_second(kind, seconds, 10)
        out[f"{kind}_refill_s_per_nonce_batch1"] = nonce_refill_seconds_per_nonce(
            kind, 1, seconds / 2
        )
        out[f"{kind}_refill_s_per_nonce_batch100"] = nonce_refill_seconds_per_nonce(
            kind, 100, seconds / 2
        )
    return out


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    m = measure(seconds)
    base = m["in_memory_psig_per_s"]
    print(f"in-memory FROST partial signature: {base:10.0f} /s  (1.00x)")
    for kind in KINDS:
        for suffix, label in (("", "1 event/call"), ("_batch10", "10 events/call")):
            rate = m[f"{kind}_psig_per_s{suffix}"]
            print(f"{kind:9s} signer psig, {label:14s}: {rate:8.0f} /s  ({rate / base:.3f}x)")
        one = m[f"{kind}_refill_s_per_nonce_batch1"]
        hundred = m[f"{kind}_refill_s_per_nonce_batch100"]
        print(
            f"{kind:9s} nonce refill per nonce: batch 1 {one * 1e6:8.1f} us, "
            f"batch 100 {hundred * 1e6:8.1f} us  (batching {one / hundred:.1f}x cheaper)"
        )


if __name__ == "__main__":
    main()
