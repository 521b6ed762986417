"""Every bunker operation is in the audit log; no secret is anywhere it should not be:
not the bunker:// secret, not a plaintext, not a decrypted text, not event content, in
neither the store (all tables, audit log included) nor the logs."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from nostr_sdk import Keys
from sqlalchemy import select

from nostr_passport.store.tables import metadata
from tests.relays import run_async

from .gateway import Gateway
from .sdk import connect_signer, unsigned

pytestmark = pytest.mark.timeout(120)


def _store_text(gateway: Gateway) -> str:
    rows: list[str] = []
    with gateway.harness.store.read() as conn:
        for table in metadata.sorted_tables:
            rows.extend(repr(tuple(r)) for r in conn.execute(select(table)).all())
    return "\n".join(rows)


def _audit_actions(gateway: Gateway) -> list[str]:
    from nostr_passport.store.tables import audit_log

    with gateway.harness.store.read() as conn:
        return list(conn.execute(select(audit_log.c.action).order_by(audit_log.c.idx)).scalars())


def test_no_secret_in_store_audit_or_logs(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    uri = gateway.bunker_uri(perms="sign_event:1,nip44_encrypt,nip44_decrypt")
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    third = Keys.generate()
    markers = {
        "plaintext": "PLAINTEXT-7f3a-to-encrypt",
        "decrypted": "DECRYPTED-91bc-from-a-peer",
        "content": "CONTENT-55aa-of-an-event",
        "pending": "PENDING-0c0c-waiting-content",
    }

    async def main() -> None:
        signer = connect_signer(uri, timeout=20)
        user = await signer.get_public_key_async()
        assert user is not None
        await signer.nip44_encrypt_async(third.public_key(), markers["plaintext"])
        sealed = third.nip44_encrypt(user, markers["decrypted"])
        assert await signer.nip44_decrypt_async(third.public_key(), sealed) == markers["decrypted"]
        assert await signer.sign_event_async(unsigned(user, 1, markers["content"])) is not None
        # Outside the grants: kept for approval, as the encrypted event it came in.
        waiting = asyncio.ensure_future(
            signer.sign_event_async(unsigned(user, 7, markers["pending"]))
        )
        with gateway.client() as api:
            path = f"/v1/identities/{gateway.identity['id']}/bunker/requests"
            for _ in range(200):
                if (await asyncio.to_thread(api.get, path)).json()["requests"]:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("no pending request")
        waiting.cancel()

    run_async(main(), timeout=90)

    stored = _store_text(gateway)
    logged = caplog.text
    for name, value in {"secret": secret, **markers}.items():
        assert value not in stored, f"{name} found in the store"
        assert value not in logged, f"{name} found in the logs"

    actions = _audit_actions(gateway)
    for action in (
        "bunker.uri",
        "bunker.request",
        "bunker.connect",
        "bunker.get_public_key",
        "bunker.nip44_encrypt",
        "nip44_encrypt",
        "bunker.nip44_decrypt",
        "nip44_decrypt",
        "bunker.sign_event",
        "sign_event",
    ):
        assert action in actions, action


def test_the_remote_signer_key_is_hidden_from_identity_lists(gateway: Gateway) -> None:
    gateway.bunker_uri()
    with gateway.client() as api:
        listed = api.get("/v1/identities").json()["identities"]
    assert {i["id"] for i in listed} == {gateway.identity["id"], gateway.other_identity["id"]}
