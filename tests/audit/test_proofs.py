"""Inclusion and consistency proofs: produced from the store, verified offline, and
rejected once anything in them changes."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from nostr_passport.crypto import merkle
from nostr_passport.errors import (
    AuditIntegrityError,
    BadRequestError,
    MalformedAuditDataError,
    NotFoundError,
)
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.service.audit_proofs import (
    ConsistencyProof,
    InclusionProof,
    consistency_proof_between,
    inclusion_proof_for,
    verify_consistency_proof,
    verify_inclusion_proof,
)
from nostr_passport.service.audit_records import canonical_document
from nostr_passport.service.audit_verify import GrowingTree
from nostr_passport.store import Store
from nostr_passport.store.canonical import canonical_json_bytes

from .logs import build_log, sql


def test_growing_tree_agrees_with_rfc6962_reference() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(70)]
    tree = GrowingTree()
    assert tree.root(0) == merkle.empty_root()
    for n in range(1, len(leaves) + 1):
        tree.append(leaves[n - 1])
        assert tree.root(n) == merkle.root_hash(leaves[:n])
        for m in range(n + 1):
            assert tree.consistency_proof(m, n) == merkle.consistency_proof(m, leaves[:n])
    with pytest.raises(ValueError):
        tree.root(71)


def test_every_record_is_proven_in_every_checkpoint_covering_it(
    store: Store, audit_provider: HsmProvider
) -> None:
    build_log(store, audit_provider)
    trusted = {audit_provider.attestation_public_key().hex()}
    for size in (10, 25, 40):
        for index in range(size):
            proof = inclusion_proof_for(store, index, size)
            assert proof.record.index == index and proof.checkpoint.tree_size == size
            assert verify_inclusion_proof(proof, trusted_keys=trusted).ok
            # Through canonical JSON and back, as a proof file would travel.
            data = canonical_json_bytes(proof.to_json())
            again = InclusionProof.from_json(canonical_document(data, "proof"))
            assert again == proof
    assert inclusion_proof_for(store, 39).checkpoint.tree_size == 40  # default: latest


def test_a_changed_inclusion_proof_fails(store: Store, audit_provider: HsmProvider) -> None:
    build_log(store, audit_provider)
    proof = inclusion_proof_for(store, 17, 25)
    other = SimulatorProvider("other")
    try:
        foreign_key = {other.attestation_public_key().hex()}
    finally:
        other.close()
    path = list(proof.audit_path)
    path[1] = "00" * 32
    bad = [
        replace(proof, record=replace(proof.record, actor="mallory")),
        replace(proof, record=replace(proof.record, details={"n": 1})),
        replace(proof, audit_path=tuple(path)),
        replace(proof, audit_path=proof.audit_path[:-1]),
        replace(proof, checkpoint=replace(proof.checkpoint, tree_size=26)),
        replace(proof, checkpoint=replace(proof.checkpoint, root_hash="11" * 32)),
        replace(
            proof, checkpoint=replace(proof.checkpoint, signature=proof.checkpoint.signature[:-2])
        ),
    ]
    for changed in bad:
        assert not verify_inclusion_proof(changed).ok
    assert not verify_inclusion_proof(proof, trusted_keys=foreign_key).ok
    # The record moved to another index, with a leaf hash recomputed for it: still caught.
    from nostr_passport.store.audit_log import record_leaf_hash

    moved = replace(proof.record, index=18)
    moved = replace(moved, leaf_hash=record_leaf_hash(18, moved.entry()).hex())
    assert not verify_inclusion_proof(replace(proof, record=moved)).ok


def test_consistency_between_every_pair_of_checkpoints(
    store: Store, audit_provider: HsmProvider
) -> None:
    build_log(store, audit_provider)
    trusted = {audit_provider.attestation_public_key().hex()}
    for old, new in itertools.combinations_with_replacement((10, 25, 40), 2):
        proof = consistency_proof_between(store, old, new)
        assert verify_consistency_proof(proof, trusted_keys=trusted).ok
        data = canonical_json_bytes(proof.to_json())
        assert ConsistencyProof.from_json(canonical_document(data, "proof")) == proof
    proof = consistency_proof_between(store, 10, 40)
    swapped = ConsistencyProof(proof.new, proof.old, proof.path)
    assert not verify_consistency_proof(swapped).ok
    assert not verify_consistency_proof(replace(proof, path=proof.path[1:])).ok
    assert not verify_consistency_proof(replace(proof, path=("00" * 32, *proof.path[1:]))).ok
    mixed = replace(proof, new=replace(proof.new, log_id="another log"))
    assert not verify_consistency_proof(mixed).ok


def test_proof_requests_that_cannot_be_served(store: Store, audit_provider: HsmProvider) -> None:
    with pytest.raises(NotFoundError):
        inclusion_proof_for(store, 0)
    build_log(store, audit_provider, size=30, checkpoint_sizes=(10, 25))
    with pytest.raises(NotFoundError, match="no signed checkpoint covers"):
        inclusion_proof_for(store, 27)
    with pytest.raises(NotFoundError):
        inclusion_proof_for(store, 3, 11)
    with pytest.raises(BadRequestError):
        inclusion_proof_for(store, 12, 10)
    with pytest.raises(BadRequestError):
        inclusion_proof_for(store, -1)
    with pytest.raises(BadRequestError):
        consistency_proof_between(store, 25, 10)
    with pytest.raises(NotFoundError):
        consistency_proof_between(store, 10, 11)


def test_no_proof_is_served_from_a_tampered_store(
    store: Store, audit_provider: HsmProvider
) -> None:
    build_log(store, audit_provider)
    sql(store, "UPDATE audit_log SET actor = 'mallory' WHERE idx = 5")
    with pytest.raises(AuditIntegrityError, match="record 5"):
        inclusion_proof_for(store, 5)
    assert verify_inclusion_proof(inclusion_proof_for(store, 6)).ok  # the others still prove
    sql(store, f"UPDATE audit_log SET leaf_hash = '{'00' * 32}' WHERE idx = 7")
    with pytest.raises(AuditIntegrityError, match="no longer matches"):
        inclusion_proof_for(store, 6)
    with pytest.raises(AuditIntegrityError):
        consistency_proof_between(store, 10, 25)


@pytest.mark.parametrize(
    "value",
    [
        None,
        [],
        {},
        {"record": {}, "audit_path": [], "checkpoint": {}},
        {"record": None, "audit_path": "00", "checkpoint": None},
    ],
)
def test_malformed_proofs_are_our_error(value: object) -> None:
    with pytest.raises(MalformedAuditDataError):
        InclusionProof.from_json(value)
    with pytest.raises(MalformedAuditDataError):
        ConsistencyProof.from_json(value)


def test_uppercase_hex_is_refused(store: Store, audit_provider: HsmProvider) -> None:
    """One spelling per value: otherwise a case flip would change bytes but not meaning."""
    build_log(store, audit_provider, size=4, checkpoint_sizes=(4,))
    data = inclusion_proof_for(store, 1).to_json()
    data["checkpoint"]["signature"] = data["checkpoint"]["signature"].upper()
    with pytest.raises(MalformedAuditDataError, match="lowercase"):
        InclusionProof.from_json(data)


def test_proofs_against_a_checkpoint_kept_elsewhere(
    store: Store, audit_provider: HsmProvider
) -> None:
    """An auditor's own copy of a checkpoint still gets proofs once the row is gone,
    and a checkpoint the log does not match gets none."""
    kept = build_log(store, audit_provider)
    sql(store, "DELETE FROM audit_checkpoints WHERE tree_size IN (10, 25)")
    proof = inclusion_proof_for(store, 4, kept[0])
    assert proof.checkpoint == kept[0] and verify_inclusion_proof(proof).ok
    assert verify_consistency_proof(consistency_proof_between(store, kept[0], 40)).ok
    assert verify_consistency_proof(consistency_proof_between(store, kept[1], kept[2])).ok
    with pytest.raises(NotFoundError):
        consistency_proof_between(store, 10, 40)
    foreign = replace(kept[1], root_hash="22" * 32)
    with pytest.raises(AuditIntegrityError):
        inclusion_proof_for(store, 4, foreign)
    with pytest.raises(AuditIntegrityError):
        consistency_proof_between(store, foreign, 40)
