"""Fail closed: when the audit log cannot be written, no key is used.

The gateway is pointed at a store whose audit table it cannot write, the way an operator
could misconfigure it:

- PostgreSQL: the gateway logs in as a dedicated role that has every privilege on every
  table except INSERT on audit_log (REVOKE INSERT ON audit_log FROM that role).
- SQLite: the database file is opened read-only. The tests run as root, which ignores
  file modes (chmod 0444 would not stop a root writer), so the read-only file is met the
  way SQLite itself meets one it may not write: the store is opened with a
  `file:...?mode=ro` URI (a fresh connection; every write fails with
  "attempt to write a readonly database", exactly what a 0444 file gives a non-root user).

Signing, batch signing and decryption are then refused with 503 audit_unavailable, and the
signers (real ones on the HSM simulator, wrapped to count calls) never see a partial_sign
or ecdh_share request.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import coincurve
import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from nostr_passport.service.gateway import assemble
from nostr_passport.store import Store
from nostr_passport.store.tables import audit_log

from ..api.conftest import Server, run_server
from ..service.harness import Harness, build_harness, settings_for_tests
from ..store.databases import BACKENDS, PG_HOST, PG_PORT, database_url

KEY_USES = ("partial_sign", "ecdh_share")


@contextmanager
def restricted_postgres(url: str) -> Iterator[str]:
    """A login role with every privilege except INSERT on audit_log; yields its URL."""
    parsed = make_url(url)
    role = f"np_gateway_{secrets.token_hex(4)}"
    dbname = str(parsed.database)
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=parsed.username, dbname=dbname, autocommit=True
    ) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT CONNECT ON DATABASE "{dbname}" TO "{role}"')
        conn.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        conn.execute(f'GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO "{role}"')
        conn.execute(f'GRANT ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        conn.execute(f'REVOKE INSERT ON audit_log FROM "{role}"')
    try:
        yield str(parsed.set(username=role))
    finally:
        # The database (and with it every grant) is dropped by postgres_database().
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=parsed.username, dbname=dbname, autocommit=True
        ) as conn:
            conn.execute(f'REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM "{role}"')
            conn.execute(f'REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM "{role}"')
            conn.execute(f'REVOKE ALL ON SCHEMA public FROM "{role}"')
            conn.execute(f'REVOKE ALL ON DATABASE "{dbname}" FROM "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


@contextmanager
def unwritable_audit(backend: str, url: str) -> Iterator[str]:
    if backend == "postgresql":
        with restricted_postgres(url) as restricted:
            yield restricted
    else:
        path = make_url(url).database
        yield f"sqlite+pysqlite:///file:{path}?mode=ro&uri=true"


def key_uses(harness: Harness) -> int:
    return sum(s.count(name) for s in harness.signers.values() for name in KEY_USES)


@pytest.mark.parametrize("backend", BACKENDS)
def test_key_use_refused_when_audit_unwritable(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        store = Store.open(url)
        harness = build_harness(store, tmp_path, settings_for_tests())
        try:
            with run_server(harness) as base:
                server = Server(base, harness)
                identity = server.admin.post("/v1/identities", json={"label": "A"}).json()["id"]
                peer = coincurve.PrivateKey(secrets.token_bytes(32)).public_key_xonly.format()
                encrypted = server.admin.post(
                    f"/v1/identities/{identity}/nip44/encrypt",
                    json={"pubkey": peer.hex(), "plaintext": "before"},
                )
                assert encrypted.status_code == 200, encrypted.text
                # The writable store works: one signature, the key is used.
                signed = server.admin.post(f"/v1/identities/{identity}/sign", json={"kind": 1})
                assert signed.status_code == 200, signed.text
            assert key_uses(harness) > 0
            with store.read() as conn:
                records_before = conn.execute(select(func.count()).select_from(audit_log)).scalar()

            with unwritable_audit(backend, url) as restricted_url:
                restricted = Store.open(restricted_url, migrate=False)
                gateway = assemble(restricted, harness.signers, settings_for_tests())
                try:
                    uses_before = key_uses(harness)
                    with run_server(
                        Harness(
                            restricted, gateway, harness.signers, harness.admin, harness.admin_token
                        )
                    ) as base:
                        client = Server(base, harness).admin
                        replies = [
                            client.post(
                                f"/v1/identities/{identity}/sign",
                                json={"kind": 1, "content": "must not be signed"},
                            ),
                            client.post(
                                f"/v1/identities/{identity}/sign-batch",
                                json={"events": [{"kind": 1}, {"kind": 1, "content": "b"}]},
                            ),
                            client.post(
                                f"/v1/identities/{identity}/nip44/decrypt",
                                json={
                                    "pubkey": peer.hex(),
                                    "ciphertext": encrypted.json()["ciphertext"],
                                },
                            ),
                        ]
                        # Reads still work: the gateway can see the identity, only not audit.
                        shown = client.get(f"/v1/identities/{identity}")
                    for reply in replies:
                        assert reply.status_code == 503, reply.text
                        body = reply.json()
                        assert body["error"] == "audit_unavailable"
                        assert "sig" not in body and "plaintext" not in body
                    assert shown.status_code == 200
                    assert key_uses(harness) == uses_before
                finally:
                    gateway.pool.executor.shutdown(wait=False, cancel_futures=True)
                    restricted.close()
            with store.read() as conn:
                records_after = conn.execute(select(func.count()).select_from(audit_log)).scalar()
            assert records_after == records_before
        finally:
            harness.close()
            store.close()
