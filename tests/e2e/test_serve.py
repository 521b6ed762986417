"""End to end: `nostr-passport serve` as a subprocess (three local signers on SoftHSM2),
a 2-of-3 identity over HTTP, 100 events of mixed kinds signed and checked by nostr-sdk and
against our own NIP-01 serialisation; on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nostr_sdk import Event

from ..store.databases import postgres_database
from .processes import free_port, init_data_dir, run_cli, serving

KINDS = [0, 1, 3, 4, 5, 6, 7, 1063, 1984, 9735, 10002, 30023, 30078]
TEXTS = [
    "hello nostr",
    "ünïcödé ☃ 🎉 日本語 עברית",
    'quotes " and backslash \\ and slash /',
    "new\nline, tab\t, carriage\rreturn",
    "control \u0001\u001f and \u2028 line separator",
    "",
    "emoji 👩‍👩‍👧‍👦 zero width \u200d joiner",
]


def template(i: int) -> dict[str, object]:
    text = TEXTS[i % len(TEXTS)]
    return {
        "kind": KINDS[i % len(KINDS)],
        "content": f"{text} #{i}",
        "tags": [
            ["t", f"tag-{i}", "ünï ☃"],
            ["p", "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"],
            ["e", f"{i:064x}", "wss://relay.example/ü", "reply"],
            ["subject", TEXTS[(i + 1) % len(TEXTS)]],
        ][: 1 + i % 4],
        **({"created_at": 1_700_000_000 + i} if i % 2 else {}),
    }


def nip01_id(event: dict[str, object]) -> str:
    """NIP-01 id computed independently of the server: JSON.stringify-like serialisation."""
    serial = json.dumps(
        [0, event["pubkey"], event["created_at"], event["kind"], event["tags"], event["content"]],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(serial.encode("utf-8")).hexdigest()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
    else:
        with postgres_database() as url:
            yield url


def test_sign_100_events_end_to_end(tmp_path: Path, store_url: str | None) -> None:
    info = init_data_dir(tmp_path / "data", store_url)
    assert info["signers"] == "softhsm2"
    token = info["admin_token"]
    port = free_port()
    with serving(["serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)]) as server:
        client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        created = client.post("/v1/identities", json={"threshold": 2, "participants": 3})
        assert created.status_code == 201, created.text
        identity = created.json()
        assert identity["npub"].startswith("npub1") and len(identity["signers"]) == 3

        events = []
        for i in range(100):
            response = client.post(f"/v1/identities/{identity['id']}/sign", json=template(i))
            assert response.status_code == 200, response.text
            events.append(response.json())
        batch = client.post(
            f"/v1/identities/{identity['id']}/sign-batch",
            json={"events": [template(i) for i in range(100, 120)]},
        )
        assert batch.status_code == 200, batch.text
        events += batch.json()["events"]

    assert len({e["id"] for e in events}) == len(events) == 120
    for i, event in enumerate(events):
        sdk_event = Event.from_json(json.dumps(event))
        assert sdk_event.verify(), event
        assert event["id"] == nip01_id(event) == sdk_event.id().to_hex()
        assert event["pubkey"] == identity["pubkey"] == sdk_event.author().to_hex()
        wanted = template(i)
        assert (event["kind"], event["content"], event["tags"]) == (
            wanted["kind"],
            wanted["content"],
            wanted["tags"],
        )
        if "created_at" in wanted:
            assert event["created_at"] == wanted["created_at"]


def test_serve_initialises_an_empty_data_dir_and_prints_the_token(tmp_path: Path) -> None:
    import subprocess

    from .processes import cli_command, cli_env, wait_http

    port = free_port()
    data_dir = tmp_path / "fresh"
    process = subprocess.Popen(
        [*cli_command(), "serve", "--data-dir", str(data_dir), "--port", str(port)],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        while not any("listening on" in line for line in lines):
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
            lines.append(line)
        token = next(line.strip() for line in lines if line.strip().startswith("np_"))
        assert f"http://127.0.0.1:{port}" in "".join(lines)
        wait_http(f"http://127.0.0.1:{port}/healthz")
        listed = httpx.get(
            f"http://127.0.0.1:{port}/v1/identities",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert listed.status_code == 200 and listed.json()["identities"] == []
    finally:
        process.terminate()
        process.wait(timeout=20)
    # a second start finds the data dir initialised and prints no new token
    again = run_cli(["init", "--data-dir", str(data_dir)])
    assert again.returncode == 1 and "already initialised" in again.stderr
