"""Share refresh over real signers (simulator providers) behind a real Passport on SQLite."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import text

from nostr_passport.crypto import dealer
from nostr_passport.errors import ConflictError, RefreshAbortedError
from nostr_passport.service.lifecycle import refresh as refresh_module
from nostr_passport.service.lifecycle.locks import advisory_key, identity_lifecycle_lock
from nostr_passport.service.lifecycle.refresh import refresh_due, refresh_identity
from nostr_passport.signer.errors import ShareNotFoundError
from nostr_passport.store.identities import identity_by_id

from ..service.harness import SIGNER_IDS, Harness
from .helpers import context, local, plain_share, sign_ok, signing_load, x_of_secret


class Crash(Exception):
    """Stands for a signer process dying in the middle of a step."""


def create(h: Harness) -> tuple[str, str]:
    view = h.passport.create_identity(h.admin, threshold=2, participants=3)
    return view.id, view.pubkey


def shares_at(h: Harness, identity_id: str, epoch: int) -> dict[int, int]:
    return dict(plain_share(local(h, sid), identity_id, epoch) for sid in SIGNER_IDS)


def sign_with_each_subset(h: Harness, identity_id: str, pubkey: str) -> None:
    """Every 2-of-3 subset signs: the third signer is down for the request."""
    for down in SIGNER_IDS:
        h.signers[down].down = True
        try:
            sign_ok(h, identity_id, pubkey)
        finally:
            h.signers[down].down = False
        h.passport.pool.mark_ok(down)


def test_five_refreshes_keep_the_npub_and_retire_old_shares(any_db_harness: Harness) -> None:
    harness = any_db_harness
    identity_id, pubkey = create(harness)
    ctx = context(harness)
    old = shares_at(harness, identity_id, 0)
    secret = dealer.reconstruct(old, 2)
    assert x_of_secret(secret) == pubkey

    for round_ in range(1, 6):
        result = refresh_identity(ctx, identity_id, grace_seconds=0)
        assert (result.from_epoch, result.to_epoch, result.pubkey) == (round_ - 1, round_, pubkey)
        assert result.leftovers == ()
        assert ctx.identity(identity_id).epoch == round_
        sign_with_each_subset(harness, identity_id, pubkey)
        for sid in SIGNER_IDS:
            assert local(harness, sid).store.epochs(identity_id) == (round_,)

    new = shares_at(harness, identity_id, 5)
    assert all(new[i] != old[i] for i in range(3))
    for pair in itertools.combinations(range(3), 2):
        assert dealer.reconstruct({i: new[i] for i in pair}, 2) == secret
    # An old share combined with a new one reconstructs nothing useful.
    for i, j in itertools.permutations(range(3), 2):
        assert dealer.reconstruct({i: old[i], j: new[j]}, 2) != secret
    with harness.store.read() as conn:
        record = identity_by_id(conn, identity_id)
    assert record is not None and record.epoch == 5 and len(record.shares) == 3


def test_old_shares_kept_until_the_grace_period_ends(harness: Harness) -> None:
    identity_id, pubkey = create(harness)
    seen: list[tuple[int, ...]] = []

    def during_grace(_: float) -> None:
        # Switched already, old shares still present for requests in flight.
        assert context(harness).identity(identity_id).epoch == 1
        seen.append(local(harness, SIGNER_IDS[0]).store.epochs(identity_id))
        sign_ok(harness, identity_id, pubkey)

    refresh_identity(context(harness), identity_id, sleep=during_grace)
    assert seen == [(0, 1)]
    assert local(harness, SIGNER_IDS[0]).store.epochs(identity_id) == (1,)


def _crash(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, after: bool) -> None:
    real = getattr(target, name)

    def crashing(*args: Any, **kwargs: Any) -> Any:
        if name == "delete_share" and args[1:] != (0,):
            return real(*args, **kwargs)  # only the retirement of epoch 0 crashes
        if after:
            real(*args, **kwargs)  # the work is done and durable; the reply is lost
        raise Crash(f"{name} crashed")

    monkeypatch.setattr(target, name, crashing)


STEPS = [
    ("refresh_deal", 0, False),
    ("refresh_deal", 2, False),
    ("refresh_receive", 0, False),
    ("refresh_receive", 1, True),
    ("refresh_receive", 2, True),
    ("partial_sign", 0, False),
    ("activate", None, False),
    ("delete_share", 1, False),
]


@pytest.mark.parametrize(("step", "who", "after"), STEPS)
def test_a_crash_at_any_step_leaves_the_identity_signing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, step: str, who: int | None, after: bool
) -> None:
    identity_id, pubkey = create(harness)
    ctx = context(harness)
    with monkeypatch.context() as patch:
        if step == "activate":
            _crash(patch, refresh_module, "activate_epoch", after)
        elif step == "partial_sign":
            # Two of three signers fail while the probe signs: no t-subset is left.
            for sid in SIGNER_IDS[:2]:
                _crash(patch, local(harness, sid), "partial_sign", after)
        else:
            assert who is not None
            _crash(patch, local(harness, SIGNER_IDS[who]), step, after)
        if step == "delete_share":
            result = refresh_identity(ctx, identity_id, grace_seconds=0)
            assert result.leftovers == (SIGNER_IDS[1],)
        else:
            with pytest.raises(RefreshAbortedError):
                refresh_identity(ctx, identity_id, grace_seconds=0)
    for sid in SIGNER_IDS:
        harness.passport.pool.mark_ok(sid)

    epoch = ctx.identity(identity_id).epoch
    assert epoch == (1 if step == "delete_share" else 0)
    sign_ok(harness, identity_id, pubkey)
    for sid in SIGNER_IDS:  # every signer still holds the active epoch
        assert epoch in local(harness, sid).store.epochs(identity_id)
    # And the next refresh, with nothing failing, cleans up and succeeds.
    result = refresh_identity(ctx, identity_id, grace_seconds=0)
    assert result.to_epoch == epoch + 1
    sign_with_each_subset(harness, identity_id, pubkey)
    for sid in SIGNER_IDS:
        assert local(harness, sid).store.epochs(identity_id) == (epoch + 1,)


def test_refresh_under_signing_load_fails_no_request(any_db_harness: Harness) -> None:
    harness = any_db_harness
    identity_id, pubkey = create(harness)
    ctx = context(harness)
    with signing_load(harness, identity_id, pubkey) as load:
        for _ in range(3):
            refresh_identity(ctx, identity_id, grace_seconds=0.5)
    assert load.failures == []
    assert load.ok > 0
    assert ctx.identity(identity_id).epoch == 3


def test_a_dealer_with_a_non_zero_constant_is_refused(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity_id, pubkey = create(harness)
    bad = local(harness, SIGNER_IDS[1])
    real = bad.refresh_deal

    def moving_key(*args: Any, **kwargs: Any) -> Any:
        from dataclasses import replace

        deal = real(*args, **kwargs)
        return replace(deal, commitments=(dealer.vss_commit([1])[0], *deal.commitments[1:]))

    monkeypatch.setattr(bad, "refresh_deal", moving_key)
    with pytest.raises(RefreshAbortedError, match="non-zero constant"):
        refresh_identity(context(harness), identity_id, grace_seconds=0)
    monkeypatch.undo()
    sign_ok(harness, identity_id, pubkey)


def test_receivers_refuse_a_non_zero_constant_too(harness: Harness) -> None:
    identity_id, _ = create(harness)
    ctx = context(harness)
    signers = [local(harness, sid) for sid in SIGNER_IDS]
    from nostr_passport.service.lifecycle.refresh import signer_ids_of, slots_for

    infos = {s.signer_id: s.info() for s in signers}
    slots = slots_for(signer_ids_of(ctx.identity(identity_id)), infos)
    deals = [s.refresh_deal(identity_id, 0, 1, slots) for s in signers]
    from dataclasses import replace

    forged = replace(deals[0], commitments=(dealer.vss_commit([1])[0], *deals[0].commitments[1:]))
    from nostr_passport.signer.errors import InvalidShareError

    with pytest.raises(InvalidShareError):
        signers[1].refresh_receive(identity_id, 0, 1, (forged, *deals[1:]), 3)
    assert signers[1].store.epochs(identity_id) == (0,)
    with pytest.raises(ShareNotFoundError):
        signers[1].delete_share(identity_id, 1)


def test_refresh_due_lists_identities_with_old_shares(harness: Harness) -> None:
    first, _ = create(harness)
    second, _ = create(harness)
    ctx = context(harness)
    records = [ctx.identity(first), ctx.identity(second)]
    made = max(r.created_at for r in records)
    assert refresh_due(records, every=3600, now=made) == []
    assert sorted(refresh_due(records, every=3600, now=made + 3600)) == sorted([first, second])
    harness.passport.set_status(harness.admin, second, "disabled")
    assert refresh_due([ctx.identity(first), ctx.identity(second)], 3600, made + 3600) == [first]


def test_one_lifecycle_operation_per_identity_at_a_time(any_db_harness: Harness) -> None:
    harness = any_db_harness
    identity_id, pubkey = create(harness)
    ctx = context(harness)
    with identity_lifecycle_lock(harness.store, identity_id):
        with pytest.raises(ConflictError, match="another lifecycle operation"):
            refresh_identity(ctx, identity_id, grace_seconds=0)
    if harness.store.kind == "postgresql":
        # Another gateway (any other connection) holding the advisory lock.
        with harness.store.engine.connect() as other:
            key = advisory_key(identity_id)
            other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            with pytest.raises(ConflictError, match="another gateway"):
                refresh_identity(ctx, identity_id, grace_seconds=0)
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    assert refresh_identity(ctx, identity_id, grace_seconds=0).to_epoch == 1
    sign_ok(harness, identity_id, pubkey)
