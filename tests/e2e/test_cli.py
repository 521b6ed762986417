"""The `nostr-passport` command line against a running server and a data directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nostr_sdk import Event

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
    data_dir = tmp_path_factory.mktemp("cli") / "data"
    info = init_data_dir(data_dir)
    port = free_port()
    with serving(["serve", "--data-dir", str(data_dir), "--port", str(port)]) as server:
        yield Env(data_dir, info["admin_token"], server)


def ok(args: list[str]) -> str:
    result = run_cli(args)
    assert result.returncode == 0, f"{args}: {result.stderr}"
    return result.stdout


def test_identity_commands(env: Env) -> None:
    created = json.loads(
        ok(env.remote("identity", "create", "-t", "2", "-n", "3", "--label", "cli ☃", "--json"))
    )
    identity_id = created["id"]
    assert created["label"] == "cli ☃" and created["threshold"] == 2
    listed = json.loads(ok(env.remote("identity", "list", "--json")))
    assert identity_id in [i["id"] for i in listed]
    table = ok(env.remote("identity", "list"))
    assert identity_id in table and "2-of-3" in table
    shown = json.loads(ok(env.remote("identity", "show", identity_id, "--json")))
    assert shown["npub"] == created["npub"]
    assert created["npub"] in ok(env.remote("identity", "show", identity_id))

    event = json.loads(
        ok(
            env.remote(
                "identity",
                "sign",
                identity_id,
                "--kind",
                "1",
                "--content",
                "from the CLI ü",
                "--tag",
                "t,cli",
            )
        )
    )
    assert Event.from_json(json.dumps(event)).verify() and event["tags"] == [["t", "cli"]]
    template = json.dumps({"kind": 7, "content": "+", "tags": [["e", "00" * 32]]})
    reaction = json.loads(ok(env.remote("identity", "sign", identity_id, "--event", template)))
    assert reaction["kind"] == 7 and Event.from_json(json.dumps(reaction)).verify()

    assert (
        json.loads(ok(env.remote("identity", "disable", identity_id, "--json")))["status"]
        == "disabled"
    )
    refused = run_cli(env.remote("identity", "sign", identity_id, "--kind", "1"))
    assert refused.returncode == 1 and "identity_disabled" in refused.stderr
    assert (
        json.loads(ok(env.remote("identity", "enable", identity_id, "--json")))["status"]
        == "active"
    )
    deleted = json.loads(ok(env.remote("identity", "delete", identity_id, "--json")))
    assert deleted["deleted"]


def test_token_commands_remote_and_local(env: Env) -> None:
    remote = json.loads(
        ok(env.remote("token", "create", "--role", "app", "--name", "bot", "--kind", "1", "--json"))
    )
    assert remote["token"].startswith("np_") and remote["scopes"]["kinds"] == [1]
    local = json.loads(
        ok(["token", "create", "--data-dir", str(env.data_dir), "--role", "auditor", "--json"])
    )
    assert local["role"] == "auditor" and local["created_by"].startswith("cli:")
    listed = json.loads(ok(env.remote("token", "list", "--json")))
    assert {remote["id"], local["id"]} <= {t["id"] for t in listed}
    assert all("token" not in t for t in listed)
    assert local["id"] in ok(["token", "list", "--data-dir", str(env.data_dir)])
    assert json.loads(ok(env.remote("token", "revoke", remote["id"], "--json")))["revoked_at"]
    ok(["token", "revoke", "--data-dir", str(env.data_dir), local["id"]])
    rejected = run_cli(["identity", "list", "--url", env.server.url, "--token", remote["token"]])
    assert (
        rejected.returncode == 1
        and "unauthenticated" in rejected.stderr
        and "revoked" in rejected.stderr
    )


def test_errors_are_clear_and_non_zero(env: Env, tmp_path: Path) -> None:
    missing = run_cli(env.remote("identity", "show", "id_nothing"))
    assert missing.returncode == 1 and "not_found" in missing.stderr
    bad_json = run_cli(env.remote("identity", "sign", "id_x", "--event", "{not json"))
    assert bad_json.returncode == 1 and "not valid JSON" in bad_json.stderr
    no_token = run_cli(["identity", "list", "--url", env.server.url])
    assert no_token.returncode == 1 and "--token" in no_token.stderr
    unreachable = run_cli(["identity", "list", "--url", "http://127.0.0.1:1", "--token", "np_x"])
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr
    usage = run_cli(["identity", "create", "--threshold", "two"])
    assert usage.returncode == 2 and "invalid int value" in usage.stderr
    no_config = run_cli(["config", "check", "--data-dir", str(tmp_path / "none")])
    assert no_config.returncode == 1 and "does not exist" in no_config.stderr


def test_config_check(env: Env, tmp_path: Path) -> None:
    assert "ok (3 signers)" in ok(["config", "check", "--data-dir", str(env.data_dir)])
    report = json.loads(ok(["config", "check", "--data-dir", str(env.data_dir), "--json"]))
    assert report["ok"] and report["problems"] == []
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "nostr-passport.toml").write_text(
        '[server]\nport = 99999\nmode = "staging"\n[signing]\ndeadline_seconds = -1\n'
    )
    result = run_cli(["config", "check", "--data-dir", str(broken)])
    assert result.returncode == 1
    for expected in ("server.port", "server.mode", "signing.deadline_seconds"):
        assert expected in result.stderr
    (broken / "nostr-passport.toml").write_text('[server]\nmode = "production"\n')
    result = run_cli(["config", "check", "--data-dir", str(broken), "--json"])
    assert (
        result.returncode == 1
        and "at least 2 are needed" in json.loads(result.stdout)["problems"][0]
    )


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["init"],
        ["serve"],
        ["identity"],
        ["identity", "sign"],
        ["token", "create"],
        ["signer", "serve"],
        ["config", "check"],
    ],
)
def test_help_everywhere(command: list[str]) -> None:
    result = run_cli([*command, "--help"])
    assert result.returncode == 0 and "usage: nostr-passport" in result.stdout
