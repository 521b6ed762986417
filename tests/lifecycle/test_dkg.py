"""ChillDKG among the signers: 2-of-3 and 3-of-5 identities sign valid Nostr events."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nostr_sdk import Event

from nostr_passport.crypto import curve, dealer
from nostr_passport.service.lifecycle.dkg_flow import create_identity_dkg
from nostr_passport.service.lifecycle.refresh import refresh_identity
from nostr_passport.signer.http_client import HttpSignerClient
from nostr_passport.store import Store

from ..service.harness import real_signer
from ..signer.test_http import start_signer
from ..store.databases import database_url
from .helpers import context, harness_over, local, plain_share, sign_ok


def assert_nostr_valid(events: list[dict[str, Any]], pubkey: str) -> None:
    for event in events:
        assert event["pubkey"] == pubkey
        assert Event.from_json(json.dumps(event)).verify()


@pytest.mark.parametrize(("t", "n"), [(2, 3), (3, 5)])
def test_dkg_identity_signs_with_every_subset(tmp_path: Path, t: int, n: int) -> None:
    names = [f"d{i}" for i in range(n)]
    with database_url("sqlite", tmp_path) as url:
        store = Store.open(url)
        h = harness_over(store, {name: real_signer(name, tmp_path) for name in names})
        try:
            record = create_identity_dkg(
                context(h), tenant_id="default", threshold=t, signer_ids=names, label="dkg"
            )
            assert (record.keygen_method, record.threshold, record.participants) == ("dkg", t, n)
            # The npub is x(threshold_pubkey), and the shares are Shamir shares of its secret.
            shares = dict(plain_share(local(h, name), record.id, 0) for name in names)
            secret = dealer.reconstruct({i: shares[i] for i in range(t)}, t)
            point = curve.point_mul_g(secret)
            assert point is not None and curve.xbytes(point).hex() == record.group_pubkey
            assert curve.cbytes(point).hex() == record.group_pubkey_dealt

            for up in itertools.combinations(names, t):
                for name in names:
                    h.signers[name].down = name not in up
                events = h.passport.sign_events(
                    h.admin, record.id, [{"kind": 1, "content": f"dkg {up}", "tags": []}]
                )
                assert_nostr_valid(events, record.group_pubkey)
                for name in names:
                    h.signers[name].down = False
                    h.passport.pool.mark_ok(name)
            refresh_identity(context(h), record.id, grace_seconds=0)
            sign_ok(h, record.id, record.group_pubkey)
        finally:
            for name in names:
                h.signers[name].down = False
            h.close()
            store.close()


def test_dkg_with_a_signer_process_over_http(tmp_path: Path) -> None:
    coordinator = Ed25519PrivateKey.generate()
    server = start_signer("remote-1", tmp_path / "remote", coordinator)
    try:
        clients: dict[str, Any] = {
            "local-0": real_signer("local-0", tmp_path),
            "remote-1": HttpSignerClient(
                server.url, "remote-1", coordinator, server.public_key, 10.0
            ),
            "local-2": real_signer("local-2", tmp_path),
        }
        with database_url("sqlite", tmp_path) as url:
            store = Store.open(url)
            h = harness_over(store, clients)
            try:
                record = create_identity_dkg(
                    context(h),
                    tenant_id="default",
                    threshold=2,
                    signer_ids=["local-0", "remote-1", "local-2"],
                )
                h.signers["local-0"].down = True
                try:
                    sign_ok(h, record.id, record.group_pubkey)
                finally:
                    h.signers["local-0"].down = False
            finally:
                h.close()
                store.close()
    finally:
        server.stop()
