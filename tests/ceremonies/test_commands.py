"""The plain functions behind `nostr-passport ceremony ...`: JSON-ready dicts, one shape."""

from __future__ import annotations

import json

from nostr_passport.service.ceremonies import Ceremonies
from nostr_passport.service.ceremony_commands import (
    ceremony_approve,
    ceremony_execute,
    ceremony_list,
    ceremony_propose,
    ceremony_reject,
    ceremony_show,
)

from ..service.harness import Harness
from .helpers import FakeClock
from .server import app_with_ceremonies

KEYS = {
    "id",
    "tenant",
    "operation",
    "params",
    "params_hash",
    "required",
    "approvals",
    "approved_by",
    "status",
    "proposed_by",
    "created_at",
    "expires_at",
    "decided_at",
    "decided_by",
    "result",
}


def test_command_functions_return_json_ready_dicts(
    harness: Harness, ceremonies: Ceremonies, clock: FakeClock
) -> None:
    h = harness
    _, other = h.token("admin")
    proposed = ceremony_propose(ceremonies, h.admin, "create_admin_token", {"token_name": "cli"})
    assert set(proposed) == KEYS
    cid = proposed["id"]
    approved = ceremony_approve(ceremonies, other, cid, params_hash=proposed["params_hash"])
    assert approved["approved_by"][1] == {
        "token_id": other.token_id,
        "approved_at": approved["approved_by"][1]["approved_at"],
        "counts": True,
    }
    assert ceremony_show(ceremonies, h.admin, cid)["status"] == "approved"
    executed = ceremony_execute(ceremonies, other, cid)
    assert executed["result"]["token"].startswith("np_")
    clock.advance(1)  # listed oldest first
    vetoed = ceremony_propose(ceremonies, h.admin, "create_admin_token", {"token_name": "no"})
    assert ceremony_reject(ceremonies, other, vetoed["id"], reason="no")["status"] == "rejected"
    listed = ceremony_list(ceremonies, h.admin)
    assert [c["status"] for c in listed["ceremonies"]] == ["executed", "rejected"]
    assert (
        ceremony_list(ceremonies, h.admin, status="rejected")["ceremonies"][0]["id"]
        == (vetoed["id"])
    )
    for value in (proposed, approved, executed, listed):
        assert json.loads(json.dumps(value)) == value


def test_openapi_documents_the_ceremony_routes(ceremonies: Ceremonies) -> None:
    schema = app_with_ceremonies(ceremonies).openapi()
    paths = schema["paths"]
    for path in (
        "/v1/ceremonies",
        "/v1/ceremonies/{ceremony_id}",
        "/v1/ceremonies/{ceremony_id}/approve",
        "/v1/ceremonies/{ceremony_id}/reject",
        "/v1/ceremonies/{ceremony_id}/execute",
    ):
        assert path in paths
    body = paths["/v1/ceremonies"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["schema"]["properties"]) == {"operation", "params", "ttl_seconds"}
