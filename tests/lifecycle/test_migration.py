"""Moving shares to another signer/provider while signing continues (simulator -> SoftHSM2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nostr_passport.crypto import dealer
from nostr_passport.errors import RefreshAbortedError
from nostr_passport.service.lifecycle.migration import migrate_participant, migrate_signer
from nostr_passport.service.lifecycle.refresh import signer_ids_of
from nostr_passport.signer.local import LocalSigner
from nostr_passport.store import Store

from ..service.harness import SIGNER_IDS, Harness, real_signer
from ..store.databases import database_url
from .helpers import (
    context,
    harness_over,
    local,
    plain_share,
    sign_ok,
    signing_load,
    sqlite_harness_over,
)
from .softhsm import softhsm_signers

NEW = "hsm-new"


@pytest.fixture
def mixed(tmp_path: Path) -> Iterator[Harness]:
    """signer-1..3 on the simulator, plus `hsm-new` on a SoftHSM2 token."""
    clients: dict[str, Any] = {sid: real_signer(sid, tmp_path) for sid in SIGNER_IDS}
    clients[NEW] = softhsm_signers(tmp_path, [NEW])[0]
    with sqlite_harness_over(tmp_path, clients) as h:
        yield h


def create_without_new(h: Harness) -> tuple[str, str]:
    h.signers[NEW].down = True  # placement skips it: the identity starts on the simulators
    try:
        view = h.passport.create_identity(h.admin, threshold=2, participants=3)
    finally:
        h.signers[NEW].down = False
        h.passport.pool.mark_ok(NEW)
    return view.id, view.pubkey


def sign_with_each_subset(h: Harness, identity_id: str, pubkey: str) -> None:
    holders = signer_ids_of(context(h).identity(identity_id))
    for down in holders:
        h.signers[down].down = True
        try:
            sign_ok(h, identity_id, pubkey)
        finally:
            h.signers[down].down = False
        h.passport.pool.mark_ok(down)


def signer(h: Harness, sid: str) -> LocalSigner:
    return local(h, sid)


@pytest.mark.softhsm
def test_move_a_share_to_softhsm_under_load_then_retire_a_signer(mixed: Harness) -> None:
    h = mixed
    identity_id, pubkey = create_without_new(h)
    ctx = context(h)
    before = signer_ids_of(ctx.identity(identity_id))
    participant = before.index("signer-1")
    old = dict(plain_share(signer(h, sid), identity_id, 0) for sid in before)
    secret = dealer.reconstruct(old, 2)

    with signing_load(h, identity_id, pubkey, threads=3) as load:
        result = migrate_participant(ctx, identity_id, participant, NEW, grace_seconds=0.5)
    assert load.failures == []
    assert load.ok > 0
    after = signer_ids_of(ctx.identity(identity_id))
    assert after[participant] == NEW and result.signer_ids == after
    assert (ctx.identity(identity_id).group_pubkey, result.to_epoch) == (pubkey, 1)
    assert signer(h, "signer-1").store.epochs(identity_id) == ()
    assert signer(h, NEW).store.epochs(identity_id) == (1,)
    sign_with_each_subset(h, identity_id, pubkey)

    new = dict(plain_share(signer(h, sid), identity_id, 1) for sid in after)
    assert dealer.reconstruct(new, 2) == secret
    # What signer-1 held before the move is useless with the new shares.
    other = (participant + 1) % 3
    assert dealer.reconstruct({participant: old[participant], other: new[other]}, 2) != secret

    # signer-1 is free now; retire signer-2 by moving everything it holds there.
    results = migrate_signer(ctx, "signer-2", "signer-1", grace_seconds=0)
    assert len(results) == 1
    assert "signer-2" not in signer_ids_of(ctx.identity(identity_id))
    assert signer(h, "signer-2").store.epochs(identity_id) == ()
    sign_with_each_subset(h, identity_id, pubkey)


def test_an_interrupted_move_leaves_the_old_signer_in_charge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients: dict[str, Any] = {sid: real_signer(sid, tmp_path) for sid in [*SIGNER_IDS, NEW]}
    with database_url("sqlite", tmp_path) as url:
        store = Store.open(url)
        h = harness_over(store, clients)
        try:
            identity_id, pubkey = create_without_new(h)
            ctx = context(h)
            before = signer_ids_of(ctx.identity(identity_id))

            def crash(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("signer process killed")

            monkeypatch.setattr(signer(h, NEW), "refresh_receive", crash)
            with pytest.raises(RefreshAbortedError):
                migrate_participant(ctx, identity_id, 0, NEW, grace_seconds=0)
            monkeypatch.undo()
            h.passport.pool.mark_ok(NEW)
            assert signer_ids_of(ctx.identity(identity_id)) == before
            assert signer(h, NEW).store.epochs(identity_id) == ()
            sign_with_each_subset(h, identity_id, pubkey)
            # A second attempt goes through.
            migrate_participant(ctx, identity_id, 0, NEW, grace_seconds=0)
            sign_with_each_subset(h, identity_id, pubkey)
        finally:
            h.close()
            store.close()
