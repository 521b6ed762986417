"""Signed checkpoints of the audit log: what is signed, how it is checked, how one is made.

A checkpoint binds (log id, tree size, RFC 6962 root, time) under the gateway's audit HSM
key: the attestation key of a provider used for nothing else. Its signed statement is
the canonical JSON (sorted keys, no whitespace, UTF-8) of

    {"format": "nostr-passport/audit-checkpoint/v1", "log_id": ..., "root_hash": <hex>,
     "time": <ISO-8601 UTC>, "tree_size": <int>}

and the signature is ECDSA P-256 over SHA-256 of those bytes, DER-encoded, so anyone can
check it with openssl or `cryptography` (docs/audit.md shows how).

`create_checkpoint` refuses to sign a log that contradicts itself (a record whose fields
no longer give its stored leaf hash, a gap in the indices) or its previous checkpoint:
a checkpoint must never launder a tampered history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import replace

from cryptography.exceptions import UnsupportedAlgorithm
from sqlalchemy import select
from sqlalchemy.engine import Connection

from nostr_passport.crypto.merkle import root_hash
from nostr_passport.errors import AuditIntegrityError, BadRequestError, ConflictError
from nostr_passport.hsm.provider import HsmProvider, verify_attestation_signature
from nostr_passport.store import Store
from nostr_passport.store import checkpoints as stored
from nostr_passport.store.audit_log import record_leaf_hash
from nostr_passport.store.canonical import canonical_json_bytes
from nostr_passport.store.checkpoints import Checkpoint, key_id_of
from nostr_passport.store.tables import audit_log

from .audit import iso_time
from .audit_records import UnreadableRecord, stored_records

CHECKPOINT_FORMAT = "nostr-passport/audit-checkpoint/v1"
DEFAULT_LOG_ID = "nostr-passport"
MAX_LOG_ID_LENGTH = 200
MAX_LIST = 1000


def checkpoint_statement(checkpoint: Checkpoint) -> bytes:
    """The exact bytes the audit key signs."""
    return canonical_json_bytes(
        {
            "format": CHECKPOINT_FORMAT,
            "log_id": checkpoint.log_id,
            "root_hash": checkpoint.root_hash,
            "time": checkpoint.time,
            "tree_size": checkpoint.tree_size,
        }
    )


def signature_problem(
    checkpoint: Checkpoint, trusted_keys: Collection[str] | None = None
) -> str | None:
    """Why `checkpoint` is not validly signed (None when it is).

    `trusted_keys` (hex SPKI DER) pins the audit key; without it the check proves only
    that the checkpoint is intact under the key it carries.
    """
    if trusted_keys is not None and checkpoint.public_key not in trusted_keys:
        return f"signed by key {key_id_of(checkpoint.public_key)[:16]}…, not a trusted audit key"
    try:
        public_key = bytes.fromhex(checkpoint.public_key)
        signature = bytes.fromhex(checkpoint.signature)
    except ValueError:
        return "public key or signature is not hex"
    if not signature_valid(public_key, checkpoint_statement(checkpoint), signature):
        return "signature does not verify"
    return None


def signature_valid(public_key_der: bytes, message: bytes, signature: bytes) -> bool:
    """hsm.verify_attestation_signature, also False for a key of an unknown algorithm
    (which `cryptography` reports as UnsupportedAlgorithm, not ValueError)."""
    try:
        return verify_attestation_signature(public_key_der, message, signature)
    except UnsupportedAlgorithm:
        return False


def _check_log_id(log_id: str) -> str:
    if not isinstance(log_id, str) or not 0 < len(log_id) <= MAX_LOG_ID_LENGTH:
        raise BadRequestError(f"log id must be 1 to {MAX_LOG_ID_LENGTH} characters")
    return log_id


def _checked_leaves(conn: Connection, latest: Checkpoint | None) -> list[bytes]:
    """Every stored leaf hash, after checking the log is fit to be signed (module doc)."""
    rows = conn.execute(
        select(audit_log.c.idx, audit_log.c.leaf_hash).order_by(audit_log.c.idx)
    ).all()
    leaves: list[bytes] = []
    for position, (index, digest) in enumerate(rows):
        if int(index) != position:
            raise AuditIntegrityError(f"audit record {position} is missing or out of place")
        try:
            leaves.append(bytes.fromhex(digest))
        except ValueError:
            raise AuditIntegrityError(
                f"audit record {position} has a malformed leaf hash"
            ) from None
        if len(leaves[-1]) != 32:
            raise AuditIntegrityError(f"audit record {position} has a malformed leaf hash")
    # Records an earlier checkpoint covers were checked when it was made, and its root
    # (checked below) still pins them; the new ones are recomputed from their fields.
    start = latest.tree_size if latest is not None else 0
    for record in stored_records(conn, start, len(leaves)):
        if isinstance(record, UnreadableRecord):
            raise AuditIntegrityError(f"audit record {record.index} is unreadable")
        if record_leaf_hash(record.index, record.entry()) != leaves[record.index]:
            raise AuditIntegrityError(
                f"audit record {record.index} does not match its leaf hash: refusing to sign"
            )
    if latest is not None:
        problem = signature_problem(latest)
        if problem is not None:
            raise AuditIntegrityError(f"latest checkpoint ({latest.tree_size}): {problem}")
        if len(leaves) < latest.tree_size:
            raise AuditIntegrityError(
                f"the audit log has {len(leaves)} records, fewer than its latest checkpoint "
                f"covers ({latest.tree_size})"
            )
        if root_hash(leaves[: latest.tree_size]).hex() != latest.root_hash:
            raise AuditIntegrityError(
                f"the audit log no longer matches its checkpoint at size {latest.tree_size}"
            )
    return leaves


def create_checkpoint(
    store: Store,
    provider: HsmProvider,
    *,
    log_id: str = DEFAULT_LOG_ID,
    clock: Callable[[], float] = time.time,
) -> Checkpoint:
    """Sign the log as it is now (on demand, and on the server's schedule).

    Returns the latest checkpoint unchanged when no record was added since. Two gateways
    checkpointing the same size store one checkpoint (same root, the first signature).
    """
    _check_log_id(log_id)
    with store.read() as conn:
        latest = stored.latest_checkpoint(conn)
        leaves = _checked_leaves(conn, latest)
    if latest is not None and latest.log_id != log_id:
        # A log keeps one id for life: a changed setting would make every checkpoint
        # from now on fail verification, so say so now, loudly.
        raise ConflictError(
            f"this audit log's checkpoints carry log id {latest.log_id!r}, not {log_id!r}"
        )
    if latest is not None and latest.tree_size == len(leaves):
        return latest
    unsigned = Checkpoint(
        tree_size=len(leaves),
        root_hash=root_hash(leaves).hex(),
        time=iso_time(clock()),
        log_id=log_id,
        public_key=provider.attestation_public_key().hex(),
        signature="",
    )
    signature = provider.attestation_sign(checkpoint_statement(unsigned))
    checkpoint = replace(unsigned, signature=signature.hex())
    if signature_problem(checkpoint) is not None:
        raise AuditIntegrityError("the audit HSM key produced a signature that does not verify")

    def insert(conn: Connection) -> Checkpoint:
        if stored.insert_checkpoint(conn, checkpoint):
            return checkpoint
        existing = stored.checkpoint_at(conn, checkpoint.tree_size)
        if existing is None or existing.root_hash != checkpoint.root_hash:
            raise AuditIntegrityError(
                f"another checkpoint of size {checkpoint.tree_size} has a different root"
            )
        return existing

    return store.run_write(insert)


def latest_checkpoint(store: Store) -> Checkpoint | None:
    with store.read() as conn:
        return stored.latest_checkpoint(conn)


def checkpoint_at(store: Store, tree_size: int) -> Checkpoint | None:
    with store.read() as conn:
        return stored.checkpoint_at(conn, tree_size)


def list_checkpoints(store: Store, *, after_size: int = -1, limit: int = 100) -> list[Checkpoint]:
    """Checkpoints of tree size > after_size, smallest first, at most `limit` (<= 1000)."""
    if not 1 <= limit <= MAX_LIST:
        raise BadRequestError(f"limit must be between 1 and {MAX_LIST}")
    with store.read() as conn:
        return stored.list_checkpoints(conn, after_size=after_size, limit=limit)
