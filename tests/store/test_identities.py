"""Identity rows with their shares, commitments and attestations; one transaction each."""

from __future__ import annotations

import dataclasses
from functools import partial

import pytest
from sqlalchemy.exc import IntegrityError

from nostr_passport.store import Store
from nostr_passport.store.identities import (
    count_identities,
    delete_identity,
    identity_by_id,
    identity_by_pubkey,
    insert_identity,
    list_identities,
    set_identity_status,
)
from nostr_passport.store.signers import upsert_signer
from nostr_passport.store.tenants import ensure_tenant

from .databases import dump_tables
from .records import identity_record, signer_record


@pytest.fixture
def seeded(store: Store) -> Store:
    def seed(conn):  # type: ignore[no-untyped-def]
        ensure_tenant(conn, "default", "Default", 1000)
        ensure_tenant(conn, "other", "Other", 1000)
        for sid in ("s1", "s2", "s3"):
            upsert_signer(conn, signer_record(sid))

    store.run_write(seed)
    return store


def test_insert_and_read_back_everything(seeded: Store) -> None:
    record = identity_record()
    seeded.run_write(lambda c: insert_identity(c, record))
    with seeded.read() as conn:
        assert identity_by_id(conn, record.id) == record
        assert identity_by_pubkey(conn, record.group_pubkey) == record
        assert identity_by_id(conn, "id_missing") is None
    assert record.share_of(1).signer_id == "s2"


def test_list_is_per_tenant_and_paginates(seeded: Store) -> None:
    mine = [identity_record("default") for _ in range(5)]
    theirs = identity_record("other")
    for r in [*mine, theirs]:
        seeded.run_write(partial(insert_identity, record=r))
    with seeded.read() as conn:
        listed = list_identities(conn, "default")
        assert [r.id for r in listed] == sorted(r.id for r in mine)
        page1 = list_identities(conn, "default", limit=2)
        page2 = list_identities(conn, "default", limit=2, after=page1[-1].id)
        assert [r.id for r in page1 + page2] == [r.id for r in listed[:4]]
        assert count_identities(conn, "default") == 5
        assert count_identities(conn) == 6
        assert len(list_identities(conn, None)) == 6


def test_status_change_and_delete_cascade(seeded: Store) -> None:
    record = identity_record()
    seeded.run_write(lambda c: insert_identity(c, record))
    assert seeded.run_write(lambda c: set_identity_status(c, record.id, "disabled", 2000))
    with seeded.read() as conn:
        got = identity_by_id(conn, record.id)
        assert got is not None and got.status == "disabled" and got.updated_at == 2000
    assert seeded.run_write(lambda c: delete_identity(c, record.id))
    assert not seeded.run_write(lambda c: delete_identity(c, record.id))
    dump = dump_tables(seeded)
    for table in ("identities", "identity_shares", "vss_commitments", "share_attestations"):
        assert dump[table] == [], table


def test_duplicate_group_key_is_refused_and_nothing_half_written(seeded: Store) -> None:
    first = identity_record()
    seeded.run_write(lambda c: insert_identity(c, first))
    before = dump_tables(seeded)
    clash = dataclasses.replace(identity_record(), group_pubkey=first.group_pubkey)
    with pytest.raises(IntegrityError):
        seeded.run_write(lambda c: insert_identity(c, clash))
    assert dump_tables(seeded) == before


def test_a_failing_unit_of_work_rolls_back_every_row(seeded: Store) -> None:
    before = dump_tables(seeded)
    record = identity_record()

    def unit(conn):  # type: ignore[no-untyped-def]
        insert_identity(conn, record)
        raise RuntimeError("boom after the insert")

    with pytest.raises(RuntimeError):
        seeded.run_write(unit)
    assert dump_tables(seeded) == before


def test_check_constraints_hold(seeded: Store) -> None:
    bad = dataclasses.replace(identity_record(), threshold=4)
    with pytest.raises(IntegrityError):
        seeded.run_write(lambda c: insert_identity(c, bad))
    unknown_signer = identity_record(signer_ids=("s1", "nope", "s3"))
    with pytest.raises(IntegrityError):
        seeded.run_write(lambda c: insert_identity(c, unknown_signer))
