"""Refusals on the audit and attestation routes leave a `denied` record, like any other."""

from __future__ import annotations

from nostr_passport.store.audit_log import audit_records

from .conftest import Server


def denied(server: Server, action: str) -> list[str | None]:
    with server.harness.store.read() as conn:
        return [
            r.identity_id
            for r in audit_records(conn)
            if r.action == action and r.outcome == "denied"
        ]


def test_out_of_scope_attestation_and_foreign_proofs_are_audited(sqlite_server: Server) -> None:
    admin = sqlite_server.admin
    a = admin.post("/v1/identities", json={}).json()["id"]
    b = admin.post("/v1/identities", json={}).json()["id"]
    scoped = admin.post(
        "/v1/tokens", json={"role": "app", "name": "b only", "scopes": {"identities": [b]}}
    ).json()["token"]
    reply = sqlite_server.client(scoped).get(f"/v1/identities/{a}/attestation")
    assert reply.status_code == 403
    assert denied(sqlite_server, "identity.read") == [a]

    foreign = admin.post(
        "/v1/tokens", json={"role": "auditor", "name": "other tenant", "tenant": "acme"}
    ).json()["token"]
    client = sqlite_server.client(foreign)
    assert client.get("/v1/audit/proof/0").status_code == 403
    assert client.get("/v1/audit/checkpoints/latest").status_code == 403
    assert len(denied(sqlite_server, "audit.read")) == 2
