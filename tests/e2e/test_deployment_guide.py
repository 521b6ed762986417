"""docs/deployment.md, run as written: signers on separate "hosts", each with its own HSM.

The guide's blocks marked `<!-- tested: NAME -->` are read from the guide and run with
bash; the signers and the gateway are started from the `ExecStart=` lines of the units in
ops/deploy/systemd/. One machine stands in for four, so the test changes exactly this and
checks that each thing it replaces is in the guide (a changed guide fails here instead
of silently running something else):

- every host is a directory: `/etc/...` and `/var/...` paths are prefixed with it;
- commands run as the service user (`runuser -u nostr-passport -- `) run as ourselves;
- the guide shows signer-1; signer-2 and signer-3 run the same blocks with their id;
- ports: each signer its own free port instead of 7001, the gateway one instead of 8787;
- the gateway reaches the signers at http://127.0.0.1:PORT (no TLS terminator), its
  store is a fresh PostgreSQL database, its audit key the rehearsal's SoftHSM2 line;
- signers run without --production (which refuses SoftHSM2: checked).

What is not run: useradd, install -o, systemctl, scp, nginx (root or other machines).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nostr_sdk import Event

from ..store.databases import postgres_database
from .processes import ROOT, cli_command, cli_env, free_port, wait_http

GUIDE = ROOT / "docs" / "deployment.md"
UNITS = ROOT / "ops" / "deploy" / "systemd"
GATEWAY_UNIT = UNITS / "nostr-passport-gateway.service"
SIGNER_UNIT = UNITS / "nostr-passport-signer@.service"
BINARY = "/opt/nostr-passport/venv/bin/nostr-passport"
AS_SERVICE_USER = "runuser -u nostr-passport -- "
SIGNERS = ("signer-1", "signer-2", "signer-3")


def guide_blocks() -> dict[str, str]:
    found = re.findall(
        r"<!-- tested: ([\w-]+) -->\n```\w*\n(.*?)```", GUIDE.read_text(), flags=re.S
    )
    blocks = dict(found)
    assert len(blocks) == len(found), "two tested blocks share a name"
    return blocks


def replaced(text: str, old: str, new: str) -> str:
    """`text` with `old` replaced; `old` must be there (the guide still says it)."""
    assert old in text, f"the guide no longer contains {old!r}"
    return text.replace(old, new)


def rooted(text: str, root: Path) -> str:
    """Absolute /etc and /var paths moved under the directory standing in for a host."""
    return re.sub(r"(?<![\w.~-])/(etc|var)/", lambda m: f"{root}/{m.group(1)}/", text)


def shell_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = cli_env(extra)
    if "SOFTHSM2_CONF" not in (extra or {}):
        env.pop("SOFTHSM2_CONF", None)  # each "host" names its own token directory
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return env


def run_block(script: str, root: Path) -> str:
    """Run a guide block with bash on the "host" `root`; its stdout."""
    script = rooted(script.replace(AS_SERVICE_USER, ""), root)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=root,
        env=shell_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{script}\n---\n{result.stdout}\n{result.stderr}"
    return result.stdout


def env_file(path: Path) -> dict[str, str]:
    """A systemd EnvironmentFile of plain KEY=VALUE lines (what the guide writes)."""
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if "=" in line]
    return {key.strip(): value.strip() for key, value in pairs}


def exec_start(unit: Path, instance: str, env: dict[str, str], root: Path) -> list[str]:
    """The unit's ExecStart= as systemd would run it: %i and ${VAR} filled in."""
    line = next(
        line.removeprefix("ExecStart=")
        for line in unit.read_text().splitlines()
        if line.startswith("ExecStart=")
    )
    line = line.replace("%i", instance)
    line = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], line)
    argv = shlex.split(rooted(line, root))
    assert argv[0] == BINARY
    return [*cli_command(), *argv[1:]]


