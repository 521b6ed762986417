"""The audit routes over HTTP: filters, paging, proofs that verify offline, checkpoints."""

from __future__ import annotations

import json

from nostr_passport.service.audit_commands import verify_proof_command

from ..api.conftest import Server

YEAR_2100 = 4102444800


def test_filters_paging_proofs_and_consistency(server: Server) -> None:
    admin = server.admin
    admin_id = server.harness.admin.token_id
    a = admin.post("/v1/identities", json={"label": "A"}).json()["id"]
    b = admin.post("/v1/identities", json={"label": "B"}).json()["id"]
    for identity in (a, b, a):
        assert admin.post(f"/v1/identities/{identity}/sign", json={"kind": 1}).status_code == 200
    first = admin.post("/v1/audit/checkpoints").json()["checkpoint"]
    everything = admin.get("/v1/audit", params={"limit": 1000}).json()
    records = everything["records"]
    assert everything["size"] == len(records) == first["tree_size"]
    assert [r["index"] for r in records] == list(range(len(records)))

    of_a = admin.get("/v1/audit", params={"identity": a}).json()["records"]
    assert of_a and all(r["identity"] == a for r in of_a)
    assert sum(r["action"] == "sign_event" for r in of_a) == 2
    mine = admin.get("/v1/audit", params={"actor": admin_id}).json()["records"]
    assert mine and all(r["actor"] == admin_id for r in mine)
    assert len(admin.get("/v1/audit", params={"since": 0}).json()["records"]) == len(records)
    assert admin.get("/v1/audit", params={"until": 0}).json()["records"] == []
    assert admin.get("/v1/audit", params={"since": YEAR_2100}).json()["records"] == []

    page = admin.get("/v1/audit", params={"limit": 2}).json()
    assert [r["index"] for r in page["records"]] == [0, 1] and page["next"] == 2
    after = admin.get("/v1/audit", params={"after": 1, "limit": 2}).json()
    assert [r["index"] for r in after["records"]] == [2, 3]

    # Inclusion proof of every record against the latest checkpoint, verified offline.
    for index in (0, len(records) - 1):
        proof = admin.get(f"/v1/audit/proof/{index}")
        assert proof.status_code == 200, proof.text
        verdict, code = verify_proof_command(
            json.dumps(proof.json(), sort_keys=True, separators=(",", ":")).encode()
        )
        assert code == 0, verdict
    assert admin.get(f"/v1/audit/proof/{len(records)}").status_code == 404

    assert admin.post(f"/v1/identities/{b}/sign", json={"kind": 1}).status_code == 200
    second = admin.post("/v1/audit/checkpoints").json()["checkpoint"]
    assert second["tree_size"] > first["tree_size"]
    assert admin.post("/v1/audit/checkpoints").json()["checkpoint"] == second  # nothing new
    sizes = {"first": first["tree_size"], "second": second["tree_size"]}
    consistency = admin.get("/v1/audit/consistency", params=sizes)
    assert consistency.status_code == 200, consistency.text
    body = consistency.json()
    verdict, code = verify_proof_command(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert code == 0, verdict
    same = admin.get(
        "/v1/audit/consistency", params={"old": sizes["first"], "new": sizes["second"]}
    )
    assert same.json() == body
    missing = admin.get("/v1/audit/consistency", params={"first": sizes["first"]})
    assert missing.status_code == 400 and missing.json()["error"] == "bad_request"
    latest = admin.get("/v1/audit/checkpoints/latest").json()
    assert latest["checkpoint"] == second
