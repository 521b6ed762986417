"""Audit records and checkpoints as untrusted data: their JSON forms and strict readers.

Everything a verifier reads may have been written by an attacker: a row edited with SQL,
a line of an export file, a proof or an attestation bundle received from elsewhere. The
readers here accept exactly the shapes we write (exact key sets, exact JSON types,
lowercase hex of the right length) and raise MalformedAuditDataError for anything else,
never KeyError, TypeError or a JSON library error.

A record's JSON form is the dict that is hashed into its leaf (store/audit_log.leaf_data:
`index`, `time`, `tenant`, `actor`, `action`, `identity`, `outcome`, `request_id`,
`details`) plus the stored `leaf_hash`; a checkpoint's is its six columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Connection

from nostr_passport.errors import MalformedAuditDataError
from nostr_passport.store.audit_log import AuditRecord
from nostr_passport.store.canonical import canonical_json, canonical_json_bytes
from nostr_passport.store.checkpoints import Checkpoint
from nostr_passport.store.tables import audit_log

RECORD_KEYS = frozenset(
    {
        "index",
        "time",
        "tenant",
        "actor",
        "action",
        "identity",
        "outcome",
        "request_id",
        "details",
        "leaf_hash",
    }
)
CHECKPOINT_KEYS = frozenset({"tree_size", "root_hash", "time", "log_id", "public_key", "signature"})
HASH_HEX_LEN = 64
STORE_PAGE = 1000

ProblemKind = Literal["record", "checkpoint", "export"]


@dataclass(frozen=True)
class Problem:
    """Where verification failed: a record index, a checkpoint's tree size, or a file line."""

    kind: ProblemKind
    position: int
    reason: str

    def describe(self) -> str:
        where = {"record": "record", "checkpoint": "checkpoint at tree size", "export": "line"}
        return f"{where[self.kind]} {self.position}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "position": self.position, "reason": self.reason}


@dataclass(frozen=True)
class UnreadableRecord:
    """A record that could not even be parsed; `index` is where it was found, if known."""

    index: int | None
    reason: str


# ---------------------------------------------------------------- JSON forms


def record_json(record: AuditRecord) -> dict[str, Any]:
    return {**record.as_leaf_data(), "leaf_hash": record.leaf_hash}


def checkpoint_json(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "time": checkpoint.time,
        "log_id": checkpoint.log_id,
        "public_key": checkpoint.public_key,
        "signature": checkpoint.signature,
    }


# ---------------------------------------------------------------- strict field readers


def fail(message: str) -> MalformedAuditDataError:
    return MalformedAuditDataError(message)


def json_object(value: object, keys: frozenset[str], what: str) -> dict[str, Any]:
    """`value` as a dict with exactly `keys`."""
    if not isinstance(value, dict):
        raise fail(f"{what} is not a JSON object")
    if set(value) != keys:
        raise fail(f"{what} does not have exactly the fields {', '.join(sorted(keys))}")
    return value


def json_int(data: Mapping[str, Any], key: str, what: str, *, minimum: int = 0) -> int:
    value = data[key]
    if type(value) is not int or value < minimum:
        raise fail(f"{what}.{key} must be an integer >= {minimum}")
    return value


def json_str(data: Mapping[str, Any], key: str, what: str, *, nullable: bool = False) -> Any:
    value = data[key]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise fail(f"{what}.{key} must be a string")
    return value


def json_bool(data: Mapping[str, Any], key: str, what: str) -> bool:
    value = data[key]
    if not isinstance(value, bool):
        raise fail(f"{what}.{key} must be true or false")
    return value


def hex_string(value: object, what: str, *, length: int | None = None) -> str:
    """Lowercase hex (of `length` characters, when given): one spelling per byte string."""
    if not isinstance(value, str) or not value or len(value) % 2:
        raise fail(f"{what} must be a non-empty even-length hex string")
    if length is not None and len(value) != length:
        raise fail(f"{what} must be {length} hex characters")
    if value.strip("0123456789abcdef"):
        raise fail(f"{what} must be lowercase hex")
    return value


def json_hex(data: Mapping[str, Any], key: str, what: str, *, length: int | None = None) -> str:
    return hex_string(data[key], f"{what}.{key}", length=length)


