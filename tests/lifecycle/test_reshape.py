"""Threshold and signer-set change (reshape) over real simulator signers behind a Passport."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from coincurve import PublicKeyXOnly
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nostr_passport.crypto import curve, dealer
from nostr_passport.errors import BadRequestError, PassportError
from nostr_passport.service.lifecycle.refresh import refresh_identity, signer_ids_of, slots_for
from nostr_passport.service.lifecycle.reshape import (
    RESHAPE_ACTION,
    ReshapeAbortedError,
    reshape_identity,
)
from nostr_passport.signer import refresh as refresh_math
from nostr_passport.signer import reshape as reshape_math
from nostr_passport.signer.errors import InvalidShareError
from nostr_passport.signer.http_client import HttpSignerClient
from nostr_passport.store import Store
from nostr_passport.store.audit_log import audit_records

from ..service.harness import Harness, real_signer
from ..signer.test_http import start_signer
from ..store.databases import database_url
from .helpers import context, harness_over, local, plain_share, sqlite_harness_over, template

FIVE = tuple(f"signer-{k}" for k in range(1, 6))


class Crash(Exception):
    """Stands for a signer process dying in the middle of a step."""


@pytest.fixture
def five(tmp_path: Path) -> Iterator[Harness]:
    """Five simulator signers behind a real Passport on SQLite."""
    clients: dict[str, Any] = {sid: real_signer(sid, tmp_path) for sid in FIVE}
    with sqlite_harness_over(tmp_path, clients) as h:
        yield h


def create(h: Harness) -> tuple[str, str, tuple[str, ...]]:
    """A 2-of-3 identity on three of the five signers (the last two down at creation)."""
    for sid in FIVE[3:]:
        h.signers[sid].down = True
    try:
        view = h.passport.create_identity(h.admin, threshold=2, participants=3)
    finally:
        for sid in FIVE[3:]:
            h.signers[sid].down = False
            h.passport.pool.mark_ok(sid)
    return view.id, view.pubkey, signer_ids_of(context(h).identity(view.id))


def shares_at(h: Harness, identity_id: str, epoch: int, holders: tuple[str, ...]) -> dict[int, int]:
    """TEST-ONLY: {participant: share} of `epoch` as the holders keep it."""
    return dict(plain_share(local(h, sid), identity_id, epoch) for sid in holders)


def sign_verified(h: Harness, identity_id: str, pubkey: str) -> None:
    """One event signed by the Passport, its BIP-340 signature checked with coincurve."""
    (event,) = h.passport.sign_events(h.admin, identity_id, [template(7)])
    assert event["pubkey"] == pubkey
    key = PublicKeyXOnly(bytes.fromhex(pubkey))
    assert key.verify(bytes.fromhex(str(event["sig"])), bytes.fromhex(str(event["id"])))


def sign_with_every_subset(h: Harness, identity_id: str, pubkey: str) -> int:
    """Every t-subset of the holders signs alone (all other signers down); how many."""
    record = context(h).identity(identity_id)
    holders = signer_ids_of(record)
    count = 0
    for subset in itertools.combinations(holders, record.threshold):
        for sid in FIVE:
            h.signers[sid].down = sid not in subset
        try:
            sign_verified(h, identity_id, pubkey)
        finally:
            for sid in FIVE:
                h.signers[sid].down = False
                h.passport.pool.mark_ok(sid)
        count += 1
    return count


def epochs_everywhere(h: Harness, identity_id: str) -> dict[str, tuple[int, ...]]:
    return {sid: local(h, sid).store.epochs(identity_id) for sid in FIVE}


def reshape_audit(h: Harness) -> list[dict[str, Any]]:
    """The details of every identity.reshape audit record, in log order."""
    with h.store.read() as conn:
        return [r.details for r in audit_records(conn) if r.action == RESHAPE_ACTION]


def test_2_of_3_to_3_of_5_to_2_of_4_keeps_the_npub(five: Harness) -> None:
    h = five
    ctx = context(h)
    identity_id, pubkey, holders = create(h)
    old = shares_at(h, identity_id, 0, holders)
    secret = dealer.reconstruct(old, 2)  # test-only, to compare against

    # 3-of-5, in an order that moves every old holder to another participant id and
    # brings in two signers that never held a share of this identity.
    newcomers = tuple(sid for sid in FIVE if sid not in holders)
    wide = (newcomers[0], *reversed(holders), newcomers[1])
    result = reshape_identity(ctx, identity_id, threshold=3, signer_ids=wide, grace_seconds=0)
    assert (result.from_shape, result.to_shape, result.pubkey) == ("2-of-3", "3-of-5", pubkey)
    assert (result.from_epoch, result.to_epoch, result.leftovers) == (0, 1, ())
    assert len(result.quorum) == 2 and set(result.quorum) <= set(holders)
    record = ctx.identity(identity_id)
    assert (record.threshold, record.participants, record.epoch) == (3, 5, 1)
    assert signer_ids_of(record) == wide and record.group_pubkey == pubkey
    assert epochs_everywhere(h, identity_id) == {sid: (1,) for sid in FIVE}
    assert sign_with_every_subset(h, identity_id, pubkey) == 10

    mid = shares_at(h, identity_id, 1, wide)
    for triple in itertools.combinations(range(5), 3):
        assert dealer.reconstruct({j: mid[j] for j in triple}, 3) == secret
    # Two new shares are not enough, and an old share does not stand in for a third.
    for i, (j, k) in itertools.product(old, itertools.combinations(range(5), 2)):
        others = {j: mid[j], k: mid[k]}
        if i not in others:
            assert dealer.reconstruct({**others, i: old[i]}, 3) != secret

    # 2-of-4 on a new set without signer-4 (FIVE[3]), which must end up holding nothing.
    narrow = tuple(sid for sid in reversed(wide) if sid != FIVE[3])
    result = reshape_identity(ctx, identity_id, threshold=2, signer_ids=narrow, grace_seconds=0)
    assert (result.from_shape, result.to_shape, result.to_epoch) == ("3-of-5", "2-of-4", 2)
    record = ctx.identity(identity_id)
    assert (record.threshold, record.participants, record.epoch) == (2, 4, 2)
    assert signer_ids_of(record) == narrow and record.group_pubkey == pubkey
    held = epochs_everywhere(h, identity_id)
    assert held == {sid: (() if sid == FIVE[3] else (2,)) for sid in FIVE}
    assert sign_with_every_subset(h, identity_id, pubkey) == 6

    new = shares_at(h, identity_id, 2, narrow)
    for pair in itertools.combinations(range(4), 2):
        assert dealer.reconstruct({j: new[j] for j in pair}, 2) == secret
    for (i, share_i), j in itertools.product(mid.items(), range(4)):
        if i != j:
            assert dealer.reconstruct({i: share_i, j: new[j]}, 2) != secret
    for (i, share_i), j in itertools.product(old.items(), range(4)):
        if i != j:
            assert dealer.reconstruct({i: share_i, j: new[j]}, 2) != secret

    audit = reshape_audit(h)
    assert [(a["from"], a["to"]) for a in audit] == [
        ("2-of-3", "3-of-5"),
        ("3-of-5", "2-of-4"),
    ]
    assert audit[1]["signers"] == list(narrow)
    assert (audit[1]["from_epoch"], audit[1]["to_epoch"]) == (1, 2)
    # A refresh afterwards works on the new shape.
    assert refresh_identity(ctx, identity_id, grace_seconds=0).to_epoch == 3
    sign_verified(h, identity_id, pubkey)


def test_down_to_1_of_2_and_back_to_3_of_3(five: Harness) -> None:
    """The edges: t' = 1 (every holder signs alone), then a quorum of one dealer (λ = 1)."""
    h = five
    ctx = context(h)
    identity_id, pubkey, holders = create(h)
    pair = (FIVE[4], holders[0])
    result = reshape_identity(ctx, identity_id, threshold=1, signer_ids=pair, grace_seconds=0)
    assert result.to_shape == "1-of-2"
    assert sign_with_every_subset(h, identity_id, pubkey) == 2
    result = reshape_identity(ctx, identity_id, threshold=3, signer_ids=FIVE[2:], grace_seconds=0)
    assert (result.from_shape, result.to_shape, len(result.quorum)) == ("1-of-2", "3-of-3", 1)
    assert sign_with_every_subset(h, identity_id, pubkey) == 1
    assert epochs_everywhere(h, identity_id) == {
        sid: ((2,) if sid in FIVE[2:] else ()) for sid in FIVE
    }


