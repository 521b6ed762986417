"""The functions the CLI and the API call: JSON-ready results and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from nostr_passport.errors import MalformedAuditDataError, NotFoundError
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.service import audit_commands as commands
from nostr_passport.service.audit import AuditLog
from nostr_passport.store import Store
from nostr_passport.store.canonical import canonical_json_bytes

from .identities import create_identity
from .logs import LOG_ID, FakeClock, build_log, sql


def test_reads(store: Store, audit_provider: HsmProvider) -> None:
    with pytest.raises(NotFoundError):
        commands.latest_checkpoint_view(store)
    build_log(store, audit_provider, size=25, checkpoint_sizes=(10, 25))
    page = commands.records_page(store, start=0, limit=10)
    assert page["size"] == 25 and page["next"] == 10
    assert [r["index"] for r in page["records"]] == list(range(10))
    last = commands.records_page(store, start=20, limit=10)
    assert last["next"] is None and len(last["records"]) == 5
    mine = commands.records_page(store, identity_id="id_0000", limit=100)
    assert mine["records"] and all(r["identity"] == "id_0000" for r in mine["records"])
    latest = commands.latest_checkpoint_view(store)
    assert latest["checkpoint"]["tree_size"] == 25
    assert latest["statement"].startswith('{"format":"nostr-passport/audit-checkpoint/v1"')
    page_of_checkpoints = commands.checkpoints_page(store, limit=1)
    assert page_of_checkpoints["next"] == 10
    proof = commands.proof_view(store, 3)
    assert proof["checkpoint"]["tree_size"] == 25 and proof["record"]["index"] == 3
    consistency = commands.consistency_view(store, 10, 25)
    assert consistency["old"]["tree_size"] == 10
    json.dumps([page, latest, proof, consistency])  # JSON-ready


def test_verify_command_exit_codes(store: Store, audit_provider: HsmProvider) -> None:
    build_log(store, audit_provider)
    key = commands.public_key_hex(audit_provider.attestation_public_key())
    result, code = commands.verify_command(store=store, trusted_keys={key})
    assert code == commands.EXIT_OK and result["ok"] and result["keys_pinned"]
    export = commands.export_command(store)
    result, code = commands.verify_command(export=export)
    assert code == commands.EXIT_OK
    sql(store, "UPDATE audit_log SET outcome = 'ok' WHERE idx = 2")
    result, code = commands.verify_command(store=store)
    assert code == commands.EXIT_FAILED
    assert result["problem"] == {
        "kind": "record",
        "position": 2,
        "reason": "its fields do not give its stored leaf hash",
    }


def test_checkpoint_and_proof_files(
    sqlite_store: Store, audit_provider: HsmProvider, tmp_path: Path
) -> None:
    build_log(sqlite_store, audit_provider, size=6, checkpoint_sizes=(3,))
    made = commands.checkpoint_command(sqlite_store, audit_provider, log_id=LOG_ID)
    assert made["checkpoint"]["tree_size"] == 6
    proof_file = canonical_json_bytes(commands.proof_view(sqlite_store, 4))
    assert commands.verify_proof_command(proof_file)[1] == commands.EXIT_OK
    consistency_file = canonical_json_bytes(commands.consistency_view(sqlite_store, 3, 6))
    assert commands.verify_proof_command(consistency_file)[1] == commands.EXIT_OK
    tampered = proof_file.replace(b'"index":4', b'"index":5')
    assert commands.verify_proof_command(tampered)[1] == commands.EXIT_FAILED
    assert commands.verify_proof_command(b"{}")[1] == commands.EXIT_UNUSABLE
    assert commands.verify_proof_command(b"not json")[1] == commands.EXIT_UNUSABLE


def test_attestation_commands(
    sqlite_store: Store, audit_provider: HsmProvider, tmp_path: Path
) -> None:
    providers = [SimulatorProvider(f"h{i}") for i in range(2)]
    try:
        identity = create_identity(
            sqlite_store, AuditLog(sqlite_store, clock=FakeClock()), providers
        )
        bundle = commands.attestation_view(sqlite_store, identity.id, audit_provider=audit_provider)
        attestation_keys = {p.attestation_public_key().hex() for p in providers}
    finally:
        for p in providers:
            p.close()
    data = canonical_json_bytes(bundle)
    result, code = commands.attest_verify_command(
        data,
        trusted_audit_keys={audit_provider.attestation_public_key().hex()},
        trusted_attestation_keys=attestation_keys,
    )
    assert code == commands.EXIT_OK and result["ok"] and result["keys_pinned"]
    assert result["software"] is True
    json.dumps(result)
    changed = data.replace(b'"threshold":2', b'"threshold":1')
    assert commands.attest_verify_command(changed)[1] == commands.EXIT_FAILED
    assert commands.attest_verify_command(b"[]")[1] == commands.EXIT_UNUSABLE


def test_public_keys_are_read_from_pem_or_der(audit_provider: HsmProvider) -> None:
    der = audit_provider.attestation_public_key()
    key = serialization.load_der_public_key(der)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert commands.public_key_hex(der) == commands.public_key_hex(pem) == der.hex()
    for bad in (b"", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", b"\x30\x00"):
        with pytest.raises(MalformedAuditDataError):
            commands.public_key_hex(bad)
