"""Fixtures: one LocalRelay and one gateway (with its bunker) per test module.

Tests that restart or reconfigure relays build their own (see gateway.running_gateway).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.relays import LocalTestRelay

from .gateway import Gateway, running_gateway


@pytest.fixture(scope="module")
def module_relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTestRelay]:
    relay = LocalTestRelay(directory=tmp_path_factory.mktemp("local-relay"))
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


@pytest.fixture(scope="module")
def gateway(
    module_relay: LocalTestRelay, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    with running_gateway(tmp_path_factory.mktemp("gateway"), (module_relay.url,)) as running:
        yield running
