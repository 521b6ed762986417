"""Fixtures for the audit log and attestation tests: real stores, real HSM providers.

Stores: a SQLite file and a fresh PostgreSQL database per test (tests/store/databases.py).
Providers: the HSM simulator, and SoftHSM2 tokens through the pkcs11 provider. SoftHSM2
reads its token directory only when the module is first initialised, so every token a
test needs is created before the first one is opened (`softhsm_providers`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.hsm.softhsm import init_token
from nostr_passport.store import Store

from ..store.databases import BACKENDS, database_url

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "audit-test-pin-1234"

SofthsmFactory = Callable[..., list[HsmProvider]]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database_url(request.param, tmp_path) as url:
        s = Store.open(url)
        try:
            yield s
        finally:
            s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with database_url("sqlite", tmp_path) as url:
        s = Store.open(url)
        try:
            yield s
        finally:
            s.close()


@pytest.fixture
def audit_provider(tmp_path: Path) -> Iterator[HsmProvider]:
    """The gateway's audit provider, as the simulator."""
    provider = SimulatorProvider("audit", state_dir=tmp_path / "audit-hsm")
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture
def softhsm_providers(tmp_path: Path) -> Iterator[SofthsmFactory]:
    """softhsm_providers("a", "b") -> providers on new SoftHSM2 tokens (once per test)."""
    opened: list[HsmProvider] = []

    def make(*labels: str) -> list[HsmProvider]:
        assert not opened, "create every SoftHSM2 token of a test in one call"
        directory = tmp_path / "softhsm"
        configs = [
            ProviderConfig(
                kind="pkcs11",
                name=f"softhsm-{label}",
                profile="softhsm2",
                module_path=SOFTHSM_MODULE,
                token_label=label,
                user_pin=PIN,
                softhsm2_conf=str(init_token(directory, label, PIN)),
            )
            for label in labels
        ]
        opened.extend(open_provider(c) for c in configs)
        return list(opened)

    yield make
    for provider in opened:
        provider.close()
