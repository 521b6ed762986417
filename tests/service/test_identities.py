"""Identity lifecycle: create within limits, placement, show, disable/enable, delete."""

from __future__ import annotations

import json

import pytest

from nostr_passport.errors import (
    BadRequestError,
    IdentityDisabledError,
    NotFoundError,
    PassportError,
    PermissionDeniedError,
    SignersUnavailableError,
)
from nostr_passport.hsm import verify_attestation_signature
from nostr_passport.service.placement import Candidate, place_shares
from nostr_passport.store.audit_log import audit_records

from ..store.databases import dump_tables
from .harness import Harness


def test_create_show_and_attestations(harness: Harness) -> None:
    p = harness.passport
    view = p.create_identity(harness.admin, threshold=2, participants=3, label="Alice ☃")
    assert view.npub.startswith("npub1") and len(view.pubkey) == 64
    assert (view.threshold, view.participants, view.status) == (2, 3, "active")
    assert sorted(s.signer_id for s in view.signers) == ["signer-1", "signer-2", "signer-3"]
    shown = p.identity(harness.admin, view.id)
    assert shown == view
    for att in shown.attestations:
        statement = json.loads(att.statement)
        assert statement["identity_id"] == view.id
        assert statement["pubshare"] == shown.signers[att.participant].pubshare
        assert verify_attestation_signature(
            bytes.fromhex(att.public_key), att.statement.encode(), bytes.fromhex(att.signature)
        )
    assert [v.id for v in p.list_identities(harness.admin)] == [view.id]


@pytest.mark.parametrize(("t", "n"), [(1, 3), (3, 2), (2, 4), (0, 2), (2, 1), (4, 3)])
def test_shapes_outside_the_limits_are_refused_and_change_nothing(
    fast_harness: Harness, t: int, n: int
) -> None:
    before = dump_tables(fast_harness.store)
    with pytest.raises(BadRequestError):
        fast_harness.passport.create_identity(fast_harness.admin, threshold=t, participants=n)
    assert dump_tables(fast_harness.store) == before
    assert all(s.count("deal_identity") == 0 for s in fast_harness.signers.values())


def test_two_of_two_spreads_over_signers(fast_harness: Harness) -> None:
    p = fast_harness.passport
    holders: list[str] = []
    for _ in range(3):
        view = p.create_identity(fast_harness.admin, threshold=2, participants=2)
        holders.extend(s.signer_id for s in view.signers)
    # least-loaded first: three 2-of-2 identities put two shares on every signer
    assert sorted(holders) == sorted(["signer-1", "signer-2", "signer-3"] * 2)


def test_create_needs_enough_healthy_signers(fast_harness: Harness) -> None:
    fast_harness.signers["signer-2"].down = True
    before = dump_tables(fast_harness.store)
    with pytest.raises(SignersUnavailableError, match="signer-2"):
        fast_harness.passport.create_identity(fast_harness.admin, threshold=2, participants=3)
    after = dump_tables(fast_harness.store)
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }


def test_failed_distribution_leaves_no_identity_and_no_shares(fast_harness: Harness) -> None:
    h = fast_harness
    original = h.signers["signer-3"].inner.receive_share

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionResetError("lost mid-keygen")

    h.signers["signer-3"].inner.receive_share = broken
    with pytest.raises(SignersUnavailableError, match="distribution"):
        h.passport.create_identity(h.admin, threshold=2, participants=3, keygen="dealer")
    h.signers["signer-3"].inner.receive_share = original
    assert dump_tables(h.store)["identities"] == []
    with h.store.read() as conn:
        attempted = [r.identity_id for r in audit_records(conn) if r.action == "identity.create"]
    assert len(attempted) == 2 and attempted[0] == attempted[1]  # allowed, then error
    for s in h.signers.values():  # the dealt shares were discarded everywhere
        assert s.inner.store.epochs(attempted[0]) == ()