def test_a_holder_down_is_left_out_of_the_quorum(five: Harness) -> None:
    h = five
    identity_id, pubkey, holders = create(h)
    h.signers[holders[0]].down = True  # neither dealer nor in the new set
    new_set = (*holders[1:], *FIVE[3:])
    result = reshape_identity(
        context(h), identity_id, threshold=2, signer_ids=new_set, grace_seconds=0
    )
    assert set(result.quorum) == set(holders[1:])
    assert result.leftovers == (holders[0],)  # its old share waits for the next clean-up
    h.signers[holders[0]].down = False
    sign_with_every_subset(h, identity_id, pubkey)


def assert_unchanged(h: Harness, identity_id: str, pubkey: str, holders: tuple[str, ...]) -> None:
    record = context(h).identity(identity_id)
    assert (record.threshold, record.participants, record.epoch) == (2, 3, 0)
    assert signer_ids_of(record) == holders
    held = epochs_everywhere(h, identity_id)
    assert held == {sid: ((0,) if sid in holders else ()) for sid in FIVE}
    sign_verified(h, identity_id, pubkey)
    assert reshape_audit(h) == []


@pytest.mark.parametrize("step", ["reshape_receive", "partial_sign", "activate"])
def test_a_failure_mid_reshape_leaves_the_old_epoch_signing(
    five: Harness, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    h = five
    identity_id, pubkey, holders = create(h)
    from nostr_passport.service.lifecycle import reshape as reshape_module

    def crash(*_: Any, **__: Any) -> Any:
        raise Crash(f"{step} crashed")

    with monkeypatch.context() as patch:
        if step == "activate":
            patch.setattr(reshape_module, "activate_epoch", crash)
        elif step == "partial_sign":  # three of five fail while the probe signs
            for sid in FIVE[:3]:
                patch.setattr(local(h, sid), "partial_sign", crash)
        else:
            patch.setattr(local(h, FIVE[4]), step, crash)
        with pytest.raises(ReshapeAbortedError):
            reshape_identity(context(h), identity_id, threshold=3, signer_ids=FIVE, grace_seconds=0)
    for sid in FIVE:
        h.passport.pool.mark_ok(sid)
    assert_unchanged(h, identity_id, pubkey, holders)
    # Nothing is left behind that stops the next attempt.
    reshape_identity(context(h), identity_id, threshold=3, signer_ids=FIVE, grace_seconds=0)
    sign_with_every_subset(h, identity_id, pubkey)


@pytest.mark.parametrize(
    ("threshold", "signers", "match"),
    [
        (4, FIVE[:3], "threshold must be between 1 and 3"),
        (0, FIVE[:3], "threshold must be between 1 and 3"),
        (True, FIVE[:3], "threshold must be an integer"),
        (2, (FIVE[0], FIVE[1], FIVE[0]), "distinct"),
        (2, (FIVE[0], "signer-nowhere"), "not configured on this gateway: signer-nowhere"),
        (1, FIVE[:1], "2 to"),
    ],
)
def test_bad_shapes_are_refused_and_nothing_changes(
    five: Harness, threshold: Any, signers: tuple[str, ...], match: str
) -> None:
    h = five
    identity_id, pubkey, holders = create(h)
    with pytest.raises(BadRequestError, match=match):
        reshape_identity(
            context(h), identity_id, threshold=threshold, signer_ids=signers, grace_seconds=0
        )
    assert_unchanged(h, identity_id, pubkey, holders)
    for sid in FIVE:
        assert h.signers[sid].count("reshape_deal") == 0


def test_a_dealer_moving_its_constant_is_refused(
    five: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = five
    identity_id, pubkey, holders = create(h)
    bad = local(h, holders[1])
    real = bad.reshape_deal

    def shifted(*args: Any, **kwargs: Any) -> Any:
        deal = real(*args, **kwargs)
        return replace(deal, commitments=(_plus_g(deal.commitments[0]), *deal.commitments[1:]))

    monkeypatch.setattr(bad, "reshape_deal", shifted)
    with pytest.raises(ReshapeAbortedError, match="constant other than its weighted share"):
        reshape_identity(context(h), identity_id, threshold=3, signer_ids=FIVE, grace_seconds=0)
    monkeypatch.undo()
    assert_unchanged(h, identity_id, pubkey, holders)


def _plus_g(commitment: bytes, sign: int = 1) -> bytes:
    g = curve.point_mul_g(sign)
    point = curve.point_add(curve.point_from_cbytes(commitment), g)
    assert point is not None
    return curve.cbytes(point)


def _deals(h: Harness, identity_id: str, holders: tuple[str, ...], new_set: tuple[str, ...]) -> Any:
    infos = {sid: local(h, sid).info() for sid in FIVE}
    slots = slots_for(new_set, infos)
    return tuple(
        local(h, sid).reshape_deal(identity_id, 0, 1, (0, 1), 3, slots) for sid in holders[:2]
    )


def test_receivers_refuse_shifted_constants_even_when_they_add_up(five: Harness) -> None:
    """Two colluding dealers shift their constants by +G and -G: the sum is still the key."""
    h = five
    identity_id, _, holders = create(h)
    group = bytes.fromhex(context(h).identity(identity_id).group_pubkey_dealt)
    deals = _deals(h, identity_id, holders, FIVE)
    first, second = deals
    plus = replace(first, commitments=(_plus_g(first.commitments[0]), *first.commitments[1:]))
    minus = replace(
        second, commitments=(_plus_g(second.commitments[0], -1), *second.commitments[1:])
    )
    assert reshape_math.summed_commitments([plus.commitments, minus.commitments], group)[0] == group
    for receiver in (FIVE[0], FIVE[4]):  # an old holder and a newcomer
        participant = FIVE.index(receiver)
        with pytest.raises(InvalidShareError, match="weighted share"):
            local(h, receiver).reshape_receive(
                identity_id, 1, participant, 3, 5, group, (plus, minus)
            )
        assert 1 not in local(h, receiver).store.epochs(identity_id)
    # The honest dealings go through, for a newcomer too.
    attestation = local(h, FIVE[4]).reshape_receive(identity_id, 1, 4, 3, 5, group, deals)
    assert b'"threshold":3' in attestation.statement
    assert local(h, FIVE[4]).held_share(identity_id).participant == 4


def test_a_reshape_sub_share_does_not_open_as_a_refresh_one(five: Harness) -> None:
    h = five
    identity_id, _, holders = create(h)
    deal = _deals(h, identity_id, holders, FIVE)[0]
    receiver = local(h, FIVE[2])
    blob = next(w.blob for w in deal.sealed if w.participant == 2)
    with pytest.raises(PassportError):
        receiver.provider.unwrap_transported(
            blob, refresh_math.refresh_aad(identity_id, deal.dealer, 2, 1)
        )
    right = reshape_math.reshape_aad(identity_id, deal.dealer, 2, 0, 1, 3, 5, (0, 1))
    assert len(receiver.provider.unwrap_transported(blob, right)) == 32
    for wrong in (
        reshape_math.reshape_aad(identity_id, deal.dealer, 2, 0, 1, 2, 5, (0, 1)),  # t'
        reshape_math.reshape_aad(identity_id, deal.dealer, 2, 0, 1, 3, 5, (0, 2)),  # quorum
        reshape_math.reshape_aad(identity_id, deal.dealer, 3, 0, 1, 3, 5, (0, 1)),  # recipient
    ):
        with pytest.raises(PassportError):
            receiver.provider.unwrap_transported(blob, wrong)


def test_reshape_with_a_remote_signer(tmp_path: Path) -> None:
    """One holder is its own process behind the signed HTTP transport: it deals and receives."""
    coordinator = Ed25519PrivateKey.generate()
    server = start_signer("remote-1", tmp_path / "remote", coordinator)
    try:
        remote = HttpSignerClient(server.url, "remote-1", coordinator, server.public_key, 10.0)
        clients: dict[str, Any] = {
            "local-0": real_signer("local-0", tmp_path),
            "remote-1": remote,
            "local-2": real_signer("local-2", tmp_path),
            "local-3": real_signer("local-3", tmp_path),
        }
        with database_url("sqlite", tmp_path) as url:
            store = Store.open(url)
            h = harness_over(store, clients)
            try:
                h.signers["local-3"].down = True  # created on local-0, remote-1, local-2
                view = h.passport.create_identity(h.admin, threshold=2, participants=3)
                h.signers["local-3"].down = False
                h.passport.pool.mark_ok("local-3")
                # local-0 down: the quorum must be remote-1 and local-2.
                h.signers["local-0"].down = True
                new_set = ("local-3", "remote-1", "local-2")
                result = reshape_identity(
                    context(h), view.id, threshold=2, signer_ids=new_set, grace_seconds=0
                )
                assert set(result.quorum) == {"remote-1", "local-2"}
                h.signers["local-2"].down = True  # local-3 and the remote one sign
                sign_verified(h, view.id, view.pubkey)
                held = remote.held_share(view.id)
                assert (held.epoch, held.participant, held.threshold) == (1, 1, 2)
            finally:
                h.close()
                store.close()
    finally:
        server.stop()
