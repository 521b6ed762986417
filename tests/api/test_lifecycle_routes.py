"""The key lifecycle over HTTP: keygen choice, refresh, backup, signers, KEK rotation."""

from __future__ import annotations

import hashlib
import json

import httpx
from nostr_sdk import Event

from nostr_passport.store.audit_log import audit_records

from ..lifecycle.helpers import local, plain_share
from .conftest import Server


def create(server: Server, **body: object) -> dict[str, object]:
    reply = server.admin.post("/v1/identities", json={"threshold": 2, "participants": 3, **body})
    assert reply.status_code == 201, reply.text
    data: dict[str, object] = reply.json()
    return data


def signs(server: Server, identity: dict[str, object]) -> bool:
    reply = server.admin.post(f"/v1/identities/{identity['id']}/sign", json={"kind": 1})
    assert reply.status_code == 200, reply.text
    event = reply.json()
    return bool(
        event["pubkey"] == identity["pubkey"] and Event.from_json(json.dumps(event)).verify()
    )


def app_token(server: Server) -> str:
    reply = server.admin.post("/v1/tokens", json={"role": "app", "name": "app"})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def test_keygen_choice(sqlite_server: Server) -> None:
    default = create(sqlite_server)
    dkg = create(sqlite_server, keygen="dkg")
    dealer = create(sqlite_server, keygen="dealer")
    assert [i["keygen_method"] for i in (default, dkg, dealer)] == ["dkg", "dkg", "dealer"]
    assert all(signs(sqlite_server, i) for i in (default, dkg, dealer))
    refused = sqlite_server.admin.post("/v1/identities", json={"keygen": "shamir"})
    assert refused.status_code == 400 and "keygen" in refused.text


def test_refresh_keeps_the_npub_and_moves_the_epoch(sqlite_server: Server) -> None:
    identity = create(sqlite_server)
    reply = sqlite_server.admin.post(f"/v1/identities/{identity['id']}/refresh")
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert (result["npub"], result["from_epoch"], result["to_epoch"]) == (identity["npub"], 0, 1)
    shown = sqlite_server.admin.get(f"/v1/identities/{identity['id']}").json()
    assert shown["epoch"] == 1 and shown["npub"] == identity["npub"]
    assert signs(sqlite_server, identity)

    app = sqlite_server.client(app_token(sqlite_server))
    denied = app.post(f"/v1/identities/{identity['id']}/refresh")
    assert denied.status_code == 403
    missing = sqlite_server.admin.post("/v1/identities/id_missing/refresh")
    assert missing.status_code == 404
    with sqlite_server.harness.store.read() as conn:
        records = audit_records(conn, identity_id=str(identity["id"]))
    assert [(r.action, r.outcome) for r in records if r.action == "identity.refresh"] == [
        ("identity.refresh", "ok"),
        ("identity.refresh", "denied"),
    ]


def test_signers_list_shows_transport_keys(sqlite_server: Server) -> None:
    create(sqlite_server)  # registers the signers
    signers = sqlite_server.admin.get("/v1/signers").json()["signers"]
    assert sorted(s["id"] for s in signers) == sorted(sqlite_server.harness.passport.pool.ids)
    for s in signers:
        assert bytes.fromhex(s["transport_public_key"]) and s["simulated"] is True
        assert s["supports_dkg"] is True
    app = sqlite_server.client(app_token(sqlite_server))
    assert app.get("/v1/signers").status_code == 403


def test_backup_is_sealed_and_refuses_software_targets_unless_allowed(
    sqlite_server: Server,
) -> None:
    h = sqlite_server.harness
    identity = create(sqlite_server)
    identity_id = str(identity["id"])
    url = f"/v1/identities/{identity_id}/backup"
    targets = {"0": "signer-2", "1": "signer-3"}
    refused = sqlite_server.admin.post(url, json={"to": targets})
    assert refused.status_code == 400 and "software" in refused.json()["message"]

    reply = sqlite_server.admin.post(url, json={"to": targets, "allow_software": True})
    assert reply.status_code == 200, reply.text
    document = reply.json()
    assert document["identity_id"] == identity_id and document["pubkey"] == identity["pubkey"]
    text = reply.text.lower()
    for name in ("signer-1", "signer-2", "signer-3"):
        participant, share = plain_share(local(h, name), identity_id, 0)
        for encoding in (share.to_bytes(32, "big").hex(), str(share)):
            assert encoding not in text, f"participant {participant}'s share in the clear"

    # A transport key no signer has: unknown provenance, so refused like a software key.
    stranger = "04" + "ab" * 64
    unknown = sqlite_server.admin.post(url, json={"to": {"0": stranger}})
    assert unknown.status_code == 400 and "software" in unknown.json()["message"]
    for bad in ({"0": "no-such-signer"}, {"x": "signer-2"}, {}):
        answer = sqlite_server.admin.post(url, json={"to": bad, "allow_software": True})
        assert answer.status_code in (400, 422), (bad, answer.text)
    with h.store.read() as conn:
        backups = [r for r in audit_records(conn, identity_id=identity_id) if "backup" in r.action]
    assert [r.outcome for r in backups].count("ok") == 1