def test_failed_dkg_leaves_no_identity_and_no_shares(fast_harness: Harness) -> None:
    h = fast_harness
    original = h.signers["signer-3"].inner.dkg_finalize

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionResetError("lost mid-DKG")

    h.signers["signer-3"].inner.dkg_finalize = broken
    before = dump_tables(h.store)
    with pytest.raises(PassportError, match="finalize"):
        h.passport.create_identity(h.admin, threshold=2, participants=3)
    h.signers["signer-3"].inner.dkg_finalize = original
    assert dump_tables(h.store)["identities"] == before["identities"] == []
    with h.store.read() as conn:
        attempts = [r for r in audit_records(conn) if r.action == "identity.create"]
    assert [r.outcome for r in attempts] == ["allowed", "error"]
    assert attempts[0].details["keygen"] == "dkg"
    for s in h.signers.values():  # what the others finalised was deleted again
        assert s.inner.store.epochs(attempts[0].identity_id) == ()


def test_keygen_default_is_dkg_and_dealer_on_request(fast_harness: Harness) -> None:
    h = fast_harness
    default = h.passport.create_identity(h.admin, threshold=2, participants=3)
    dealt = h.passport.create_identity(h.admin, threshold=2, participants=3, keygen="dealer")
    assert (default.keygen_method, dealt.keygen_method) == ("dkg", "dealer")
    for identity in (default, dealt):
        assert h.passport.sign_events(h.admin, identity.id, [{"kind": 1}])
    with pytest.raises(BadRequestError, match="keygen"):
        h.passport.create_identity(h.admin, threshold=2, participants=3, keygen="shamir")


def test_disable_enable_cycle(harness: Harness) -> None:
    p = harness.passport
    identity_id = p.create_identity(harness.admin, threshold=2, participants=3).id
    assert p.set_status(harness.admin, identity_id, "disabled").status == "disabled"
    with pytest.raises(IdentityDisabledError):
        p.sign_events(harness.admin, identity_id, [{"kind": 1}])
    with pytest.raises(IdentityDisabledError):
        p.nip44_encrypt(
            harness.admin,
            identity_id,
            "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            "x",
        )
    assert p.set_status(harness.admin, identity_id, "active").status == "active"
    assert p.sign_events(harness.admin, identity_id, [{"kind": 1}])
    with pytest.raises(NotFoundError):
        p.set_status(harness.admin, "id_missing", "disabled")


def test_delete_is_admin_only_and_removes_everything(harness: Harness) -> None:
    h = harness
    identity_id = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    _, operator = h.token("operator")
    with pytest.raises(PermissionDeniedError):
        h.passport.delete_identity(operator, identity_id)
    report = h.passport.delete_identity(h.admin, identity_id)
    assert report.deleted and report.shares_remaining_at == ()
    dump = dump_tables(h.store)
    assert dump["identities"] == [] and dump["identity_shares"] == []
    for s in h.signers.values():
        with pytest.raises(NotFoundError):
            s.inner.held_share(identity_id)
    with pytest.raises(NotFoundError):
        h.passport.identity(h.admin, identity_id)
    actions = [(r[4], r[6]) for r in dump["audit_log"] if r[5] == identity_id]
    assert ("identity.delete", "ok") in actions


def test_delete_with_a_signer_down_disables_then_force_deletes(fast_harness: Harness) -> None:
    h = fast_harness
    identity_id = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    h.signers["signer-1"].down = True
    with pytest.raises(SignersUnavailableError, match="signer-1"):
        h.passport.delete_identity(h.admin, identity_id)
    assert h.passport.identity(h.admin, identity_id).status == "disabled"
    report = h.passport.delete_identity(h.admin, identity_id, force=True)
    assert report.shares_remaining_at == ("signer-1",)
    assert dump_tables(h.store)["identities"] == []


def test_placement_prefers_distinct_providers() -> None:
    candidates = [
        Candidate("a1", "hsm-a", True, 0),
        Candidate("a2", "hsm-a", True, 0),
        Candidate("b1", "hsm-b", True, 5),
        Candidate("c1", "hsm-c", True, 9),
        Candidate("d1", "hsm-d", False, 0),
    ]
    assert set(place_shares(candidates, 3)) == {"a1", "b1", "c1"}
    assert sorted(place_shares(candidates, 4)) == ["a1", "a2", "b1", "c1"]
    with pytest.raises(SignersUnavailableError, match="d1"):
        place_shares(candidates, 5)
