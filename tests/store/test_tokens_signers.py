"""API token rows (hash only, scopes, revocation) and signer registration."""

from __future__ import annotations

import dataclasses

from nostr_passport.store import Store
from nostr_passport.store.signers import list_signers, signer_by_id, upsert_signer
from nostr_passport.store.tenants import ensure_tenant, list_tenants
from nostr_passport.store.tokens import (
    TokenScopes,
    insert_token,
    list_tokens,
    revoke_token,
    token_by_hash,
    token_by_id,
)

from .records import signer_record, token_record


def test_tokens_round_trip_and_revoke(store: Store) -> None:
    store.run_write(lambda c: ensure_tenant(c, "default", "Default", 1))
    store.run_write(lambda c: ensure_tenant(c, "t2", "Two", 1))
    a = token_record("default", "app")
    b = dataclasses.replace(token_record("t2", "admin"), scopes=TokenScopes())
    store.run_write(lambda c: insert_token(c, a))
    store.run_write(lambda c: insert_token(c, b))
    with store.read() as conn:
        assert token_by_hash(conn, a.token_hash) == a
        assert token_by_id(conn, b.id) == b
        assert [t.id for t in list_tokens(conn, "default")] == [a.id]
        assert len(list_tokens(conn, None)) == 2
        assert [t.id for t in list_tenants(conn)] == ["default", "t2"]
    assert store.run_write(lambda c: revoke_token(c, a.id, 50))
    assert store.run_write(lambda c: revoke_token(c, a.id, 60))  # idempotent
    assert not store.run_write(lambda c: revoke_token(c, "tok_nope", 60))
    with store.read() as conn:
        got = token_by_id(conn, a.id)
        assert got is not None and got.revoked_at == 50


def test_scopes_json_is_canonical_and_round_trips() -> None:
    scopes = TokenScopes(identities=("b", "a"), methods=None, kinds=(1, 30023))
    assert scopes.to_json() == '{"identities":["b","a"],"kinds":[1,30023],"methods":null}'
    assert TokenScopes.from_json(scopes.to_json()) == scopes


def test_signer_upsert_changes_only_on_real_change(store: Store) -> None:
    rec = signer_record("s1", now=10)
    assert store.run_write(lambda c: upsert_signer(c, rec))
    later = dataclasses.replace(rec, registered_at=99, updated_at=99)
    assert not store.run_write(lambda c: upsert_signer(c, later))
    moved = dataclasses.replace(later, kind="http", url="http://127.0.0.1:9")
    assert store.run_write(lambda c: upsert_signer(c, moved))
    with store.read() as conn:
        got = signer_by_id(conn, "s1")
        assert got is not None
        assert got.url == "http://127.0.0.1:9" and got.registered_at == 10 and got.updated_at == 99
        assert [s.id for s in list_signers(conn)] == ["s1"]
