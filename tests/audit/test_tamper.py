"""Tampering with the stored log in SQL is caught, at the first bad position, on both databases.

Log: 40 records, checkpoints at 10, 25 and 40. Each tamper is applied directly to the
database; `verify_log` must fail and name exactly the first bad position, both on the
live store and on an export taken after the tamper (the export carries the evidence).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.service.audit_checkpoints import create_checkpoint
from nostr_passport.service.audit_export import export_log
from nostr_passport.service.audit_verify import VerifyReport, verify_log
from nostr_passport.store import Store
from nostr_passport.store.checkpoints import Checkpoint

from .logs import (
    build_log,
    correct_leaf,
    forged_row,
    insert_row,
    row,
    shift_up,
    sql,
    write_row,
)

Tamper = Callable[[Store, list[Checkpoint]], None]


def change_field(store: Store, _: list[Checkpoint]) -> None:
    sql(store, "UPDATE audit_log SET actor = 'mallory' WHERE idx = 17")


def change_field_and_leaf(store: Store, _: list[Checkpoint]) -> None:
    values = row(store, 17)
    values["outcome"] = "denied" if values["outcome"] != "denied" else "ok"
    values["leaf_hash"] = correct_leaf(values, 17)
    write_row(store, 17, values)


def change_details(store: Store, _: list[Checkpoint]) -> None:
    sql(store, "UPDATE audit_log SET details = :d WHERE idx = 5", d='{"n":5}')


def mangle_details(store: Store, _: list[Checkpoint]) -> None:
    sql(store, "UPDATE audit_log SET details = :d WHERE idx = 5", d="{not json")


def delete_record(store: Store, _: list[Checkpoint]) -> None:
    sql(store, "DELETE FROM audit_log WHERE idx = 17")


def swap_records(store: Store, _: list[Checkpoint]) -> None:
    first, second = row(store, 12), row(store, 30)
    write_row(store, 12, second)
    write_row(store, 30, first)


def insert_record(store: Store, _: list[Checkpoint]) -> None:
    shift_up(store, 17)
    insert_row(store, 17, forged_row(17))


def insert_record_rehashing_the_rest(store: Store, _: list[Checkpoint]) -> None:
    """The strongest attacker without the HSM key: every leaf hash is made right again."""
    shift_up(store, 17)
    insert_row(store, 17, forged_row(17))
    for index in range(18, 41):
        values = row(store, index)
        values["leaf_hash"] = correct_leaf(values, index)
        write_row(store, index, values)


def truncate_tail(store: Store, _: list[Checkpoint]) -> None:
    sql(store, "DELETE FROM audit_log WHERE idx >= 33")


def truncate_past_a_checkpoint(store: Store, _: list[Checkpoint]) -> None:
    sql(store, "DELETE FROM audit_log WHERE idx >= 20")


def replace_signature(store: Store, checkpoints: list[Checkpoint]) -> None:
    sql(
        store,
        "UPDATE audit_checkpoints SET signature = :s WHERE tree_size = 25",
        s=checkpoints[2].signature,
    )


def move_checkpoint_time(store: Store, _: list[Checkpoint]) -> None:
    sql(
        store, "UPDATE audit_checkpoints SET time = '2020-01-01T00:00:00.000Z' WHERE tree_size = 10"
    )


TAMPERS: list[tuple[Tamper, str, int]] = [
    (change_field, "record", 17),
    (change_field_and_leaf, "checkpoint", 25),
    (change_details, "record", 5),
    (mangle_details, "record", 5),
    (delete_record, "record", 17),
    (swap_records, "record", 12),
    (insert_record, "record", 18),
    (insert_record_rehashing_the_rest, "checkpoint", 25),
    (truncate_tail, "checkpoint", 40),
    (truncate_past_a_checkpoint, "checkpoint", 25),
    (replace_signature, "checkpoint", 25),
    (move_checkpoint_time, "checkpoint", 10),
]


def assert_fails_at(report: VerifyReport, kind: str, position: int) -> None:
    assert not report.ok
    assert report.problem is not None
    assert (report.problem.kind, report.problem.position) == (kind, position), report.summary()


def test_untouched_log_verifies(store: Store, audit_provider: HsmProvider) -> None:
    build_log(store, audit_provider)
    trusted = {audit_provider.attestation_public_key().hex()}
    for report in (
        verify_log(store),
        verify_log(store, trusted_keys=trusted),
        verify_log(export_log(store), trusted_keys=trusted),
    ):
        assert report.ok, report.summary()
        assert (report.records, report.checkpoints, report.verified_size) == (40, 3, 40)
        assert report.unsigned_records == 0
        assert report.problem is None


@pytest.mark.parametrize(
    ("tamper", "kind", "position"), TAMPERS, ids=[t[0].__name__ for t in TAMPERS]
)
def test_tamper_is_caught_at_the_first_bad_position(
    store: Store, audit_provider: HsmProvider, tamper: Tamper, kind: str, position: int
) -> None:
    checkpoints = build_log(store, audit_provider)
    tamper(store, checkpoints)
    assert_fails_at(verify_log(store), kind, position)
    assert_fails_at(verify_log(export_log(store)), kind, position)


def test_the_naive_insert_is_caught_where_the_stored_hashes_stop_matching(
    store: Store, audit_provider: HsmProvider
) -> None:
    """The inserted row itself is well formed; the first row it displaced is not."""
    build_log(store, audit_provider)
    insert_record(store, [])
    report = verify_log(store)
    assert report.problem is not None
    assert report.problem.reason == "its fields do not give its stored leaf hash"
    assert report.records == 18  # 0..16 and the forged 17 hash correctly


def test_a_resigned_history_passes_only_without_a_pinned_key(
    store: Store, audit_provider: HsmProvider
) -> None:
    """An attacker with their own key can rewrite history and sign it anew: integrity
    alone cannot tell, the pinned audit key can."""
    checkpoints = build_log(store, audit_provider)
    change_field_and_leaf(store, checkpoints)
    sql(store, "DELETE FROM audit_checkpoints")
    mallory = SimulatorProvider("mallory")
    try:
        forged = create_checkpoint(store, mallory, log_id=checkpoints[0].log_id)
    finally:
        mallory.close()
    assert forged.tree_size == 40
    trusted = {audit_provider.attestation_public_key().hex()}
    assert verify_log(store).ok
    report = verify_log(store, trusted_keys=trusted)
    assert_fails_at(report, "checkpoint", 40)
    assert report.problem is not None and "not a trusted audit key" in report.problem.reason


def test_a_checkpoint_kept_elsewhere_catches_deleting_checkpoints_with_their_records(
    store: Store, audit_provider: HsmProvider
) -> None:
    checkpoints = build_log(store, audit_provider)
    sql(store, "DELETE FROM audit_log WHERE idx >= 25")
    sql(store, "DELETE FROM audit_checkpoints WHERE tree_size > 10")
    assert verify_log(store).ok  # nothing left in the store contradicts itself...
    witnessed = [checkpoints[2]]  # ...but an auditor kept the checkpoint of size 40
    assert_fails_at(verify_log(store, witnessed=witnessed), "checkpoint", 40)
    assert_fails_at(verify_log(export_log(store), witnessed=witnessed), "checkpoint", 40)


def test_unsigned_tail_is_reported(store: Store, audit_provider: HsmProvider) -> None:
    build_log(store, audit_provider, size=44)
    report = verify_log(store)
    assert report.ok
    assert (report.records, report.verified_size, report.unsigned_records) == (44, 40, 4)
