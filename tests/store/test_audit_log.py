"""The audit table: one gap-free total order, even with concurrent writers and two gateways."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from sqlalchemy.exc import IntegrityError

from nostr_passport.crypto.merkle import leaf_hash
from nostr_passport.store import Store
from nostr_passport.store.audit_log import (
    AuditEntry,
    append_audit,
    audit_records,
    audit_size,
    leaf_hashes,
)
from nostr_passport.store.canonical import canonical_json_bytes
from nostr_passport.store.identities import insert_identity
from nostr_passport.store.signers import upsert_signer
from nostr_passport.store.tenants import ensure_tenant

from .databases import dump_tables
from .records import identity_record, signer_record


def entry(i: int, actor: str = "tok_a") -> AuditEntry:
    return AuditEntry(
        time="2026-01-01T00:00:00.000Z",
        tenant_id="default",
        actor=actor,
        action="sign",
        identity_id="id_1",
        outcome="allowed",
        request_id=f"req-{i}",
        details={"event_ids": [f"{i:064x}"], "note": "ünï"},
    )


def test_appends_are_numbered_from_zero_and_hash_their_canonical_record(store: Store) -> None:
    records = [store.run_write(partial(append_audit, entry=entry(i))) for i in range(5)]
    assert [r.index for r in records] == list(range(5))
    with store.read() as conn:
        stored = audit_records(conn)
        assert stored == records
        assert audit_size(conn) == 5
        assert [h.hex() for h in leaf_hashes(conn)] == [r.leaf_hash for r in records]
        assert len(audit_records(conn, 1, 3)) == 2
    for r in stored:
        expected = leaf_hash(canonical_json_bytes(r.as_leaf_data()))
        assert r.leaf_hash == expected.hex()
        assert r.as_leaf_data()["index"] == r.index


def test_record_rolls_back_with_its_state_change_and_leaves_no_gap(store: Store) -> None:
    def seed(conn):  # type: ignore[no-untyped-def]
        ensure_tenant(conn, "default", "Default", 1)
        for sid in ("s1", "s2", "s3"):
            upsert_signer(conn, signer_record(sid))

    store.run_write(seed)
    store.run_write(lambda c: append_audit(c, entry(0)))
    before = dump_tables(store)

    def failing(conn):  # type: ignore[no-untyped-def]
        append_audit(conn, entry(1))
        insert_identity(conn, identity_record(signer_ids=("s1", "missing")))

    with pytest.raises(IntegrityError):
        store.run_write(failing)
    assert dump_tables(store) == before
    assert store.run_write(lambda c: append_audit(c, entry(2))).index == 1


def test_concurrent_writers_on_two_gateways_form_one_gap_free_order(store_url: str) -> None:
    gateways = [Store.open(store_url), Store.open(store_url)]
    per_worker = 15
    workers = 8
    try:

        def work(w: int) -> list[int]:
            s = gateways[w % 2]
            return [
                s.run_write(partial(append_audit, entry=entry(i, f"w{w}"))).index
                for i in range(per_worker)
            ]

        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(work, range(workers)))
        indexes = sorted(i for r in results for i in r)
        assert indexes == list(range(workers * per_worker))
        with gateways[0].read() as conn:
            stored = audit_records(conn)
        assert [r.index for r in stored] == indexes
        # Each worker's own records are in its own program order.
        for w in range(workers):
            mine = [r.request_id for r in stored if r.actor == f"w{w}"]
            assert mine == [f"req-{i}" for i in range(per_worker)]
    finally:
        for g in gateways:
            g.close()
