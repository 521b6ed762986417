"""Acceptance fixtures: the real app on a uvicorn socket over SQLite and PostgreSQL.

The signers are the real in-process signers on the HSM simulator, not wrapped (the
gateway finds the HSM key that signs audit checkpoints on a local signer's provider).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nostr_passport.service.gateway import assemble
from nostr_passport.signer.protocol import SignerClient
from nostr_passport.store import Store

from ..api.conftest import Server, run_server
from ..service.harness import SIGNER_IDS, Harness, real_signer, settings_for_tests
from ..store.databases import BACKENDS, database_url


def plain_harness(store: Store, tmp_path: Path) -> Harness:
    signers: dict[str, SignerClient] = {sid: real_signer(sid, tmp_path) for sid in SIGNER_IDS}
    passport = assemble(store, signers, settings_for_tests())
    passport.register_signers()
    harness = Harness(store, passport, {}, admin=None, admin_token="")  # type: ignore[arg-type]
    harness.admin_token, harness.admin = harness.token("admin")
    return harness


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with database_url(request.param, tmp_path) as url:
        store = Store.open(url)
        harness = plain_harness(store, tmp_path)
        try:
            with run_server(harness) as base:
                yield Server(base, harness)
        finally:
            harness.close()
            store.close()
