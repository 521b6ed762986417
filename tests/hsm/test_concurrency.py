"""Regression: python-pkcs11 + SoftHSM2 crash under concurrent calls unless every call
is serialised, and a forked child must re-initialise the module. Four threads and two
processes (one spawned, one forked from a parent that already uses the module) hammer
ONE token at the same time; every result must be correct and nobody may crash."""

from __future__ import annotations

import multiprocessing
import queue
import threading
from typing import Any

import pytest

from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.provider import HsmProvider, WrappedBlob, verify_attestation_signature
from tests.hsm.conftest import softhsm_token  # noqa: F401 - fixture used below

pytestmark = pytest.mark.softhsm

ITERATIONS = 30
THREADS = 4
PROCESS_TIMEOUT_S = 120


def hammer(provider: HsmProvider, tag: str) -> int:
    """wrap/unwrap/sign/verify/hmac in a loop; returns how many rounds were all correct."""
    public_key = provider.attestation_public_key()
    mac = provider.audit_hmac(b"fixed")
    correct = 0
    for i in range(ITERATIONS):
        secret = provider.random_bytes(32)
        aad = f"{tag}/{i}".encode()
        blob = provider.wrap(secret, aad)
        message = secret + aad
        signature = provider.attestation_sign(message)
        if (
            provider.unwrap(blob, aad) == secret
            and verify_attestation_signature(public_key, message, signature)
            and provider.audit_hmac(b"fixed") == mac
        ):
            correct += 1
    return correct


def process_main(source: Any, parent_blob: bytes, results: Any, tag: str) -> None:
    """Runs in the child. `source` is a ProviderConfig (spawn) or the parent's provider (fork)."""
    try:
        provider = open_provider(source) if isinstance(source, ProviderConfig) else source
        inherited = provider.unwrap(WrappedBlob.from_bytes(parent_blob), b"parent")
        correct = hammer(provider, tag)
        own_blob = provider.wrap(b"from " + tag.encode(), b"child").to_bytes()
        results.put((tag, correct, inherited, own_blob))
    except BaseException as exc:
        results.put((tag, -1, f"{type(exc).__name__}: {exc}".encode(), b""))


@pytest.mark.timeout(PROCESS_TIMEOUT_S)
def test_threads_and_processes_on_one_token(softhsm_token: Any) -> None:  # noqa: F811
    config: ProviderConfig = softhsm_token("shared")
    provider = open_provider(config)
    try:
        parent_blob = provider.wrap(b"parent secret", b"parent").to_bytes()
        results: Any = multiprocessing.get_context("spawn").Queue()
        children = [
            multiprocessing.get_context("spawn").Process(
                target=process_main, args=(config, parent_blob, results, "spawn")
            ),
            # The forked child inherits a module initialised (and in use) by the parent.
            multiprocessing.get_context("fork").Process(
                target=process_main, args=(provider, parent_blob, results, "fork")
            ),
        ]
        for child in children:
            child.start()

        thread_results: list[int] = []
        errors: list[BaseException] = []

        def run(tag: str) -> None:
            try:
                thread_results.append(hammer(provider, tag))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(f"thread-{i}",)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        reports = {}
        for _ in children:
            try:
                tag, correct, inherited, own_blob = results.get(timeout=PROCESS_TIMEOUT_S)
            except queue.Empty:
                pytest.fail("a child process did not report")
            reports[tag] = (correct, inherited, own_blob)
        for child in children:
            child.join(PROCESS_TIMEOUT_S)
            assert child.exitcode == 0

        assert errors == []
        assert thread_results == [ITERATIONS] * THREADS
        for tag in ("spawn", "fork"):
            correct, inherited, own_blob = reports[tag]
            assert correct == ITERATIONS, inherited
            assert inherited == b"parent secret"
            # What a child wrapped, the parent can open: one token, one KEK.
            assert (
                provider.unwrap(WrappedBlob.from_bytes(own_blob), b"child")
                == b"from " + tag.encode()
            )
    finally:
        provider.close()
