"""The audit HSM, scheduled checkpoints, attestation bundles and `audit verify`, end to end.

`init` makes a 4th SoftHSM2 token for the audit key; `serve` signs checkpoints on its
schedule (audit.checkpoint_every, set small through the environment) with that key, not a
signer's. The attestation bundle from the API verifies offline with `attest verify`, and
any altered byte makes it fail. `audit verify` passes on the live store after the session
and names the position of one record changed directly in SQL.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from ..e2e.processes import free_port, init_data_dir, run_cli, serving

pytestmark = pytest.mark.timeout(300)


def test_audit_key_schedule_bundle_and_verify(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    info = init_data_dir(data_dir)
    config_text = (data_dir / "nostr-passport.toml").read_text()
    assert "[audit]" in config_text and 'token_label = "np-audit"' in config_text
    port = free_port()
    env = {"NOSTR_PASSPORT_AUDIT__CHECKPOINT_EVERY": "0.2"}
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    with serving(args, env=env) as server:
        api = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {info['admin_token']}"},
            timeout=60,
        )
        identity = api.post("/v1/identities", json={"label": "attested"}).json()
        for i in range(3):
            signed = api.post(f"/v1/identities/{identity['id']}/sign", json={"kind": 1})
            assert signed.status_code == 200, signed.text
        size = api.get("/v1/audit", params={"limit": 1000}).json()["size"]
        # The schedule catches up with the log (poll until it has; no timing asserted).
        latest: dict[str, object] = {}
        for _ in range(600):
            reply = api.get("/v1/audit/checkpoints/latest")
            if reply.status_code == 200 and reply.json()["checkpoint"]["tree_size"] >= size:
                latest = reply.json()
                break
            time.sleep(0.05)
        assert latest, "no scheduled checkpoint covered the log"
        checkpoint = latest["checkpoint"]
        assert isinstance(checkpoint, dict)
        signer_keys = {a["public_key"] for a in identity["attestations"]}
        assert checkpoint["public_key"] not in signer_keys  # the audit token's own key

        bundle = api.get(f"/v1/identities/{identity['id']}/attestation")
        assert bundle.status_code == 200, bundle.text
        on_demand = api.post("/v1/audit/checkpoints")
        assert on_demand.status_code == 200
        assert on_demand.json()["checkpoint"]["public_key"] == checkpoint["public_key"]
        api.close()

    bundle_file = tmp_path / "bundle.json"
    bundle_file.write_bytes(bundle.content)
    verified = run_cli(["attest", "verify", str(bundle_file)])
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for held in identity["signers"]:
        assert held["signer_id"] in verified.stdout
    assert "SoftHSM" in verified.stdout or "softhsm" in verified.stdout.lower()
    # One altered byte inside a signature (still parses) fails verification with exit 1.
    data = bytearray(bundle.content)
    signature = json.loads(bundle.content)["shares"][0]["attestation"]["signature"]
    at = bundle.content.index(signature.encode()) + 20
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    bundle_file.write_bytes(bytes(data))
    altered = run_cli(["attest", "verify", str(bundle_file)])
    assert altered.returncode == 1, altered.stdout + altered.stderr
    # An altered byte that breaks the format also fails (exit 2: input unusable).
    broken = bytearray(bundle.content)
    broken[0] = ord("[")
    bundle_file.write_bytes(bytes(broken))
    assert run_cli(["attest", "verify", str(bundle_file)]).returncode != 0

    ok = run_cli(["audit", "verify", "--data-dir", str(data_dir)])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK" in ok.stdout
    with sqlite3.connect(data_dir / "nostr-passport.db") as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE idx = 2")
    bad = run_cli(["audit", "verify", "--data-dir", str(data_dir)])
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "record 2" in bad.stdout + bad.stderr
