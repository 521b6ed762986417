"""Migrations: fresh database to head, idempotent restart, schema == tables.py, down and up."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from nostr_passport.store import Store
from nostr_passport.store.migrate import alembic_config, current_revision, head_revision
from nostr_passport.store.tables import ALL_TABLES, metadata


def test_open_migrates_a_fresh_database_to_head(store_url: str) -> None:
    store = Store.open(store_url)
    try:
        assert current_revision(store.engine) == head_revision()
        names = set(inspect(store.engine).get_table_names())
        assert {t.name for t in ALL_TABLES} <= names
    finally:
        store.close()


def test_reopening_is_a_noop(store_url: str) -> None:
    Store.open(store_url).close()
    store = Store.open(store_url)
    try:
        assert current_revision(store.engine) == head_revision()
    finally:
        store.close()


def test_migrated_schema_matches_the_table_definitions(store: Store) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


def test_downgrade_to_base_and_upgrade_again(store: Store) -> None:
    with store.engine.connect() as conn:
        command.downgrade(alembic_config(conn), "base")
        conn.commit()
    assert not {t.name for t in ALL_TABLES} & set(inspect(store.engine).get_table_names())
    with store.engine.connect() as conn:
        command.upgrade(alembic_config(conn), "head")
        conn.commit()
    assert current_revision(store.engine) == head_revision()