def test_kek_rotation_direct_with_one_admin_then_by_ceremony(sqlite_server: Server) -> None:
    identity = create(sqlite_server)
    rotated = sqlite_server.admin.post("/v1/signers/rotate-kek", json={"signers": ["signer-1"]})
    assert rotated.status_code == 200, rotated.text
    assert list(rotated.json()["rotated"]) == ["signer-1"]
    assert rotated.json()["rotated"]["signer-1"]["destroyed_kek_ids"]
    assert signs(sqlite_server, identity)
    bad = sqlite_server.admin.post("/v1/signers/rotate-kek", json={"signers": ["nope"]})
    assert bad.status_code == 400 and "nope" in bad.text

    second = sqlite_server.admin.post("/v1/tokens", json={"role": "admin", "name": "second"})
    assert second.status_code == 201, second.text
    other = sqlite_server.client(second.json()["token"])
    gated = sqlite_server.admin.post("/v1/signers/rotate-kek")
    assert gated.status_code == 403 and gated.json()["error"] == "ceremony_required"

    proposed = sqlite_server.admin.post(
        "/v1/ceremonies", json={"operation": "destroy_kek", "params": {}}
    )
    assert proposed.status_code == 201 and proposed.json()["status"] == "pending"
    cid = proposed.json()["id"]
    assert other.post(f"/v1/ceremonies/{cid}/approve").json()["status"] == "approved"
    executed = other.post(f"/v1/ceremonies/{cid}/execute")
    assert executed.status_code == 200, executed.text
    assert sorted(executed.json()["result"]) == ["signer-1", "signer-2", "signer-3"]
    assert signs(sqlite_server, identity)


def test_material_hash_binds_what_the_approvers_saw(sqlite_server: Server) -> None:
    """An import ceremony runs only with the material whose hash was approved."""
    key = "nsec1" + "q" * 58  # never valid: the hash check comes first
    params = {
        "threshold": 2,
        "signers": ["signer-1", "signer-2", "signer-3"],
        "material_sha256": hashlib.sha256(b"something else").hexdigest(),
    }
    proposed = sqlite_server.admin.post(
        "/v1/ceremonies", json={"operation": "import_identity", "params": params}
    )
    assert proposed.status_code == 201, proposed.text
    cid = proposed.json()["id"]
    wrong = sqlite_server.admin.post(f"/v1/ceremonies/{cid}/execute", json={"material": key})
    assert wrong.status_code == 409 and "material" in wrong.json()["message"]
    assert key not in wrong.text
    shown = sqlite_server.admin.get(f"/v1/ceremonies/{cid}").json()
    assert shown["status"] == "approved" and shown["result"] is None  # nothing ran


def test_lifecycle_refusals_are_4xx_with_their_reason(sqlite_server: Server) -> None:
    identity = create(sqlite_server)
    holders = [s["signer_id"] for s in identity["signers"]]  # type: ignore[attr-defined]
    admin = sqlite_server.admin

    def run(
        operation: str, params: dict[str, object], material: str | None = None
    ) -> httpx.Response:
        proposed = admin.post("/v1/ceremonies", json={"operation": operation, "params": params})
        assert proposed.status_code == 201, proposed.text
        body = {} if material is None else {"material": material}
        return admin.post(f"/v1/ceremonies/{proposed.json()['id']}/execute", json=body)

    moved = run(
        "migrate_participant",
        {"identity_id": identity["id"], "participant": 0, "to_signer": holders[1]},
    )
    assert moved.status_code == 409, moved.text
    assert moved.json()["error"] == "lifecycle_conflict"
    assert "already holds" in moved.json()["message"]

    junk = '{"format": "not a backup"}'
    restored = run(
        "restore_identity",
        {
            "identity_id": identity["id"],
            "placements": {"0": holders[0]},
            "material_sha256": hashlib.sha256(junk.encode()).hexdigest(),
        },
        junk,
    )
    assert restored.status_code == 400, restored.text
    assert restored.json()["error"] == "lifecycle_refused"
    assert signs(sqlite_server, identity)
