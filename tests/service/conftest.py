from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nostr_passport.config import Settings
from nostr_passport.service.access import Principal
from nostr_passport.service.passport import Passport
from nostr_passport.store import Store

from ..store.databases import BACKENDS, database_url
from .harness import Harness, build_harness


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database_url(request.param, tmp_path) as url:
        s = Store.open(url)
        try:
            yield s
        finally:
            s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with database_url("sqlite", tmp_path) as url:
        s = Store.open(url)
        try:
            yield s
        finally:
            s.close()


@pytest.fixture
def harness(store: Store, tmp_path: Path) -> Iterator[Harness]:
    h = build_harness(store, tmp_path)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def fast_harness(sqlite_store: Store, tmp_path: Path) -> Iterator[Harness]:
    """SQLite only: for behaviour that does not depend on the database."""
    h = build_harness(sqlite_store, tmp_path)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def passport(harness: Harness) -> Passport:
    return harness.passport


@pytest.fixture
def admin(harness: Harness) -> Principal:
    return harness.admin


_ = Settings
