"""End to end: `nostr-passport serve --relay URL` as a subprocess (its three local signers
on SoftHSM2 when installed), `nostr-passport bunker uri` printing nothing but the URI,
nostr-sdk's NostrConnect signing through it, connections listed and revoked by the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from nostr_sdk import Keys

from tests.e2e.processes import free_port, init_data_dir, run_cli, serving
from tests.relays import LocalTestRelay, run_async

from .sdk import connect_signer, unsigned

pytestmark = pytest.mark.timeout(180)


def test_serve_with_relay_and_the_bunker_cli(tmp_path: Path) -> None:
    relay = LocalTestRelay(directory=tmp_path / "relay")
    relay.start()
    try:
        info = init_data_dir(tmp_path / "data")
        token = info["admin_token"]
        port = free_port()
        args = ["serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)]
        with serving([*args, "--relay", relay.url]) as server:
            remote = ["--url", server.url, "--token", token]
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as api:
                created = api.post("/v1/identities", json={"label": "carol"})
                assert created.status_code == 201, created.text
            identity = created.json()

            result = run_cli(["bunker", "uri", identity["id"], *remote, "--perms", "sign_event:1"])
            assert result.returncode == 0, result.stderr
            uri = result.stdout.strip()
            assert result.stdout == uri + "\n"  # the URI and nothing else
            assert uri.startswith("bunker://") and "secret=" in uri

            keys = Keys.generate()

            async def main() -> None:
                signer = connect_signer(uri, keys, timeout=30)
                user = await signer.get_public_key_async()
                assert user is not None and user.to_hex() == identity["pubkey"]
                event = await signer.sign_event_async(unsigned(user, 1, "from serve ☃"))
                assert event is not None and event.verify()

            run_async(main(), timeout=90)

            listed = run_cli(["bunker", "connections", identity["id"], *remote, "--json"])
            assert listed.returncode == 0, listed.stderr
            connections = json.loads(listed.stdout)
            assert [c["client_pubkey"] for c in connections] == [keys.public_key().to_hex()]
            assert [g["permission"] for g in connections[0]["grants"]] == ["sign_event:1"]

            revoked = run_cli(
                ["bunker", "revoke", identity["id"], keys.public_key().to_hex(), *remote]
            )
            assert revoked.returncode == 0 and revoked.stdout.startswith("revoked ")

            well_known = httpx.get(f"{server.url}/.well-known/nostr.json", params={"name": "carol"})
            document = well_known.json()
            assert document["names"] == {"carol": identity["pubkey"]}
            assert document["nip46"][identity["pubkey"]] == [relay.url]
            assert document["nip46"]["relays"] == [relay.url]

            refused = run_cli(
                ["bunker", "uri", identity["id"], "--url", server.url, "--token", "np_x"]
            )
            assert refused.returncode == 1 and refused.stdout == ""
    finally:
        relay.stop()