@dataclass
class Signer:
    signer_id: str
    root: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    key_output: str = ""
    process: subprocess.Popen[str] | None = None
    public_key: str = ""

    def printed(self, what: str) -> str:
        match = re.search(rf"^{what}: (.+)$", self.key_output, flags=re.M)
        assert match, self.key_output
        return match.group(1).strip()

    def start(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv,
            env=shell_env(self.env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
        )

    def announced_key(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                err = self.process.stderr.read() if self.process.stderr else ""
                raise RuntimeError(f"{self.signer_id} exited: {err}")
            if line.startswith("signer public key:"):
                return line.split(":", 1)[1].strip()

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(timeout=20)
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()


def test_the_deployment_guide_runs_as_written(tmp_path: Path) -> None:
    blocks = guide_blocks()
    gateway_root = tmp_path / "gateway-host"
    data_dir = gateway_root / "var/lib/nostr-passport"
    data_dir.mkdir(parents=True, mode=0o700)
    (gateway_root / "etc/nostr-passport").mkdir(parents=True)

    # 1. The coordinator key, and its hex form for a signer's key list.
    run_block(blocks["gateway-keys"], gateway_root)
    assert (data_dir / "coordinator.key").stat().st_mode & 0o077 == 0
    key = serialization.load_pem_private_key(
        (data_dir / "coordinator.key").read_bytes(), password=None
    )
    assert isinstance(key, Ed25519PrivateKey)
    hex_key = run_block(blocks["coordinator-hex"], gateway_root).strip()
    assert hex_key == key.public_key().public_bytes_raw().hex()

    # 2. Three signer hosts: rehearsal token, `signer key`, the unit's ExecStart.
    signers = [Signer(sid, tmp_path / f"{sid}-host") for sid in SIGNERS]
    try:
        for s in signers:
            (s.root / "var/lib/nostr-passport-signer" / s.signer_id).mkdir(parents=True)
            (s.root / "etc/nostr-passport").mkdir(parents=True)
            shutil.copy(data_dir / "coordinator.pub", s.root / "etc/nostr-passport")

            def for_host(name: str, s: Signer = s) -> str:
                return replaced(blocks[name], "signer-1", s.signer_id)

            rehearsal = replaced(for_host("signer-rehearsal"), "NP_PORT=7001", f"NP_PORT={s.port}")
            run_block(rehearsal, s.root)
            env_path = s.root / f"etc/nostr-passport/signer-{s.signer_id}.env"
            assert env_path.stat().st_mode & 0o077 == 0
            s.env = env_file(env_path)
            s.key_output = run_block(for_host("signer-key"), s.root)
            assert s.printed("signer id") == s.signer_id
            assert s.printed("keys in software") == "yes"  # SoftHSM2, said honestly

            argv = exec_start(SIGNER_UNIT, s.signer_id, s.env, s.root)
            if s is signers[0]:
                refused = subprocess.run(
                    argv, env=shell_env(s.env), capture_output=True, text=True, timeout=60
                )
                assert refused.returncode == 1
                assert "SoftHSM2 is a software token" in refused.stderr
            s.start([a for a in argv if a != "--production"])
        for s in signers:
            s.public_key = s.announced_key()
            assert s.public_key == s.printed("signer public key")
        # Placement sees three HSMs: three different token serials.
        assert len({s.printed("provider") for s in signers}) == 3

        # 3. The gateway: rehearsal audit token, config, check, first admin token.
        run_block(blocks["gateway-rehearsal"], gateway_root)
        with postgres_database() as store_url:
            config = blocks["gateway-config"]
            audit_lines = re.findall(r"^provider = .*$", config, flags=re.M)
            assert len(audit_lines) == 1
            config = replaced(config, audit_lines[0], blocks["gateway-audit-rehearsal"].strip())
            gateway_port = free_port()
            config = replaced(config, "port = 8787", f"port = {gateway_port}")
            config = re.sub(
                r'^url = "postgresql\+psycopg://.*"$',
                f'url = "{store_url}"',
                config,
                count=1,
                flags=re.M,
            )
            assert store_url in config
            for s in signers:
                n = s.signer_id.removeprefix("signer-")
                config = replaced(
                    config, f"https://signer-{n}.internal:7443", f"http://127.0.0.1:{s.port}"
                )
                config = replaced(
                    config,
                    f"<signer public key printed by signer key on {s.signer_id}>",
                    s.public_key,
                )
            config_path = data_dir / "nostr-passport.toml"
            config_path.write_text(rooted(config, gateway_root))
            config_path.chmod(0o600)

            checked = run_block(blocks["gateway-check"], gateway_root)
            assert ": ok (3 signers)" in checked
            token_match = re.search(r"^\s+(np_\S+)$", checked, flags=re.M)
            assert token_match, checked
            token = token_match.group(1)

            gateway_env = env_file(gateway_root / "etc/nostr-passport/gateway.env")
            gateway = subprocess.Popen(
                exec_start(GATEWAY_UNIT, "", gateway_env, gateway_root),
                env=shell_env(gateway_env),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            url = f"http://127.0.0.1:{gateway_port}"
            try:
                wait_http(f"{url}/healthz", process=gateway)

                # 4. The first identity (DKG over the three hosts) signs; verified.
                first = replaced(blocks["first-identity"], "https://passport.example.org", url)
                first = replaced(first, "np_the_admin_token", token)
                event = Event.from_json(run_block(first, gateway_root).strip().splitlines()[-1])
                assert event.verify() and event.content() == "hello from three hosts"
                api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
                identities = api.get("/v1/identities").json()["identities"]
                assert len(identities) == 1
                identity = api.get(f"/v1/identities/{identities[0]['id']}").json()
                assert identity["keygen_method"] == "dkg"
                assert sorted(h["signer_id"] for h in identity["signers"]) == list(SIGNERS)
                assert event.author().to_hex() == identity["pubkey"]

                # 5. One signer host dies: 2 of 3 still sign.
                signers[0].stop(kill=True)
                export, _, sign = first.splitlines()
                again = f"{export}\nID={identity['id']}\n{sign.replace('three', 'two')}"
                event = Event.from_json(run_block(again, gateway_root).strip().splitlines()[-1])
                assert event.verify() and event.content() == "hello from two hosts"
            finally:
                gateway.terminate()
                try:
                    gateway.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    gateway.kill()
                    gateway.wait()
                for stream in (gateway.stdout, gateway.stderr):
                    if stream:
                        stream.close()
    finally:
        for s in signers:
            s.stop(kill=True)


def test_the_guide_shows_the_units_command_lines() -> None:
    guide = GUIDE.read_text()
    for unit in (SIGNER_UNIT, GATEWAY_UNIT):
        line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
        command = line.removeprefix(f"ExecStart={BINARY} ")
        assert command in guide or f"ExecStart=... {command}" in guide, unit.name
    assert json.dumps(sorted(guide_blocks())) == json.dumps(
        sorted(
            [
                "coordinator-hex",
                "first-identity",
                "gateway-audit-rehearsal",
                "gateway-check",
                "gateway-config",
                "gateway-keys",
                "gateway-rehearsal",
                "signer-key",
                "signer-rehearsal",
            ]
        )
    )


HARDENING = {
    "User": "nostr-passport",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "LimitCORE": "0",
}


def test_the_systemd_units_are_hardened(tmp_path: Path) -> None:
    for unit, state_dir in (
        (GATEWAY_UNIT, "/var/lib/nostr-passport"),
        (SIGNER_UNIT, "/var/lib/nostr-passport-signer/%i"),
    ):
        parser = configparser.ConfigParser(interpolation=None, strict=True)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(unit.read_text())
        service = parser["Service"]
        for key, value in HARDENING.items():
            assert service.get(key) == value, (unit.name, key)
        assert service["ReadWritePaths"] == state_dir
        assert service["EnvironmentFile"].startswith("/etc/nostr-passport/")
        assert service["ExecStart"].startswith(BINARY + " ")
        assert parser["Install"]["WantedBy"] == "multi-user.target"
    if shutil.which("systemd-analyze") is None:
        return  # the INI checks above are all this machine can do
    # systemd checks the binary exists: verify copies that run /usr/bin/true instead.
    copies = []
    for unit in (GATEWAY_UNIT, SIGNER_UNIT):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(BINARY, "/usr/bin/true"))
        copies.append(copy)
    verify = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, copies)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    for copy in copies:
        security = subprocess.run(
            ["systemd-analyze", "security", "--offline=yes", "--threshold=25", str(copy)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert security.returncode == 0, security.stdout[-2000:]
