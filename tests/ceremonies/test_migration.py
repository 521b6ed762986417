"""Migration 0004: a fresh database upgraded to head has the ceremony tables, as defined."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from nostr_passport.store import Store
from nostr_passport.store.ceremony_tables import ceremonies, ceremony_approvals
from nostr_passport.store.tables import metadata

from ..store.databases import BACKENDS, database_url


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_head_creates_the_ceremony_tables(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        store = Store.open(url)
        try:
            names = set(inspect(store.engine).get_table_names())
            assert {ceremonies.name, ceremony_approvals.name} <= names
            with store.engine.connect() as conn:
                diffs = compare_metadata(MigrationContext.configure(conn), metadata)
            assert diffs == []
        finally:
            store.close()
