"""Fixtures for the provider contract: the same tests run on the simulator and on SoftHSM2.

Each test gets its own SOFTHSM2_CONF directory; all tokens of one test live there
(one module per process can only be initialised with one configuration at a time).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.hsm.softhsm import init_token

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "test-pin-1234"

TOKENS_PER_TEST = 3

ProviderFactory = Callable[..., HsmProvider]


@pytest.fixture
def softhsm_dir(tmp_path: Path) -> Path:
    return tmp_path / "softhsm"


@pytest.fixture
def softhsm_token(softhsm_dir: Path) -> Callable[[str], ProviderConfig]:
    """Creates a token and returns the pkcs11 ProviderConfig that opens it."""

    def create(label: str) -> ProviderConfig:
        conf = init_token(softhsm_dir, label, PIN)
        return ProviderConfig(
            kind="pkcs11",
            name=f"softhsm-{label}",
            profile="softhsm2",
            module_path=SOFTHSM_MODULE,
            token_label=label,
            user_pin=PIN,
            softhsm2_conf=str(conf),
        )

    return create


@pytest.fixture(params=["simulator", pytest.param("pkcs11", marks=pytest.mark.softhsm)])
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def new_provider(
    kind: str, tmp_path: Path, softhsm_token: Callable[[str], ProviderConfig]
) -> Iterator[ProviderFactory]:
    """new_provider() -> a fresh provider of `kind`; new_provider(reopen=p) -> p re-opened."""
    opened: list[HsmProvider] = []
    configs: dict[int, ProviderConfig] = {}
    counter = itertools.count(1)
    # SoftHSM2 only sees tokens that existed at C_Initialize: create them all up front.
    tokens = (
        [softhsm_token(f"token-{n}") for n in range(1, TOKENS_PER_TEST + 1)]
        if kind == "pkcs11"
        else []
    )

    def make(reopen: HsmProvider | None = None) -> HsmProvider:
        if reopen is not None:
            config = configs[id(reopen)]
        elif kind == "simulator":
            n = next(counter)
            config = ProviderConfig(
                kind="simulator", name=f"sim-{n}", state_dir=str(tmp_path / f"sim-{n}")
            )
        else:
            config = tokens[next(counter) - 1]
        provider = open_provider(config)
        configs[id(provider)] = config
        opened.append(provider)
        return provider

    yield make
    for provider in opened:
        provider.close()
