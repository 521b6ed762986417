"""Failover with three signers as SEPARATE PROCESSES (`nostr-passport signer serve`).

One killed: signing still succeeds (another subset). Two killed: 503 signers_unavailable
naming both, before the client's own timeout (which is the gateway deadline plus a
margin). One restarted on its state directory: signing succeeds again.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nostr_sdk import Event

from nostr_passport.config import render_toml

from .processes import cli_command, cli_env, free_port, run_cli, serving

DEADLINE = 3.0


@dataclass
class SignerProcess:
    signer_id: str
    port: int
    state_dir: Path
    coordinator_public: str
    process: subprocess.Popen[str] | None = None
    public_key: str = ""

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *cli_command(),
                "signer",
                "serve",
                "--id",
                self.signer_id,
                "--provider",
                "simulator",
                "--state-dir",
                str(self.state_dir),
                "--port",
                str(self.port),
                "--coordinator-key",
                self.coordinator_public,
            ],
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(self.process.stderr.read() if self.process.stderr else "")
            if line.startswith("signer public key:"):
                key = line.split(":", 1)[1].strip()
                assert not self.public_key or key == self.public_key  # same key after restart
                self.public_key = key
                return

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=20)
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()


def test_signers_as_processes_fail_over_and_recover(tmp_path: Path) -> None:
    data_dir = tmp_path / "gateway"
    data_dir.mkdir()
    key = Ed25519PrivateKey.generate()
    (data_dir / "coordinator.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    coordinator_public = key.public_key().public_bytes_raw().hex()
    signers = [
        SignerProcess(f"signer-{i}", free_port(), tmp_path / f"signer-{i}", coordinator_public)
        for i in (1, 2, 3)
    ]
    for s in signers:
        s.start()
    try:
        document = {
            "signing": {"deadline_seconds": DEADLINE, "signer_timeout_seconds": 1.0},
            "rate_limit": {"enabled": False},
            "signers": [
                {
                    "id": s.signer_id,
                    "kind": "http",
                    "url": f"http://127.0.0.1:{s.port}",
                    "public_key": s.public_key,
                }
                for s in signers
            ],
        }
        (data_dir / "nostr-passport.toml").write_text(render_toml(document))
        check = run_cli(["config", "check", "--data-dir", str(data_dir)])
        assert check.returncode == 0, check.stdout + check.stderr
        made = run_cli(
            ["token", "create", "--data-dir", str(data_dir), "--role", "admin", "--json"]
        )
        assert made.returncode == 0, made.stderr
        token = json.loads(made.stdout)["token"]

        port = free_port()
        with serving(["serve", "--data-dir", str(data_dir), "--port", str(port)]) as server:
            client = httpx.Client(
                base_url=server.url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=DEADLINE + 10,
            )
            identity = client.post("/v1/identities", json={"threshold": 2, "participants": 3})
            assert identity.status_code == 201, identity.text
            sign_path = f"/v1/identities/{identity.json()['id']}/sign"

            def sign(n: int) -> httpx.Response:
                return client.post(sign_path, json={"kind": 1, "content": f"failover {n} ☃"})

            for n in range(3):
                ok = sign(n)
                assert ok.status_code == 200 and Event.from_json(ok.text).verify()

            signers[0].kill()
            for n in range(3, 6):
                ok = sign(n)
                assert ok.status_code == 200, ok.text
                assert Event.from_json(ok.text).verify()

            signers[1].kill()
            down = sign(6)
            assert down.status_code == 503, down.text
            body = down.json()
            assert body["error"] == "signers_unavailable"
            assert "needs 2 of the 3 signers" in body["message"]
            assert "signer-1" in body["message"] and "signer-2" in body["message"]
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert sorted(ready.json()["signers"]["unhealthy"]) == ["signer-1", "signer-2"]

            signers[0].start()  # same state dir: same shares, same keys, durable nonces
            for n in range(7, 10):
                ok = sign(n)
                assert ok.status_code == 200, ok.text
                assert Event.from_json(ok.text).verify()
    finally:
        for s in signers:
            if s.process is not None and s.process.poll() is None:
                s.kill()
