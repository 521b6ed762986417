"""The HTTP API of ceremonies, over a real server: every approval is its own request with
its own admin token; status codes and reasons as docs/ceremonies.md describes them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from nostr_passport.service.ceremonies import Ceremonies

from ..service.harness import Harness
from .helpers import FakeClock, steps
from .server import app_with_ceremonies, serve


@pytest.fixture
def base_url(ceremonies: Ceremonies) -> Iterator[str]:
    with serve(app_with_ceremonies(ceremonies)) as url:
        yield url


def _client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_delete_identity_by_ceremony_over_http(
    harness: Harness, base_url: str, clock: FakeClock
) -> None:
    h = harness
    second_token, _ = h.token("admin")
    operator_token, _ = h.token("operator")
    foreign_token, _ = h.token("admin", tenant="acme")
    identity_id = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    first = _client(base_url, h.admin_token)
    second = _client(base_url, second_token)

    reply = first.post(
        "/v1/ceremonies",
        json={"operation": "delete_identity", "params": {"identity_id": identity_id}},
    )
    assert reply.status_code == 201, reply.text
    ceremony = reply.json()
    cid = ceremony["id"]
    assert ceremony["status"] == "pending"
    assert (ceremony["required"], ceremony["approvals"]) == (2, 1)
    assert ceremony["params"] == {"identity_id": identity_id, "force": False}
    assert len(ceremony["params_hash"]) == 64
    assert ceremony["expires_at"] == ceremony["created_at"] + 24 * 3600

    refused = first.post(f"/v1/ceremonies/{cid}/execute")
    assert refused.status_code == 409
    assert refused.json()["error"] == "quorum_not_reached"
    assert "1 of 2" in refused.json()["message"]
    assert first.post(f"/v1/ceremonies/{cid}/approve").json()["approvals"] == 1

    operator = _client(base_url, operator_token).post(f"/v1/ceremonies/{cid}/approve")
    assert (operator.status_code, operator.json()["error"]) == (403, "forbidden")
    foreign = _client(base_url, foreign_token).post(f"/v1/ceremonies/{cid}/approve")
    assert foreign.status_code == 404
    anonymous = httpx.post(f"{base_url}/v1/ceremonies/{cid}/approve")
    assert anonymous.status_code == 401

    approved = second.post(
        f"/v1/ceremonies/{cid}/approve", json={"params_hash": ceremony["params_hash"]}
    )
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["approvals"]) == ("approved", 2)

    executed = second.post(f"/v1/ceremonies/{cid}/execute")
    assert executed.status_code == 200, executed.text
    assert executed.headers["cache-control"] == "no-store"
    assert executed.json()["result"]["deleted"] is True
    assert executed.json()["ceremony"]["status"] == "executed"
    again = second.post(f"/v1/ceremonies/{cid}/execute")
    assert (again.status_code, again.json()["error"]) == (409, "ceremony_closed")
    assert first.get(f"/v1/identities/{identity_id}").status_code == 404

    listed = first.get("/v1/ceremonies").json()["ceremonies"]
    assert [c["id"] for c in listed] == [cid]
    assert first.get("/v1/ceremonies", params={"status": "pending"}).json()["ceremonies"] == []
    assert first.get(f"/v1/ceremonies/{cid}").json()["status"] == "executed"
    assert [s for s, _ in steps(h.store, cid)].count("ceremony.execute") == 3


def test_create_admin_token_expiry_and_rejection_over_http(
    harness: Harness, base_url: str, clock: FakeClock
) -> None:
    h = harness
    second_token, _ = h.token("admin")
    first = _client(base_url, h.admin_token)
    second = _client(base_url, second_token)

    secret = first.post(
        "/v1/ceremonies",
        json={"operation": "create_admin_token", "params": {"token_name": "x", "pin": "1234"}},
    )
    assert (secret.status_code, secret.json()["error"]) == (400, "secret_in_params")
    assert "1234" not in secret.text
    unknown = first.post("/v1/ceremonies", json={"operation": "restore", "params": {}})
    assert unknown.status_code == 400

    proposed = first.post(
        "/v1/ceremonies",
        json={"operation": "create_admin_token", "params": {"token_name": "new"}},
    ).json()
    assert second.post(f"/v1/ceremonies/{proposed['id']}/approve").status_code == 200
    result = first.post(f"/v1/ceremonies/{proposed['id']}/execute").json()["result"]
    token = result["token"]
    assert result["role"] == "admin" and result["token_id"].startswith("tok_")
    shown = first.get(f"/v1/ceremonies/{proposed['id']}").json()
    assert "token" not in shown["result"] and token not in str(shown)
    assert _client(base_url, token).get("/v1/ceremonies").status_code == 200

    late = first.post(
        "/v1/ceremonies",
        json={"operation": "create_admin_token", "params": {"token_name": "late"}},
    ).json()
    clock.advance(24 * 3600)
    expired = second.post(f"/v1/ceremonies/{late['id']}/approve")
    assert (expired.status_code, expired.json()["error"]) == (409, "ceremony_expired")

    vetoed = first.post(
        "/v1/ceremonies",
        json={"operation": "create_admin_token", "params": {"token_name": "vetoed"}},
    ).json()
    rejected = second.post(f"/v1/ceremonies/{vetoed['id']}/reject", json={"reason": "no"})
    assert rejected.json()["status"] == "rejected"
    closed = first.post(f"/v1/ceremonies/{vetoed['id']}/execute")
    assert (closed.status_code, closed.json()["error"]) == (409, "ceremony_closed")
    bad = first.post(f"/v1/ceremonies/{vetoed['id']}/approve", json={"surprise": 1})
    assert bad.status_code == 400
