"""Verify a whole audit log, offline from an export file or from the live store.

One walk over the records in order, checking, at each position:
- record i has index i (no gap, no duplicate, nothing out of order) and its fields,
  re-encoded exactly as store/audit_log.py hashes them, give its stored leaf hash;
- after record s-1, every checkpoint of tree size s: its log id is the log's, its
  signature verifies (under a pinned key when `trusted_keys` is given), its root is the
  RFC 6962 root of the leaves recomputed so far, and the previous checkpoint is a prefix
  of it (an RFC 6962 consistency proof, built from those leaves and verified);
- at the end, a checkpoint larger than the records that remain means the tail was cut.
The first failure is reported with its position (record index or checkpoint size) and
the walk stops. An export's structural faults (header, counts, stray lines) come after
any fault of the log itself.

Limits, stated in docs/audit.md: records after the latest checkpoint are only as good as
the store; deleting the newest checkpoints together with the records they cover is seen
only against a checkpoint kept elsewhere (`witnessed`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nostr_passport.crypto import merkle
from nostr_passport.store import Store
from nostr_passport.store import checkpoints as stored
from nostr_passport.store.audit_log import AuditRecord, record_leaf_hash
from nostr_passport.store.checkpoints import Checkpoint

from .audit_checkpoints import signature_problem
from .audit_export import read_export
from .audit_records import Problem, UnreadableRecord, stored_records


class GrowingTree:
    """An RFC 6962 tree that grows by appending leaves, keeping every complete subtree.

    Roots and consistency proofs at any size cost O(log n) instead of the O(n) of
    recomputing from the leaves, so verifying a log with many checkpoints stays linear.
    Memory: about two hashes per leaf.
    """

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]  # _levels[h][i] = hash of leaves [i*2^h, (i+1)*2^h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        self._levels[0].append(leaf)
        height = 0
        while len(self._levels[height]) % 2 == 0:
            left, right = self._levels[height][-2:]
            if height + 1 == len(self._levels):
                self._levels.append([])
            self._levels[height + 1].append(merkle.node_hash(left, right))
            height += 1

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end); start is a multiple of the next power of two >=
        end - start (true of every range RFC 6962's recursion asks for)."""
        n = end - start
        if n == 0:
            return merkle.empty_root()
        if n & (n - 1) == 0:
            height = n.bit_length() - 1
            return self._levels[height][start >> height]
        k = 1 << ((n - 1).bit_length() - 1)
        return merkle.node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def root(self, size: int) -> bytes:
        if not 0 <= size <= self.size:
            raise ValueError("size is outside the tree")
        return self._subtree(0, size)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 6962 PROOF(first, D[second]), as crypto.merkle.consistency_proof computes it."""
        if not 0 <= first <= second <= self.size:
            raise ValueError("sizes are outside the tree")
        if first in (0, second):
            return []
        return self._subproof(first, 0, second, True)

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self._subtree(start, end)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return [*self._subproof(m, start, start + k, complete), self._subtree(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._subtree(start, start + k)]


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    records: int  # records verified (all of them when ok)
    checkpoints: int  # checkpoints verified
    verified_size: int  # tree size of the largest verified checkpoint (0: none)
    log_id: str | None
    key_ids: tuple[str, ...]  # SHA-256 of each checkpoint key's SPKI DER, hex
    keys_pinned: bool
    problem: Problem | None

    @property
    def unsigned_records(self) -> int:
        """Records after the last verified checkpoint: only as good as the store."""
        return max(self.records - self.verified_size, 0)

    def summary(self) -> str:
        if self.problem is not None:
            return f"FAILED at {self.problem.describe()}"
        pinned = "pinned key" if self.keys_pinned else "key carried by the log (not pinned)"
        return (
            f"OK: {self.records} records, {self.checkpoints} checkpoints verified "
            f"({pinned}); {self.unsigned_records} records after the latest checkpoint"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "checkpoints": self.checkpoints,
            "verified_size": self.verified_size,
            "unsigned_records": self.unsigned_records,
            "log_id": self.log_id,
            "key_ids": list(self.key_ids),
            "keys_pinned": self.keys_pinned,
            "problem": None if self.problem is None else self.problem.to_json(),
            "summary": self.summary(),
        }


def _merged(checkpoints: Iterable[Checkpoint], witnessed: Iterable[Checkpoint]) -> list[Checkpoint]:
    """Stored and witnessed checkpoints by size; identical copies once, conflicting
    copies of one size both kept (at least one of them then fails its root check)."""
    unique: dict[Checkpoint, None] = dict.fromkeys([*checkpoints, *witnessed])
    return sorted(unique, key=lambda c: c.tree_size)


class _Walk:
    def __init__(self, checkpoints: list[Checkpoint], trusted_keys: Collection[str] | None):
        self.pending = checkpoints
        self.next = 0
        self.trusted_keys = trusted_keys
        self.tree = GrowingTree()
        self.log_id = checkpoints[0].log_id if checkpoints else None
        self.previous: Checkpoint | None = None
        self.verified = 0

    def record(self, item: AuditRecord | UnreadableRecord) -> Problem | None:
        expected = self.tree.size
        if item.index is not None and item.index != expected:
            found = "a duplicate or out-of-order" if item.index < expected else "no"
            return Problem(
                "record", expected, f"{found} record here: next stored index is {item.index}"
            )
        if isinstance(item, UnreadableRecord):
            return Problem("record", expected, item.reason)
        leaf = record_leaf_hash(item.index, item.entry())
        if leaf.hex() != item.leaf_hash:
            return Problem("record", expected, "its fields do not give its stored leaf hash")
        self.tree.append(leaf)
        return self.checkpoints_due()

    def checkpoints_due(self) -> Problem | None:
        while self.next < len(self.pending) and self.pending[self.next].tree_size == self.tree.size:
            problem = self.checkpoint(self.pending[self.next])
            if problem is not None:
                return problem
            self.next += 1
        return None

    def checkpoint(self, checkpoint: Checkpoint) -> Problem | None:
        size = checkpoint.tree_size

        def bad(reason: str) -> Problem:
            return Problem("checkpoint", size, reason)

        if checkpoint.log_id != self.log_id:
            return bad(f"belongs to log {checkpoint.log_id!r}, not {self.log_id!r}")
        problem = signature_problem(checkpoint, self.trusted_keys)
        if problem is not None:
            return bad(problem)
        root = self.tree.root(size)
        previous = self.previous
        if root.hex() != checkpoint.root_hash:
            since = 0 if previous is None else previous.tree_size
            return bad(
                f"its root is not the root of records 0..{size - 1}: "
                f"a record in {since}..{size - 1} is not what was signed"
            )
        if previous is not None:
            consistent = merkle.verify_consistency(
                previous.tree_size,
                size,
                bytes.fromhex(previous.root_hash),
                root,
                self.tree.consistency_proof(previous.tree_size, size),
            )
            if not consistent:
                return bad(f"not consistent with the checkpoint at size {previous.tree_size}")
        self.previous = checkpoint
        self.verified += 1
        return None

    def end(self) -> Problem | None:
        if self.next < len(self.pending):
            size = self.pending[self.next].tree_size
            return Problem(
                "checkpoint",
                size,
                f"covers {size} records but the log has only {self.tree.size} "
                "(records removed from the tail?)",
            )
        return None


def _verified(
    records: Iterable[AuditRecord | UnreadableRecord],
    checkpoints: list[Checkpoint],
    trusted_keys: Collection[str] | None,
    file_problems: Sequence[Problem] = (),
) -> VerifyReport:
    walk = _Walk(checkpoints, trusted_keys)
    problem = walk.checkpoints_due()  # checkpoints of the empty tree
    if problem is None:
        for item in records:
            problem = walk.record(item)
            if problem is not None:
                break
    if problem is None:
        problem = walk.end()
    if problem is None and file_problems:
        problem = file_problems[0]
    return VerifyReport(
        ok=problem is None,
        records=walk.tree.size,
        checkpoints=walk.verified,
        verified_size=0 if walk.previous is None else walk.previous.tree_size,
        log_id=walk.log_id,
        key_ids=tuple(sorted({c.key_id for c in checkpoints})),
        keys_pinned=trusted_keys is not None,
        problem=problem,
    )


def verify_log(
    source: Store | bytes,
    *,
    trusted_keys: Collection[str] | None = None,
    witnessed: Sequence[Checkpoint] = (),
) -> VerifyReport:
    """Verify the log in `source` (a store, or the bytes of an export file).

    `trusted_keys`: hex SPKI DER of the audit keys to accept (None: any key the log
    carries, which proves integrity but not authorship). `witnessed`: checkpoints kept
    outside this log (an earlier export, a published checkpoint) that it must agree with.
    """
    if isinstance(source, bytes):
        exported = read_export(source)
        return _verified(
            exported.records,
            _merged(exported.checkpoints, witnessed),
            trusted_keys,
            exported.problems,
        )
    with source.read() as conn:
        # Checkpoints first, for the reason given in audit_export.export_lines.
        checkpoints = _merged(stored.list_checkpoints(conn), witnessed)
        return _verified(stored_records(conn), checkpoints, trusted_keys)
