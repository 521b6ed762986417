"""Audit and attestation from the command line, against a running server and its store.

`audit verify` passes on the live store after a session and fails, naming the position,
after one record is changed in SQL; `attest verify` accepts the API's bundle, says which
HSM holds which share, and refuses any altered byte.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .processes import Running, free_port, init_data_dir, run_cli, serving


@dataclass
class Env:
    data_dir: Path
    token: str
    server: Running

    def remote(self, *args: str) -> list[str]:
        return [*args, "--url", self.server.url, "--token", self.token]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data_dir = tmp_path_factory.mktemp("audit-cli") / "data"
    info = init_data_dir(data_dir)
    port = free_port()
    with serving(["serve", "--data-dir", str(data_dir), "--port", str(port)]) as server:
        yield Env(data_dir, info["admin_token"], server)


def ok(args: list[str]) -> str:
    result = run_cli(args)
    assert result.returncode == 0, f"{args}: {result.stdout} {result.stderr}"
    return result.stdout


def test_audit_and_attestation_round_trip(env: Env, tmp_path: Path) -> None:
    created = json.loads(ok(env.remote("identity", "create", "-t", "2", "-n", "3", "--json")))
    identity_id = created["id"]
    for i in range(3):
        ok(env.remote("identity", "sign", identity_id, "--kind", "1", "--content", f"n{i}"))
    checkpoint = json.loads(ok(env.remote("audit", "checkpoint")))
    assert checkpoint["tree_size"] >= 5

    verified = json.loads(ok(["audit", "verify", "--data-dir", str(env.data_dir), "--json"]))
    assert verified["ok"] and verified["records"] >= 5

    export = tmp_path / "log.jsonl"
    ok(["audit", "export", "--data-dir", str(env.data_dir), "-o", str(export)])
    assert json.loads(ok(["audit", "verify", "--export", str(export), "--json"]))["ok"]

    proof = ok(["audit", "proof", "1", "--data-dir", str(env.data_dir)])
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(proof.strip())
    assert json.loads(ok(["audit", "proof", "--verify", str(proof_file), "--json"]))["ok"]

    bundle = tmp_path / "bundle.json"
    ok(env.remote("attest", "get", identity_id, "-o", str(bundle)))
    report = ok(["attest", "verify", str(bundle)])
    assert report.startswith("VERIFIED") and created["npub"] in report
    assert "SOFTWARE" in report or "software" in report  # SoftHSM2 / simulator is marked

    data = bundle.read_bytes()
    for position in range(0, len(data), max(1, len(data) // 12)):
        forged = bytearray(data)
        forged[position] ^= 0x01
        path = tmp_path / "forged.json"
        path.write_bytes(bytes(forged))
        result = run_cli(["attest", "verify", str(path)])
        assert result.returncode != 0, f"byte {position} flipped still verifies"


def test_audit_verify_names_the_changed_record(env: Env) -> None:
    created = json.loads(ok(env.remote("identity", "create", "-t", "2", "-n", "3", "--json")))
    ok(env.remote("identity", "sign", created["id"], "--kind", "1", "--content", "x"))
    ok(env.remote("audit", "checkpoint"))
    db = env.data_dir / "nostr-passport.db"
    assert db.is_file()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE idx = 2")
    result = run_cli(["audit", "verify", "--data-dir", str(env.data_dir), "--json"])
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert not report["ok"]
    assert report["problem"]["position"] == 2, report["problem"]
