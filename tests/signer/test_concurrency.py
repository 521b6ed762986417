"""Signing on SoftHSM2 from 4 threads sharing signers and 2 processes at once.

SoftHSM2 crashes under unserialised concurrent calls; the provider serialises them and
the signer's store and nonce pool take their own locks. Each process has its own state
directories and tokens. Every signature is checked with BIP-340.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import traceback
from pathlib import Path

import pytest

from nostr_passport.hsm.factory import open_provider
from nostr_passport.signer.local import LocalSigner

from .conftest import provider_configs
from .helpers import Identity, deal, event_for, sign_events

THREADS = 4
PROCESSES = 2
ROUNDS = 8
SUBSETS = list(itertools.combinations(range(3), 2))


def _signers(base: Path) -> list[LocalSigner]:
    configs = provider_configs("pkcs11", base / "hsm", 3)
    return [
        LocalSigner(f"s{i}", open_provider(c), base / f"signer-{i}", nonce_batch_size=16)
        for i, c in enumerate(configs)
    ]


def _sign_rounds(identity: Identity, offset: int) -> int:
    count = 0
    for r in range(ROUNDS):
        ids = SUBSETS[(offset + r) % len(SUBSETS)]
        count += len(
            sign_events(
                identity, ids, [event_for(identity, f"{offset}/{r}/a"), event_for(identity)]
            )
        )
    return count


def _process_main(base: str, results: multiprocessing.Queue[tuple[str, str]]) -> None:
    try:
        signers = _signers(Path(base))
        try:
            identity = deal(signers, 2)
            count = _sign_rounds(identity, 0)
        finally:
            for signer in signers:
                signer.close()
        results.put(("ok", str(count)))
    except BaseException:
        results.put(("error", traceback.format_exc()))


@pytest.mark.softhsm
def test_threads_and_processes_sign_concurrently_on_softhsm2(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[tuple[str, str]] = ctx.Queue()
    # Fork before this process opens any provider or starts threads.
    processes = [
        ctx.Process(target=_process_main, args=(str(tmp_path / f"process-{k}"), results))
        for k in range(PROCESSES)
    ]
    for process in processes:
        process.start()

    signers = _signers(tmp_path / "threads")
    errors: list[str] = []
    counts: list[int] = []
    try:
        identity = deal(signers, 2)

        def work(offset: int) -> None:
            try:
                counts.append(_sign_rounds(identity, offset))
            except BaseException:
                errors.append(traceback.format_exc())

        threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for signer in signers:
            signer.close()

    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert not errors, errors[0]
    assert counts == [2 * ROUNDS] * THREADS
    for status, detail in outcomes:
        assert status == "ok", detail
        assert int(detail) == 2 * ROUNDS
