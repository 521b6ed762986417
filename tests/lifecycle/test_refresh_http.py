"""Share refresh when one signer is its own process behind the signed HTTP transport."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nostr_passport.errors import RefreshAbortedError
from nostr_passport.service.lifecycle.refresh import refresh_identity
from nostr_passport.signer.http_client import HttpSignerClient
from nostr_passport.store import Store

from ..service.harness import real_signer
from ..signer.test_http import start_signer
from ..store.databases import database_url
from .helpers import context, harness_over, local, sign_ok


def test_refresh_with_a_remote_signer(tmp_path: Path) -> None:
    coordinator = Ed25519PrivateKey.generate()
    server = start_signer("remote-1", tmp_path / "remote", coordinator)
    try:
        remote = HttpSignerClient(server.url, "remote-1", coordinator, server.public_key, 10.0)
        clients = {
            "local-0": real_signer("local-0", tmp_path),
            "remote-1": remote,
            "local-2": real_signer("local-2", tmp_path),
        }
        with database_url("sqlite", tmp_path) as url:
            store = Store.open(url)
            h = harness_over(store, clients)
            try:
                view = h.passport.create_identity(h.admin, threshold=2, participants=3)
                for epoch in (1, 2):
                    result = refresh_identity(context(h), view.id, grace_seconds=0)
                    assert result.to_epoch == epoch and result.leftovers == ()
                    h.signers["local-0"].down = True  # local-2 and the remote one sign
                    sign_ok(h, view.id, view.pubkey)
                    h.signers["local-0"].down = False
                    h.passport.pool.mark_ok("local-0")
                assert remote.held_share(view.id).epoch == 2
            finally:
                h.close()
                store.close()
    finally:
        server.stop()


def test_signer_process_killed_mid_refresh(tmp_path: Path) -> None:
    """SIGKILL the remote signer after it dealt, before it stores: the identity still signs."""
    coordinator = Ed25519PrivateKey.generate()
    server = start_signer("remote-1", tmp_path / "remote", coordinator)
    try:
        remote = HttpSignerClient(server.url, "remote-1", coordinator, server.public_key, 10.0)
        clients = {
            "local-0": real_signer("local-0", tmp_path),
            "remote-1": remote,
            "local-2": real_signer("local-2", tmp_path),
        }
        with database_url("sqlite", tmp_path) as url:
            store = Store.open(url)
            h = harness_over(store, clients)
            try:
                view = h.passport.create_identity(h.admin, threshold=2, participants=3)
                real_deal = remote.refresh_deal

                def deal_then_die(*args: Any, **kwargs: Any) -> Any:
                    deal = real_deal(*args, **kwargs)
                    server.process.send_signal(signal.SIGKILL)
                    server.process.wait(timeout=10)
                    return deal

                remote.refresh_deal = deal_then_die  # type: ignore[method-assign]
                with pytest.raises(RefreshAbortedError):
                    refresh_identity(context(h), view.id, grace_seconds=0)
                assert context(h).identity(view.id).epoch == 0
                sign_ok(h, view.id, view.pubkey)  # local-0 and local-2, on epoch 0
                for sid in ("local-0", "local-2"):
                    assert local(h, sid).store.epochs(view.id) == (0,)
            finally:
                h.close()
                store.close()
    finally:
        if server.process.poll() is None:
            server.stop()
