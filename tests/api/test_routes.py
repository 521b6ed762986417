"""The HTTP API over a real socket: every route, its roles and its replies."""

from __future__ import annotations

import json

from nostr_sdk import Event

from .conftest import Server


def test_health_and_readiness(server: Server) -> None:
    anon = server.client()
    assert anon.get("/healthz").json() == {"status": "ok"}
    ready = anon.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] and body["store"] and body["signers"]["required"] == 2
    assert sorted(body["signers"]["healthy"]) == ["signer-1", "signer-2", "signer-3"]
    server.harness.signers["signer-1"].down = True
    server.harness.signers["signer-2"].down = True
    degraded = anon.get("/readyz")
    assert degraded.status_code == 503 and not degraded.json()["ready"]
    assert "signer-1" in degraded.json()["signers"]["unhealthy"]


def test_identity_lifecycle_and_signing(server: Server) -> None:
    admin = server.admin
    created = admin.post("/v1/identities", json={"threshold": 2, "participants": 3, "label": "ü"})
    assert created.status_code == 201, created.text
    identity = created.json()
    for key in ("id", "pubkey", "npub", "threshold", "participants", "status", "signers"):
        assert key in identity
    assert len(identity["attestations"]) == 3
    listed = admin.get("/v1/identities").json()
    assert [i["id"] for i in listed["identities"]] == [identity["id"]] and listed["next"] is None
    assert admin.get(f"/v1/identities/{identity['id']}").json()["npub"] == identity["npub"]

    template = {"kind": 1, "content": "hello ☃", "tags": [["t", "nostr"]]}
    signed = admin.post(f"/v1/identities/{identity['id']}/sign", json=template)
    assert signed.status_code == 200, signed.text
    event = signed.json()
    assert set(event) == {"id", "pubkey", "created_at", "kind", "tags", "content", "sig"}
    assert Event.from_json(json.dumps(event)).verify()
    assert event["pubkey"] == identity["pubkey"]

    batch = admin.post(
        f"/v1/identities/{identity['id']}/sign-batch",
        json={"events": [{"kind": k, "content": str(k), "created_at": 1000 + k} for k in range(5)]},
    )
    assert batch.status_code == 200
    assert [e["kind"] for e in batch.json()["events"]] == list(range(5))
    assert all(Event.from_json(json.dumps(e)).verify() for e in batch.json()["events"])

    disabled = admin.post(f"/v1/identities/{identity['id']}/disable")
    assert disabled.json()["status"] == "disabled"
    refused = admin.post(f"/v1/identities/{identity['id']}/sign", json=template)
    assert refused.status_code == 409 and refused.json()["error"] == "identity_disabled"
    assert admin.post(f"/v1/identities/{identity['id']}/enable").json()["status"] == "active"
    deleted = admin.delete(f"/v1/identities/{identity['id']}")
    assert deleted.status_code == 200 and deleted.json()["deleted"]
    assert admin.get(f"/v1/identities/{identity['id']}").status_code == 404


def test_tokens_routes(server: Server) -> None:
    admin = server.admin
    made = admin.post("/v1/tokens", json={"name": "bot", "role": "app", "scopes": {"kinds": [1]}})
    assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
    token = made.json()
    assert token["token"].startswith("np_") and token["scopes"]["kinds"] == [1]
    listed = admin.get("/v1/tokens").json()["tokens"]
    assert token["id"] in [t["id"] for t in listed]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    app = server.client(token["token"])
    assert app.get("/v1/identities").status_code == 200
    assert app.get("/v1/tokens").status_code == 403
    revoked = admin.delete(f"/v1/tokens/{token['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    after = app.get("/v1/identities")
    assert after.status_code == 401 and after.headers["www-authenticate"] == "Bearer"
    assert admin.delete("/v1/tokens/tok_missing").status_code == 404


def test_request_ids_are_echoed(server: Server) -> None:
    response = server.admin.get("/v1/identities", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert server.admin.get("/v1/identities").headers["x-request-id"].startswith("req_")


def test_openapi_documents_every_route(server: Server) -> None:
    spec = server.client().get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/identities",
        "/v1/identities/{identity_id}",
        "/v1/identities/{identity_id}/disable",
        "/v1/identities/{identity_id}/sign",
        "/v1/identities/{identity_id}/sign-batch",
        "/v1/identities/{identity_id}/nip44/encrypt",
        "/v1/identities/{identity_id}/nip44/decrypt",
        "/v1/identities/{identity_id}/nip04/encrypt",
        "/v1/identities/{identity_id}/nip04/decrypt",
        "/v1/tokens",
        "/v1/tokens/{token_id}",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    sign_body = paths["/v1/identities/{identity_id}/sign"]["post"]["requestBody"]
    ref = sign_body["content"]["application/json"]["schema"]["$ref"]
    assert ref.split("/")[-1] in spec["components"]["schemas"]


def test_rate_limit_returns_429_with_retry_after(server: Server) -> None:
    from nostr_passport.service.ratelimit import RateLimiter

    server.harness.passport.rate_limiter = RateLimiter(0.001, 3)
    codes = [server.admin.get("/v1/identities").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    limited = server.admin.get("/v1/identities")
    assert limited.json()["error"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
