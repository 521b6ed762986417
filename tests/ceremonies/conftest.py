"""Fixtures: a Passport over real in-process signers, on SQLite and PostgreSQL, with a
Ceremonies service on a clock the test moves (expiry is never a matter of wall time)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nostr_passport.service.ceremonies import Ceremonies
from nostr_passport.store import Store

from ..service.harness import Harness, build_harness
from ..store.databases import BACKENDS, database_url
from .helpers import FakeClock


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database_url(request.param, tmp_path) as url:
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
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ceremonies(harness: Harness, clock: FakeClock) -> Ceremonies:
    return Ceremonies(harness.passport, clock=clock)
