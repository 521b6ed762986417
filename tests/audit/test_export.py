"""The export file: self-contained, verifiable offline, and no byte of it can change unseen."""

from __future__ import annotations

import json

from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.service.audit_export import EXPORT_FORMAT, export_log, read_export
from nostr_passport.service.audit_verify import verify_log
from nostr_passport.store import Store

from .logs import build_log


def lines_of(data: bytes) -> list[bytes]:
    return data.split(b"\n")[:-1]


def test_the_export_holds_records_checkpoints_and_keys(
    store: Store, audit_provider: HsmProvider
) -> None:
    checkpoints = build_log(store, audit_provider)
    data = export_log(store)
    lines = lines_of(data)
    assert len(lines) == 1 + 40 + 3
    header = json.loads(lines[0])["audit_export"]
    assert header == {
        "format": EXPORT_FORMAT,
        "records": 40,
        "checkpoints": 3,
        "keys": [audit_provider.attestation_public_key().hex()],
    }
    exported = read_export(data)
    assert exported.problems == ()
    assert [r.index for r in exported.records] == list(range(40))
    assert list(exported.checkpoints) == checkpoints
    assert export_log(store) == data  # deterministic


def test_an_empty_log_exports_and_verifies(sqlite_store: Store) -> None:
    data = export_log(sqlite_store)
    assert len(lines_of(data)) == 1
    report = verify_log(data)
    assert report.ok and report.records == 0 and report.log_id is None


def test_a_changed_value_is_named_by_record(
    sqlite_store: Store, audit_provider: HsmProvider
) -> None:
    build_log(sqlite_store, audit_provider)
    data = export_log(sqlite_store)
    lines = lines_of(data)
    lines[18] = lines[18].replace(b'"request_id":"req_0017"', b'"request_id":"req_0018"')
    report = verify_log(b"\n".join(lines) + b"\n")
    assert report.problem is not None
    assert (report.problem.kind, report.problem.position) == ("record", 17)


def test_flipping_any_sampled_byte_fails(sqlite_store: Store, audit_provider: HsmProvider) -> None:
    """Every 5th byte of a 12-record export, and every byte of its header, of one record
    line and of the last checkpoint line: none of those flips may verify."""
    build_log(sqlite_store, audit_provider, size=12, checkpoint_sizes=(5, 12))
    data = export_log(sqlite_store)
    assert verify_log(data).ok
    lines = lines_of(data)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    positions = set(range(0, len(data), 5))
    for n in (0, 7, len(lines) - 1):
        positions.update(range(starts[n], starts[n + 1]))
    assert len(positions) > 1000
    passed = []
    for position in sorted(positions):
        for flip in (0x01, 0x20) if position % 3 == 0 else (0x01,):
            changed = bytearray(data)
            changed[position] ^= flip
            if verify_log(bytes(changed)).ok:
                passed.append((position, flip))
    assert passed == []


def test_structural_faults_of_the_file(sqlite_store: Store, audit_provider: HsmProvider) -> None:
    build_log(sqlite_store, audit_provider)
    data = export_log(sqlite_store)
    lines = lines_of(data)

    def problem_of(content: bytes) -> tuple[str, int]:
        report = verify_log(content)
        assert not report.ok and report.problem is not None
        return report.problem.kind, report.problem.position

    def joined(parts: list[bytes]) -> bytes:
        return b"".join(p + b"\n" for p in parts)

    assert problem_of(joined(lines[:-1])) == ("export", 1)  # a checkpoint line cut off
    assert problem_of(joined(lines[:-4])) == ("export", 1)  # all checkpoints and a record
    assert problem_of(joined([*lines[:36], *lines[41:]])) == ("checkpoint", 40)  # tail records
    assert problem_of(data[:-1]) == ("export", len(lines))  # no final newline
    assert problem_of(joined([lines[0], *lines[1:10], *lines[11:]])) == ("record", 9)
    assert problem_of(joined([lines[0], *lines[1:42], lines[43], lines[42]])) == ("export", 44)
    assert problem_of(joined([b"{}", *lines[1:]])) == ("export", 1)
    assert problem_of(joined([*lines, b'{"record":{}}'])) == ("export", 45)
    assert problem_of(b"") == ("export", 1)
    assert problem_of(joined([lines[0], b"garbage", *lines[2:]])) == ("record", 0)
