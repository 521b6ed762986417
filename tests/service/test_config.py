"""Configuration: file + environment, validation messages, the TOML writer, static checks."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

import pytest

from nostr_passport.config import (
    Config,
    load_config,
    render_toml,
    static_problems,
)
from nostr_passport.errors import ConfigError

SIM = {"kind": "simulator", "name": "sim"}


def write(data_dir: Path, document: Mapping[str, object]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "nostr-passport.toml").write_text(render_toml(document))


def signers(n: int) -> list[dict[str, object]]:
    return [
        {"id": f"s{i}", "kind": "local", "state_dir": f"signers/s{i}", "provider": dict(SIM)}
        for i in range(n)
    ]


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    write(tmp_path, {"signers": signers(3)})
    config = load_config(tmp_path)
    s = config.settings
    assert (s.server.host, s.server.port, s.server.max_body_bytes) == ("127.0.0.1", 8787, 262144)
    assert config.store_url == f"sqlite+pysqlite:///{tmp_path.resolve()}/nostr-passport.db"
    assert config.resolve("signers/s0") == tmp_path.resolve() / "signers/s0"
    assert config.resolve("/abs") == Path("/abs")
    assert static_problems(config) == []


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {"server": {"port": 9000, "mode": "development"}, "signers": signers(2)})
    monkeypatch.setenv("NOSTR_PASSPORT_SERVER__PORT", "9100")
    monkeypatch.setenv("NOSTR_PASSPORT_STORE__URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("NOSTR_PASSPORT_RELAYS__URLS", '["wss://relay.example"]')
    monkeypatch.setenv("NOSTR_PASSPORT_DATA_DIR", "/elsewhere")  # not a setting: ignored here
    config = load_config(tmp_path)
    assert config.settings.server.port == 9100
    assert config.settings.server.mode == "development"  # rest of the section kept
    assert config.store_url == "postgresql+psycopg://u@h/db"
    assert config.settings.relays.urls == ["wss://relay.example"]
    monkeypatch.setenv("NOSTR_PASSPORT_SERVER__PORT", "not-a-port")
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"server": {"port": 0}}, "server.port"),
        ({"server": {"mode": "staging"}}, "server.mode"),
        ({"server": {"max_body_bytes": 10}}, "server.max_body_bytes"),
        ({"server": {"colour": "red"}}, "server.colour"),
        ({"store": {"url": "mysql://x"}}, "store.url"),
        ({"signing": {"deadline_seconds": 1, "signer_timeout_seconds": 2}}, "signer_timeout"),
        ({"limits": {"max_threshold": 9, "max_participants": 3}}, "max_threshold"),
        ({"relays": {"urls": ["http://x"]}}, "ws://"),
        (
            {"signers": [{"id": "A B", "kind": "local", "state_dir": "x", "provider": SIM}]},
            "signers.0.id",
        ),
        ({"signers": [{"id": "a", "kind": "ftp"}]}, "signers.0"),
        (
            {"signers": [{"id": "a", "kind": "http", "url": "http://h:1", "public_key": "zz"}]},
            "public_key",
        ),
        (
            {
                "signers": [
                    {"id": "a", "kind": "local", "state_dir": "x", "provider": {"kind": "x"}}
                ]
            },
            "provider",
        ),
        ({"signers": signers(1) + signers(1)}, "duplicate signer ids"),
    ],
)
def test_invalid_values_name_their_key(
    tmp_path: Path, document: dict[str, object], message: str
) -> None:
    write(tmp_path, document)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert message in str(info.value) and "invalid configuration" in str(info.value)


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none")
    tmp_path.joinpath("nostr-passport.toml").write_text("[server\nport=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path)


def test_static_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NP_PIN", raising=False)
    pkcs11 = {
        "kind": "pkcs11",
        "name": "h",
        "profile": "softhsm2",
        "token_label": "t",
        "user_pin_env": "NP_PIN",
    }
    document = {
        "server": {"mode": "production"},
        "signers": [
            signers(1)[0],
            {"id": "p", "kind": "local", "state_dir": "p", "provider": pkcs11},
            {"id": "r", "kind": "http", "url": "http://10.0.0.1:9", "public_key": "ab" * 32},
        ],
    }
    write(tmp_path, document)
    problems = "\n".join(static_problems(load_config(tmp_path)))
    assert "simulator refuses to run in production" in problems
    assert "NP_PIN is unset" in problems
    assert "SoftHSM2 is a software token" in problems
    assert "coordinator.key does not exist" in problems


def test_render_toml_round_trips(tmp_path: Path) -> None:
    document = {
        "title": 'quote " and \\ and ünï\n',
        "server": {"port": 1, "ratio": 0.5, "on": True},
        "relays": {"urls": ["wss://a", "wss://b"]},
        "signers": [{"id": "x", "provider": {"kind": "simulator", "nested": {"a": 1}}}],
    }
    assert tomllib.loads(render_toml(document, "header\nlines")) == document


_ = Config


def test_ceremonies_and_rotation_sections(tmp_path: Path) -> None:
    from nostr_passport.service.ceremonies import CeremonyPolicy

    write(
        tmp_path,
        {
            "signers": signers(3),
            "ceremonies": {
                "default_required": 3,
                "required": {"delete_identity": 2},
                "ttl": {"destroy_kek": 600},
            },
            "rotation": {"refresh_every": 7 * 86400, "kek_rotate_every": 30 * 86400},
        },
    )
    config = load_config(tmp_path)
    policy = CeremonyPolicy.of(config.settings.ceremonies)
    assert policy.required_for("delete_identity", 5) == 2
    assert policy.required_for("destroy_kek", 5) == 3
    assert policy.required_for("destroy_kek", 1) == 1  # capped by the admins there are
    assert (policy.ttl_for("destroy_kek"), policy.ttl_for("restore_identity")) == (600, 86400)
    assert config.settings.rotation.refresh_every == 7 * 86400
    assert static_problems(config) == []

    write(tmp_path, {"signers": signers(3), "ceremonies": {"required": {"delet_identity": 2}}})
    assert any("delet_identity" in p for p in static_problems(load_config(tmp_path)))
    for bad in (
        {"ceremonies": {"required": {"delete_identity": 0}}},
        {"ceremonies": {"ttl": {"destroy_kek": 5}}},
        {"rotation": {"refresh_every": -1}},
    ):
        write(tmp_path, {"signers": signers(3), **bad})
        with pytest.raises(ConfigError, match=r"ceremonies|rotation"):
            load_config(tmp_path)


def test_relay_auth_is_on_by_default_and_can_be_turned_off(tmp_path: Path) -> None:
    from nostr_passport.service.bunker.commands import bunker_settings

    write(tmp_path, {"signers": signers(3)})
    assert load_config(tmp_path).settings.relays.auth is True
    write(tmp_path, {"signers": signers(3), "relays": {"urls": ["wss://a"], "auth": False}})
    relays = load_config(tmp_path).settings.relays
    settings = bunker_settings(relays.urls, "http://127.0.0.1:8787", relay_auth=relays.auth)
    assert settings.relay_auth is False and settings.relays == ("wss://a",)
