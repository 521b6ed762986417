"""Proofs against signed checkpoints: a record is in the log, an old log is a prefix of a new.

An inclusion proof carries the record itself (so its leaf hash is recomputed by the
verifier, never taken on trust), the RFC 6962 audit path and the checkpoint it leads to.
A consistency proof carries both checkpoints and the RFC 6962 consistency path. The
verifiers are pure: they need nothing but the proof (and, to pin the audit key, the
trusted key). The proofs are produced from stored leaf hashes, and only after checking
that those hashes still give the checkpoint's root, so the server never hands out a
proof that fails.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from nostr_passport.crypto import merkle
from nostr_passport.errors import AuditIntegrityError, BadRequestError, NotFoundError
from nostr_passport.store import Store
from nostr_passport.store import checkpoints as stored
from nostr_passport.store.audit_log import AuditRecord, leaf_hashes, record_leaf_hash
from nostr_passport.store.checkpoints import Checkpoint

from .audit_checkpoints import signature_problem
from .audit_records import (
    UnreadableRecord,
    checkpoint_from_json,
    checkpoint_json,
    json_hex_list,
    json_object,
    record_from_json,
    record_json,
    stored_records,
)

INCLUSION_KEYS = frozenset({"record", "audit_path", "checkpoint"})
CONSISTENCY_KEYS = frozenset({"old", "new", "path"})


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str

    @classmethod
    def passed(cls, reason: str = "verified") -> Verdict:
        return cls(True, reason)

    @classmethod
    def failed(cls, reason: str) -> Verdict:
        return cls(False, reason)


@dataclass(frozen=True)
class InclusionProof:
    record: AuditRecord
    audit_path: tuple[str, ...]  # hex node hashes, leaf to root
    checkpoint: Checkpoint

    def to_json(self) -> dict[str, Any]:
        return {
            "record": record_json(self.record),
            "audit_path": list(self.audit_path),
            "checkpoint": checkpoint_json(self.checkpoint),
        }

    @classmethod
    def from_json(cls, value: object, what: str = "inclusion proof") -> InclusionProof:
        data = json_object(value, INCLUSION_KEYS, what)
        return cls(
            record=record_from_json(data["record"], f"{what}.record"),
            audit_path=json_hex_list(data["audit_path"], f"{what}.audit_path"),
            checkpoint=checkpoint_from_json(data["checkpoint"], f"{what}.checkpoint"),
        )


@dataclass(frozen=True)
class ConsistencyProof:
    old: Checkpoint
    new: Checkpoint
    path: tuple[str, ...]  # hex node hashes

    def to_json(self) -> dict[str, Any]:
        return {
            "old": checkpoint_json(self.old),
            "new": checkpoint_json(self.new),
            "path": list(self.path),
        }

    @classmethod
    def from_json(cls, value: object, what: str = "consistency proof") -> ConsistencyProof:
        data = json_object(value, CONSISTENCY_KEYS, what)
        return cls(
            old=checkpoint_from_json(data["old"], f"{what}.old"),
            new=checkpoint_from_json(data["new"], f"{what}.new"),
            path=json_hex_list(data["path"], f"{what}.path"),
        )


# ---------------------------------------------------------------- producing


def _leaves_under(conn: Connection, checkpoint: Checkpoint) -> list[bytes]:
    """The first tree_size stored leaf hashes, checked against the checkpoint's root."""
    leaves = leaf_hashes(conn, 0, checkpoint.tree_size)
    if len(leaves) != checkpoint.tree_size or any(len(h) != 32 for h in leaves):
        raise AuditIntegrityError(
            f"the audit log no longer holds the {checkpoint.tree_size} records its "
            "checkpoint covers"
        )
    if merkle.root_hash(leaves).hex() != checkpoint.root_hash:
        raise AuditIntegrityError(
            f"the audit log no longer matches its checkpoint at size {checkpoint.tree_size}"
        )
    return leaves


CheckpointRef = Checkpoint | int | None


def _stored_checkpoint(conn: Connection, tree_size: int) -> Checkpoint:
    checkpoint = stored.checkpoint_at(conn, tree_size)
    if checkpoint is None:
        raise NotFoundError(f"no checkpoint of tree size {tree_size}")
    return checkpoint


def _checkpoint_for(conn: Connection, index: int, ref: CheckpointRef) -> Checkpoint:
    """The checkpoint a proof leads to: given (e.g. one an auditor kept), stored at a
    size, or the latest; it must cover record `index`."""
    if ref is None:
        checkpoint = stored.latest_checkpoint(conn)
        if checkpoint is None or checkpoint.tree_size <= index:
            raise NotFoundError(
                f"no signed checkpoint covers audit record {index} yet: create one first"
            )
        return checkpoint
    checkpoint = ref if isinstance(ref, Checkpoint) else _stored_checkpoint(conn, ref)
    if checkpoint.tree_size <= index:
        raise BadRequestError(
            f"the checkpoint of size {checkpoint.tree_size} does not cover record {index}"
        )
    return checkpoint


