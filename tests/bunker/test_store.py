"""The bunker's tables on SQLite and PostgreSQL: single use where it matters (secrets,
counted grants, decisions, claims, seen request ids), and the grant rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from nostr_passport.nostr.nip46 import Permission, parse_permissions
from nostr_passport.service.bunker.grants import EVERYTHING, connect_permissions
from nostr_passport.store import Store
from nostr_passport.store.bunker_tables import (
    ConnectionRecord,
    GrantRecord,
    PendingRequest,
    SecretRecord,
    claim_decided,
    connection_of,
    consume_secret,
    decide_request,
    grants_of,
    insert_grants,
    insert_request,
    insert_secret,
    mark_seen,
    revoke_connection,
    save_connection,
    use_grant,
)
from tests.store.databases import BACKENDS, database_url

CLIENT = "c" * 64
NOW = 1_800_000_000


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database_url(request.param, tmp_path) as url:
        opened = Store.open(url)
        try:
            yield opened
        finally:
            opened.close()


def _grant(grant_id: str, method: str, kind: int | None, **terms: int | None) -> GrantRecord:
    return GrantRecord(
        id=grant_id,
        identity_id="id_a",
        client_pubkey=CLIENT,
        method=method,
        kind=kind,
        expires_at=terms.get("expires_at"),
        uses_left=terms.get("uses_left"),
        created_at=NOW,
        created_by="test",
    )


def test_a_secret_is_consumed_once(store: Store) -> None:
    record = SecretRecord("h" * 64, "id_a", ("ws://r",), None, None, None, NOW, None, "tok")
    store.run_write(lambda conn: insert_secret(conn, record))
    assert store.run_write(lambda conn: consume_secret(conn, "h" * 64, CLIENT, NOW))
    assert not store.run_write(lambda conn: consume_secret(conn, "h" * 64, "d" * 64, NOW))


def test_counted_expiring_and_kind_grants(store: Store) -> None:
    grants = [
        _grant("g1", "sign_event", 1, uses_left=2),
        _grant("g2", "sign_event", 7, expires_at=NOW + 10),
        _grant("g3", "nip44_encrypt", None),
    ]
    store.run_write(lambda conn: insert_grants(conn, grants))

    def use(method: str, kind: int | None, now: int = NOW) -> str | None:
        found = store.run_write(lambda conn: use_grant(conn, "id_a", CLIENT, method, kind, now))
        return None if found is None else found.id

    assert [use("sign_event", 1), use("sign_event", 1), use("sign_event", 1)] == ["g1", "g1", None]
    assert use("sign_event", 7) == "g2"
    assert use("sign_event", 7, NOW + 10) is None  # expired
    assert use("sign_event", 4) is None
    assert use("nip44_encrypt", None) == "g3" and use("nip44_encrypt", None) == "g3"
    assert use("nip44_decrypt", None) is None
    with store.read() as conn:
        assert {g.id for g in grants_of(conn, "id_a", CLIENT, NOW)} == {"g2", "g3"}


def test_revoking_a_connection_drops_its_grants(store: Store) -> None:
    connection = ConnectionRecord(
        "id_a", CLIENT, "active", "bunker", ("ws://r",), None, None, None, "tok", NOW
    )
    store.run_write(lambda conn: save_connection(conn, connection))
    store.run_write(lambda conn: insert_grants(conn, [_grant("g1", "sign_event", None)]))
    assert store.run_write(lambda conn: revoke_connection(conn, "id_a", CLIENT, NOW, "me"))
    assert not store.run_write(lambda conn: revoke_connection(conn, "id_a", CLIENT, NOW, "me"))
    with store.read() as conn:
        assert grants_of(conn, "id_a", CLIENT, NOW) == []
        revoked = connection_of(conn, "id_a", CLIENT)
    assert revoked is not None and revoked.status == "revoked" and revoked.revoked_by == "me"


def test_one_decision_and_one_claim_per_request(store: Store) -> None:
    pending = PendingRequest(
        "bra_1", "id_a", CLIENT, "sign_event", 7, "rpc", "{}", ("ws://r",),
        "pending", None, NOW, NOW + 60,
    )  # fmt: skip
    store.run_write(lambda conn: insert_request(conn, pending))
    assert not store.run_write(
        lambda conn: decide_request(conn, "bra_1", "approved", "once", "me", NOW + 60)
    )  # expired by then
    assert store.run_write(lambda conn: decide_request(conn, "bra_1", "denied", "deny", "me", NOW))
    assert not store.run_write(
        lambda conn: decide_request(conn, "bra_1", "approved", "once", "me", NOW)
    )
    assert store.run_write(lambda conn: claim_decided(conn, "bra_1"))
    assert not store.run_write(lambda conn: claim_decided(conn, "bra_1"))


def test_a_request_event_is_taken_once(store: Store) -> None:
    store.run_write(lambda conn: mark_seen(conn, "e" * 64, NOW))
    with pytest.raises(IntegrityError):
        store.run_write(lambda conn: mark_seen(conn, "e" * 64, NOW))


def test_connect_permissions_within_the_issuers_allowance() -> None:
    allowance = parse_permissions("sign_event:1,sign_event:7,nip44_encrypt")
    assert connect_permissions(None, None) == EVERYTHING
    assert connect_permissions(None, allowance) == allowance
    asked = parse_permissions("sign_event,nip04_decrypt", strict=False)
    assert connect_permissions(asked, allowance) == (
        Permission("sign_event", 1),
        Permission("sign_event", 7),
    )
    assert connect_permissions(asked, None) == asked
