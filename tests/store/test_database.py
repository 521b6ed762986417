"""Store handle behaviour: retry of lost races, clear failure when the database is away."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from nostr_passport.errors import ConfigError, UnavailableError
from nostr_passport.store import Store, WriteConflictError


def test_run_write_reruns_a_unit_that_lost_a_race(store: Store) -> None:
    calls: list[int] = []

    def unit(conn):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) < 3:
            raise WriteConflictError("lost")
        return conn.execute(text("SELECT 41 + 1")).scalar_one()

    assert store.run_write(unit) == 42
    assert len(calls) == 3


def test_run_write_gives_up_with_unavailable(store: Store) -> None:
    def unit(conn):  # type: ignore[no-untyped-def]
        raise WriteConflictError("always")

    with pytest.raises(UnavailableError):
        store.run_write(unit)


def test_ping(store: Store) -> None:
    assert store.ping()


def test_unreachable_postgres_is_unavailable_not_a_crash() -> None:
    with pytest.raises(UnavailableError) as info:
        Store.open("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    assert "store unreachable" in str(info.value)


def test_unsupported_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Store.open("mysql://x@y/z")
    with pytest.raises(ConfigError):
        Store.open("not a url")