def inclusion_proof_for(
    store: Store, record_index: int, checkpoint: CheckpointRef = None
) -> InclusionProof:
    """Record `record_index` with its audit path to `checkpoint`: a Checkpoint (stored or
    kept elsewhere: its root must match the log), a stored checkpoint's tree size, or
    None for the latest checkpoint."""
    if isinstance(record_index, bool) or not isinstance(record_index, int) or record_index < 0:
        raise BadRequestError("record index must be a non-negative integer")
    with store.read() as conn:
        target = _checkpoint_for(conn, record_index, checkpoint)
        leaves = _leaves_under(conn, target)
        found = next(stored_records(conn, record_index, record_index + 1), None)
    if found is None or isinstance(found, UnreadableRecord):
        raise AuditIntegrityError(f"audit record {record_index} is missing or unreadable")
    if record_leaf_hash(found.index, found.entry()) != leaves[record_index]:
        raise AuditIntegrityError(f"audit record {record_index} does not match its leaf hash")
    path = merkle.inclusion_proof(record_index, leaves)
    return InclusionProof(found, tuple(h.hex() for h in path), target)


def consistency_proof_between(
    store: Store, old: Checkpoint | int, new: Checkpoint | int
) -> ConsistencyProof:
    """Proof that checkpoint `old` is a prefix of checkpoint `new` (each a Checkpoint,
    stored or kept elsewhere, or a stored checkpoint's tree size)."""
    with store.read() as conn:
        first = old if isinstance(old, Checkpoint) else _stored_checkpoint(conn, old)
        second = new if isinstance(new, Checkpoint) else _stored_checkpoint(conn, new)
        if first.tree_size > second.tree_size:
            raise BadRequestError("the old checkpoint must not be larger than the new one")
        leaves = _leaves_under(conn, second)
    if merkle.root_hash(leaves[: first.tree_size]).hex() != first.root_hash:
        raise AuditIntegrityError(
            f"the checkpoint of size {first.tree_size} is not a prefix of the log"
        )
    path = merkle.consistency_proof(first.tree_size, leaves)
    return ConsistencyProof(first, second, tuple(h.hex() for h in path))


# ---------------------------------------------------------------- verifying (pure)


def verify_inclusion_proof(
    proof: InclusionProof, *, trusted_keys: Collection[str] | None = None
) -> Verdict:
    checkpoint, record = proof.checkpoint, proof.record
    problem = signature_problem(checkpoint, trusted_keys)
    if problem is not None:
        return Verdict.failed(f"checkpoint: {problem}")
    leaf = record_leaf_hash(record.index, record.entry())
    if leaf.hex() != record.leaf_hash:
        return Verdict.failed(f"record {record.index}: its fields do not give its leaf hash")
    try:
        path = [bytes.fromhex(h) for h in proof.audit_path]
        root = bytes.fromhex(checkpoint.root_hash)
    except ValueError:
        return Verdict.failed("the audit path or the checkpoint root is not hex")
    if not merkle.verify_inclusion(record.index, checkpoint.tree_size, leaf, path, root):
        return Verdict.failed(
            f"record {record.index} is not in the tree of size {checkpoint.tree_size}"
        )
    return Verdict.passed(
        f"record {record.index} is in the signed tree of size {checkpoint.tree_size}"
    )


def verify_consistency_proof(
    proof: ConsistencyProof, *, trusted_keys: Collection[str] | None = None
) -> Verdict:
    for name, checkpoint in (("old", proof.old), ("new", proof.new)):
        problem = signature_problem(checkpoint, trusted_keys)
        if problem is not None:
            return Verdict.failed(f"{name} checkpoint: {problem}")
    if proof.old.log_id != proof.new.log_id:
        return Verdict.failed("the checkpoints belong to different logs")
    try:
        old_root, new_root = bytes.fromhex(proof.old.root_hash), bytes.fromhex(proof.new.root_hash)
        path = [bytes.fromhex(h) for h in proof.path]
    except ValueError:
        return Verdict.failed("the consistency path or a checkpoint root is not hex")
    consistent = merkle.verify_consistency(
        proof.old.tree_size, proof.new.tree_size, old_root, new_root, path
    )
    if not consistent:
        return Verdict.failed(
            f"the tree of size {proof.old.tree_size} is not a prefix of the tree of size "
            f"{proof.new.tree_size}"
        )
    return Verdict.passed(
        f"the tree of size {proof.old.tree_size} is a prefix of the tree of size "
        f"{proof.new.tree_size}"
    )