def json_hex_list(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise fail(f"{what} must be a list")
    return tuple(hex_string(v, f"{what}[{i}]", length=HASH_HEX_LEN) for i, v in enumerate(value))


def record_from_json(value: object, what: str = "record") -> AuditRecord:
    data = json_object(value, RECORD_KEYS, what)
    details = data["details"]
    if not isinstance(details, dict):
        raise fail(f"{what}.details must be a JSON object")
    return AuditRecord(
        index=json_int(data, "index", what),
        time=json_str(data, "time", what),
        tenant_id=json_str(data, "tenant", what, nullable=True),
        actor=json_str(data, "actor", what),
        action=json_str(data, "action", what),
        identity_id=json_str(data, "identity", what, nullable=True),
        outcome=json_str(data, "outcome", what),
        request_id=json_str(data, "request_id", what),
        details=details,
        leaf_hash=json_hex(data, "leaf_hash", what, length=HASH_HEX_LEN),
    )


def checkpoint_from_json(value: object, what: str = "checkpoint") -> Checkpoint:
    data = json_object(value, CHECKPOINT_KEYS, what)
    return Checkpoint(
        tree_size=json_int(data, "tree_size", what),
        root_hash=json_hex(data, "root_hash", what, length=HASH_HEX_LEN),
        time=json_str(data, "time", what),
        log_id=json_str(data, "log_id", what),
        public_key=json_hex(data, "public_key", what),
        signature=json_hex(data, "signature", what),
    )


def _no_constants(name: str) -> Any:
    raise fail(f"JSON constant {name} is not allowed")


def canonical_document(data: bytes | str, what: str) -> Any:
    """Parse `data`, which must be canonical JSON exactly (sorted keys, no whitespace).

    Requiring the canonical spelling means no byte of a document can change without
    changing what it says: there is no insignificant whitespace or alternative escape
    an attacker could flip while verification still passes.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise fail(f"{what} is not valid UTF-8 JSON") from None
    if canonical_json(value) != text:
        raise fail(f"{what} is not canonical JSON (sorted keys, no whitespace)")
    return value


def canonical_line(value: Any) -> bytes:
    return canonical_json_bytes(value) + b"\n"


# ---------------------------------------------------------------- store rows


def record_from_row(row: Mapping[Any, Any]) -> AuditRecord:
    """A stored row as a record; MalformedAuditDataError when its details were mangled."""
    try:
        details = json.loads(row["details"], parse_constant=_no_constants)
    except (TypeError, ValueError, RecursionError):
        raise fail("details column is not JSON") from None
    if not isinstance(details, dict):
        raise fail("details column is not a JSON object")
    if canonical_json(details) != row["details"]:
        raise fail("details column is not canonical JSON")
    return AuditRecord(
        index=int(row["idx"]),
        time=row["time"],
        tenant_id=row["tenant_id"],
        actor=row["actor"],
        action=row["action"],
        identity_id=row["identity_id"],
        outcome=row["outcome"],
        request_id=row["request_id"],
        details=details,
        leaf_hash=row["leaf_hash"],
    )


def stored_records(
    conn: Connection, start: int = 0, end: int | None = None
) -> Iterator[AuditRecord | UnreadableRecord]:
    """Stored records with start <= idx < end in index order, in pages; mangled rows are
    yielded as UnreadableRecord so a verifier can name their position."""
    after = start - 1
    while True:
        query = (select(audit_log).where(audit_log.c.idx > after).order_by(audit_log.c.idx)).limit(
            STORE_PAGE
        )
        if end is not None:
            query = query.where(audit_log.c.idx < end)
        rows = conn.execute(query).mappings().all()
        for row in rows:
            try:
                yield record_from_row(row)
            except MalformedAuditDataError as exc:
                yield UnreadableRecord(int(row["idx"]), str(exc))
        if len(rows) < STORE_PAGE:
            return
        after = int(rows[-1]["idx"])


def exported_details(raw: str) -> object:
    """What an export writes for a stored details column: the object, or the raw text when
    the column is not canonical JSON of an object (so the export carries the evidence)."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return raw
    if isinstance(value, dict) and canonical_json(value) == raw:
        return value
    return raw


def raw_record_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A stored row in the record JSON form, without interpreting (or repairing) it."""
    return {
        "index": int(row["idx"]),
        "time": row["time"],
        "tenant": row["tenant_id"],
        "actor": row["actor"],
        "action": row["action"],
        "identity": row["identity_id"],
        "outcome": row["outcome"],
        "request_id": row["request_id"],
        "details": exported_details(row["details"]),
        "leaf_hash": row["leaf_hash"],
    }
