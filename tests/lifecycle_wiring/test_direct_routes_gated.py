"""With two admins, DELETE /v1/identities/{id} and admin-token creation need a ceremony."""

from __future__ import annotations

import httpx

from nostr_passport.service.ceremonies import Ceremonies

from ..ceremonies.helpers import FakeClock
from ..ceremonies.server import app_with_ceremonies, serve
from ..service.harness import Harness


def _client(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_one_admin_may_delete_directly(harness: Harness) -> None:
    h = harness
    identity_id = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    with serve(app_with_ceremonies(Ceremonies(h.passport, clock=FakeClock()))) as url:
        reply = _client(url, h.admin_token).delete(f"/v1/identities/{identity_id}")
        assert reply.status_code == 200, reply.text


def test_two_admins_need_a_ceremony(harness: Harness) -> None:
    h = harness
    second_token, _ = h.token("admin")
    identity_id = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    with serve(app_with_ceremonies(Ceremonies(h.passport, clock=FakeClock()))) as url:
        first = _client(url, h.admin_token)
        second = _client(url, second_token)
        refused = first.delete(f"/v1/identities/{identity_id}")
        assert (refused.status_code, refused.json()["error"]) == (403, "ceremony_required")
        token = first.post("/v1/tokens", json={"name": "third", "role": "admin"})
        assert (token.status_code, token.json()["error"]) == (403, "ceremony_required")
        operator = first.post("/v1/tokens", json={"name": "op", "role": "operator"})
        assert operator.status_code in (200, 201), operator.text

        for operation, params in (
            ("delete_identity", {"identity_id": identity_id}),
            ("create_admin_token", {"token_name": "third"}),
        ):
            proposed = first.post("/v1/ceremonies", json={"operation": operation, "params": params})
            assert proposed.status_code == 201, proposed.text
            cid = proposed.json()["id"]
            assert second.post(f"/v1/ceremonies/{cid}/approve").status_code == 200
            executed = first.post(f"/v1/ceremonies/{cid}/execute")
            assert executed.status_code == 200, executed.text
        assert first.get(f"/v1/identities/{identity_id}").status_code == 404
