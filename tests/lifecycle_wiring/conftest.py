from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nostr_passport.store import Store

from ..service.harness import Harness, build_harness
from ..store.databases import database_url


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """Three simulator signers behind a real Passport on SQLite."""
    with database_url("sqlite", tmp_path) as url:
        store = Store.open(url)
        h = build_harness(store, tmp_path)
        try:
            yield h
        finally:
            h.close()
            store.close()
