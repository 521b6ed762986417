"""KEK rotation on every signer while signing continues (simulator and SoftHSM2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nostr_passport.hsm.provider import WrappedBlob
from nostr_passport.service.lifecycle.kek import rotate_keks

from ..service.harness import SIGNER_IDS, Harness, real_signer
from .helpers import (
    LoadResult,
    context,
    local,
    sign_ok,
    signing_load,
    sqlite_harness_over,
)
from .softhsm import softhsm_signers


@pytest.fixture(params=["simulator", pytest.param("pkcs11", marks=pytest.mark.softhsm)])
def any_harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "simulator":
        clients: dict[str, Any] = {sid: real_signer(sid, tmp_path) for sid in SIGNER_IDS}
    else:
        clients = {s.signer_id: s for s in softhsm_signers(tmp_path, list(SIGNER_IDS))}
    with sqlite_harness_over(tmp_path, clients) as h:
        yield h


def wait_for(load: LoadResult, count: int) -> None:
    """Until `count` more requests succeeded (or one failed); bounded by progress, not time."""
    target = load.ok + count
    for _ in range(10_000):
        if load.ok >= target or load.failures:
            return
        time.sleep(0.005)


def stored_kek_ids(h: Harness, sid: str) -> set[str]:
    signer = local(h, sid)
    ids = set()
    with signer.store._reading() as cur:
        for (blob,) in cur.execute("SELECT wrapped_share FROM shares"):
            ids.add(WrappedBlob.from_bytes(bytes(blob)).kek_id)
        for (blob,) in cur.execute(
            "SELECT wrapped_seed FROM nonce_batches WHERE wrapped_seed IS NOT NULL"
        ):
            ids.add(WrappedBlob.from_bytes(bytes(blob)).kek_id)
    return ids


def test_kek_rotation_under_signing_load_fails_no_request(any_harness: Harness) -> None:
    h = any_harness
    view = h.passport.create_identity(h.admin, threshold=2, participants=3)
    ctx = context(h)
    with signing_load(h, view.id, view.pubkey, threads=2, pause=0.05) as load:
        wait_for(load, 10)
        for _ in range(2):
            rotations = rotate_keks(ctx)
            wait_for(load, 10)
    assert load.failures == []
    assert load.ok >= 30
    for sid in SIGNER_IDS:
        provider = local(h, sid).provider
        assert provider.list_kek_ids() == [rotations[sid].new_kek_id]
        assert rotations[sid].destroyed_kek_ids  # the previous KEK is gone
        assert stored_kek_ids(h, sid) == {rotations[sid].new_kek_id}
    sign_ok(h, view.id, view.pubkey, count=3)


def test_an_interrupted_rotation_keeps_signing_and_a_rerun_finishes(
    any_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = any_harness
    view = h.passport.create_identity(h.admin, threshold=2, participants=3)
    provider = local(h, SIGNER_IDS[0]).provider

    def crash(kek_id: str) -> None:
        raise RuntimeError("HSM session lost")

    with monkeypatch.context() as patch:
        patch.setattr(provider, "destroy_kek", crash)
        with pytest.raises(RuntimeError):
            local(h, SIGNER_IDS[0]).rotate_kek()
    assert len(provider.list_kek_ids()) == 2  # new one current, old one still there
    sign_ok(h, view.id, view.pubkey)
    rotation = local(h, SIGNER_IDS[0]).rotate_kek()
    assert provider.list_kek_ids() == [rotation.new_kek_id]
    assert len(rotation.destroyed_kek_ids) == 2
    h.signers[SIGNER_IDS[1]].down = True  # make sure the rotated signer takes part
    try:
        sign_ok(h, view.id, view.pubkey)
    finally:
        h.signers[SIGNER_IDS[1]].down = False
