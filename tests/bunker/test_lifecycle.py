"""The user's identity changing under a live connection: disabled (every request is
refused with an error reply), enabled again, deleted (the remote-signer key and the
bunker's rows go too, shares included)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from nostr_passport.store.bunker_tables import bunker_connections, bunker_signers
from nostr_passport.store.identities import identity_header
from tests.relays import LocalTestRelay, run_async

from .gateway import Gateway
from .rawclient import RawClient

pytestmark = pytest.mark.timeout(120)


def test_disable_enable_and_delete_under_a_connection(
    gateway: Gateway, module_relay: LocalTestRelay
) -> None:
    with gateway.client() as api:
        carol = api.post("/v1/identities", json={"label": "carol"}).json()
    uri = gateway.bunker_uri(carol["id"])
    signer = urlsplit(uri).netloc
    secret = uri.split("secret=")[1]
    with gateway.harness.store.read() as conn:
        hidden = conn.execute(
            select(bunker_signers.c.signer_identity_id).where(
                bunker_signers.c.identity_id == carol["id"]
            )
        ).scalar_one()

    async def main() -> None:
        async with RawClient([module_relay.url], signer) as client:
            assert (await client.request("connect", [signer, secret])).result == "ack"
            with gateway.client() as api:
                assert api.post(f"/v1/identities/{carol['id']}/disable").status_code == 200
                reply = await client.request("get_public_key", [])
                assert reply.error is not None and "identity_disabled" in reply.error
                reply = await client.request("sign_event", ['{"kind":1,"content":"x"}'])
                assert reply.error is not None and "identity_disabled" in reply.error
                assert api.post(f"/v1/identities/{carol['id']}/enable").status_code == 200
                assert (await client.request("get_public_key", [])).result == carol["pubkey"]
                assert api.delete(f"/v1/identities/{carol['id']}").status_code == 200

    run_async(main(), timeout=90)

    # The bunker notices within a refresh and deletes the remote-signer key everywhere.
    deadline = time.monotonic() + 30
    while True:
        with gateway.harness.store.read() as conn:
            rows = conn.execute(
                select(bunker_signers).where(bunker_signers.c.identity_id == carol["id"])
            ).all()
            connections = conn.execute(
                select(bunker_connections).where(bunker_connections.c.identity_id == carol["id"])
            ).all()
            key = identity_header(conn, hidden)
        if not rows:
            break
        assert time.monotonic() < deadline, "remote-signer key not retired"
        time.sleep(0.1)
    assert connections == [] and key is None
