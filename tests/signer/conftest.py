"""Fixtures of the signer suite: the same tests on the simulator and on SoftHSM2.

Each test gets fresh providers, one per signer, each on its own token (pkcs11) in a
SOFTHSM2_CONF directory of its own; the tokens are all created before the first
provider opens (SoftHSM2 scans its token directory only in C_Initialize).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.hsm.softhsm import init_token
from nostr_passport.signer.local import LocalSigner

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "signer-test-pin"

SignerFactory = Callable[[int], list[LocalSigner]]


def provider_configs(kind: str, base: Path, count: int) -> list[ProviderConfig]:
    """`count` provider configs of `kind` under `base` (tokens created now for pkcs11)."""
    if kind == "simulator":
        return [
            ProviderConfig(kind="simulator", name=f"sim-{i}", state_dir=str(base / f"sim-{i}"))
            for i in range(count)
        ]
    configs = []
    for i in range(count):
        conf = init_token(base / "softhsm", f"signer-{i}", PIN)
        configs.append(
            ProviderConfig(
                kind="pkcs11",
                name=f"softhsm-{i}",
                profile="softhsm2",
                module_path=SOFTHSM_MODULE,
                token_label=f"signer-{i}",
                user_pin=PIN,
                softhsm2_conf=str(conf),
            )
        )
    return configs


@pytest.fixture(params=["simulator", pytest.param("pkcs11", marks=pytest.mark.softhsm)])
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def make_signers(kind: str, tmp_path: Path) -> Iterator[SignerFactory]:
    """make_signers(n) -> n LocalSigners s0..s{n-1}, each on its own provider; once per test."""
    opened: list[LocalSigner] = []

    def make(count: int) -> list[LocalSigner]:
        assert not opened, "make_signers is called once per test"
        for i, config in enumerate(provider_configs(kind, tmp_path / "hsm", count)):
            provider = open_provider(config)
            opened.append(LocalSigner(f"s{i}", provider, tmp_path / f"signer-{i}"))
        return list(opened)

    yield make
    for signer in opened:
        signer.close()


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Callable[[str], HsmProvider]]:
    """simulator(name) -> a simulator provider with its own state dir."""
    opened: list[HsmProvider] = []

    def make(name: str) -> HsmProvider:
        provider = open_provider(
            ProviderConfig(kind="simulator", name=name, state_dir=str(tmp_path / f"sim-{name}"))
        )
        opened.append(provider)
        return provider

    yield make
    for provider in opened:
        provider.close()
