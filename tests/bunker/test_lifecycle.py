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
from nostr_passport.store.tables import audit_log
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


def test_signer_outages(gateway: Gateway, module_relay: LocalTestRelay) -> None:
    """One signer down or lying: answered all the same (failover, DLEQ checks). Too few
    signers: no key can decrypt or sign, so no reply is possible (the audit log says why);
    once they are back, the bunker answers again."""
    uri = gateway.bunker_uri()
    signer = urlsplit(uri).netloc
    secret = uri.split("secret=")[1]
    signers = list(gateway.harness.signers.values())

    async def main() -> None:
        async with RawClient([module_relay.url], signer) as client:
            assert (await client.request("connect", [signer, secret])).result == "ack"
            signers[1].corrupt_ecdh = True  # a lying signer: its DLEQ proof fails
            try:
                reply = await client.request("sign_event", ['{"kind":1,"content":"lie"}'])
                assert reply.result is not None and '"content":"lie"' in reply.result
            finally:
                signers[1].corrupt_ecdh = False
            signers[0].down = True  # one of three down: 2-of-3 still answers
            reply = await client.request("sign_event", ['{"kind":1,"content":"down"}'])
            assert reply.result is not None and '"content":"down"' in reply.result
            signers[1].down = True
            try:
                with pytest.raises(TimeoutError):
                    await client.request("ping", [], timeout=3)
            finally:
                signers[0].down = signers[1].down = False
            assert (await client.request("ping", [])).result == "pong"

    run_async(main(), timeout=90)
    with gateway.harness.store.read() as conn:
        errors = (
            conn.execute(
                select(audit_log.c.details).where(
                    audit_log.c.action == "bunker.request", audit_log.c.outcome == "error"
                )
            )
            .scalars()
            .all()
        )
    assert any("signers_unavailable" in d for d in errors)
