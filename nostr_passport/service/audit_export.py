"""The audit log as a self-contained file (JSON lines), and its strict reader.

Layout, one canonical JSON object per line, each line ending in "\\n":

    {"audit_export":{"checkpoints":M,"format":"nostr-passport/audit-export/v1",
                     "keys":[<hex SPKI DER of every checkpoint key>],"records":N}}
    {"record":{...}}            N lines, in index order (audit_records.record_json)
    {"checkpoint":{...}}        M lines, by increasing tree size (checkpoint_json)

Records are written as stored, without repair: a row whose details column is not
canonical JSON is exported with the raw text, so the export carries the evidence.
Every line must be canonical JSON when read back, so no byte of a file can change while
it still says the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from nostr_passport.errors import MalformedAuditDataError
from nostr_passport.store import Store
from nostr_passport.store import checkpoints as stored
from nostr_passport.store.audit_log import AuditRecord
from nostr_passport.store.checkpoints import Checkpoint
from nostr_passport.store.tables import audit_log

from .audit_records import (
    STORE_PAGE,
    Problem,
    UnreadableRecord,
    canonical_document,
    canonical_line,
    checkpoint_from_json,
    checkpoint_json,
    json_int,
    json_object,
    raw_record_json,
    record_from_json,
)

EXPORT_FORMAT = "nostr-passport/audit-export/v1"
HEADER_KEYS = frozenset({"format", "records", "checkpoints", "keys"})


@dataclass(frozen=True)
class ExportedLog:
    """What a file says, read strictly; `problems` are faults of the file's structure:
    the header's, then the lines' in file order, then mismatches with the header's counts."""

    records: tuple[AuditRecord | UnreadableRecord, ...]
    checkpoints: tuple[Checkpoint, ...]
    problems: tuple[Problem, ...]


def export_lines(store: Store) -> Iterator[bytes]:
    """The export, line by line, from one read transaction.

    Checkpoints are read before records: a record is committed before any checkpoint
    covering it, so reading in this order never yields a checkpoint without its records,
    even on PostgreSQL's read-committed snapshots (one per statement).
    """
    with store.read() as conn:
        checkpoints = stored.list_checkpoints(conn)
        last = conn.execute(select(func.max(audit_log.c.idx))).scalar_one()
        end = 0 if last is None else int(last) + 1
        count = conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.idx < end)
        ).scalar_one()
        keys = sorted({c.public_key for c in checkpoints})
        header = {
            "format": EXPORT_FORMAT,
            "records": int(count),
            "checkpoints": len(checkpoints),
            "keys": keys,
        }
        yield canonical_line({"audit_export": header})
        after: int | None = None
        while True:
            query = select(audit_log).where(audit_log.c.idx < end).order_by(audit_log.c.idx)
            if after is not None:
                query = query.where(audit_log.c.idx > after)
            rows = conn.execute(query.limit(STORE_PAGE)).mappings().all()
            for row in rows:
                yield canonical_line({"record": raw_record_json(row)})
            if len(rows) < STORE_PAGE:
                break
            after = int(rows[-1]["idx"])
        for checkpoint in checkpoints:
            yield canonical_line({"checkpoint": checkpoint_json(checkpoint)})


def export_log(store: Store) -> bytes:
    return b"".join(export_lines(store))


def _header(line: bytes) -> dict[str, Any]:
    document = json_object(canonical_document(line, "header"), frozenset({"audit_export"}), "line")
    header = json_object(document["audit_export"], HEADER_KEYS, "header")
    if header["format"] != EXPORT_FORMAT:
        raise MalformedAuditDataError(f"not an audit export of format {EXPORT_FORMAT}")
    json_int(header, "records", "header")
    json_int(header, "checkpoints", "header")
    keys = header["keys"]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise MalformedAuditDataError("header.keys must be a list of hex strings")
    return header


def _entry(line: bytes, line_no: int) -> tuple[str, object]:
    document = canonical_document(line, f"line {line_no}")
    if not isinstance(document, dict) or len(document) != 1:
        raise MalformedAuditDataError(f"line {line_no} is not a one-key JSON object")
    ((kind, value),) = document.items()
    return kind, value


class _Reader:
    def __init__(self) -> None:
        self.records: list[AuditRecord | UnreadableRecord] = []
        self.checkpoints: list[Checkpoint] = []
        self.problems: list[Problem] = []

    def problem(self, line_no: int, reason: str) -> None:
        self.problems.append(Problem("export", line_no, reason))

    def line(self, line: bytes, line_no: int) -> None:
        # Before the first checkpoint line, every line is a record's (even one too broken
        # to say so), so its position in the log is still known.
        in_records = not self.checkpoints
        try:
            kind, value = _entry(line, line_no)
        except MalformedAuditDataError as exc:
            if in_records:
                self.records.append(UnreadableRecord(None, f"line {line_no}: {exc}"))
            else:
                self.problem(line_no, str(exc))
            return
        if kind == "record" and in_records:
            try:
                self.records.append(record_from_json(value))
            except MalformedAuditDataError as exc:
                self.records.append(UnreadableRecord(None, f"line {line_no}: {exc}"))
        elif kind == "checkpoint":
            try:
                checkpoint = checkpoint_from_json(value)
            except MalformedAuditDataError as exc:
                self.problem(line_no, str(exc))
                return
            if self.checkpoints and checkpoint.tree_size <= self.checkpoints[-1].tree_size:
                self.problem(line_no, "checkpoints are not in increasing tree size")
                return
            self.checkpoints.append(checkpoint)
        else:
            self.problem(line_no, f"unexpected {kind!r} line")


def read_export(data: bytes) -> ExportedLog:
    """Parse an export strictly; never raises for bad content (it becomes a problem)."""
    reader = _Reader()
    lines = data.split(b"\n")
    complete = lines[-1] == b""
    if complete:
        lines.pop()
    header: dict[str, Any] | None = None
    if not lines:
        reader.problem(1, "the file is empty")
    else:
        try:
            header = _header(lines[0])
        except MalformedAuditDataError as exc:
            reader.problem(1, str(exc))
    for line_no, line in enumerate(lines[1:], start=2):
        reader.line(line, line_no)
    if not complete:
        reader.problem(len(lines), "the file does not end with a newline (truncated?)")
    # Count and key mismatches last: they are usually consequences of a fault found above.
    if header is not None:
        if header["records"] != len(reader.records):
            reader.problem(
                1, f"header announces {header['records']} records, file has {len(reader.records)}"
            )
        if header["checkpoints"] != len(reader.checkpoints):
            reader.problem(
                1,
                f"header announces {header['checkpoints']} checkpoints, "
                f"file has {len(reader.checkpoints)}",
            )
        if header["keys"] != sorted({c.public_key for c in reader.checkpoints}):
            reader.problem(1, "header keys are not exactly the checkpoints' keys")
    return ExportedLog(tuple(reader.records), tuple(reader.checkpoints), tuple(reader.problems))
