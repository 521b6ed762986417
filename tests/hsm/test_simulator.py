"""Simulator-only behaviour: production refusal, in-memory mode, its state file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from nostr_passport.errors import HsmError, ProductionModeError, TamperedCiphertextError
from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.simulator import STATE_FILE, VENDOR, SimulatorProvider
from nostr_passport.hsm.transport import TransportKdf


def test_refuses_production_mode(tmp_path: Path) -> None:
    with pytest.raises(ProductionModeError, match="production"):
        SimulatorProvider("sim", production=True)
    config = ProviderConfig(kind="simulator", name="sim", production=True, state_dir=str(tmp_path))
    with pytest.raises(ProductionModeError):
        open_provider(config)
    assert not (tmp_path / STATE_FILE).exists()


def test_in_memory_provider_describes_itself() -> None:
    provider = open_provider(ProviderConfig(kind="simulator", name="dev"))
    info = provider.info
    assert (info.name, info.kind, info.vendor, info.simulated) == ("dev", "simulator", VENDOR, True)
    assert info.label == "memory"
    assert provider.list_kek_ids() == ["np-kek-1"]
    other = open_provider(ProviderConfig(kind="simulator", name="dev"))
    assert other.info.serial != info.serial  # nothing shared between in-memory instances


def test_state_file_is_private_and_labelled_dev_only(tmp_path: Path) -> None:
    provider = SimulatorProvider("sim", state_dir=tmp_path)
    path = tmp_path / STATE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "DEVELOPMENT ONLY" in path.read_text()
    provider.create_kek()
    assert '"np-kek-2"' in path.read_text()  # every change is persisted at once


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{not json")
    with pytest.raises(HsmError, match="corrupt"):
        SimulatorProvider("sim", state_dir=tmp_path)


def test_key_label_prefix_separates_keks() -> None:
    provider = SimulatorProvider("sim", key_label_prefix="tenant7")
    assert provider.current_kek_id() == "tenant7-kek-1"


def test_transport_kdfs_interoperate_and_are_bound() -> None:
    raw = SimulatorProvider("raw", transport_kdf=TransportKdf.RAW_X)
    x963 = SimulatorProvider("x963", transport_kdf=TransportKdf.X963_SHA256)
    blob = raw.wrap_for(x963.transport_public_key(), b"s", b"a")
    assert x963.unwrap_transported(blob, b"a") == b"s"
    blob = x963.wrap_for(raw.transport_public_key(), b"s", b"a")
    assert raw.unwrap_transported(blob, b"a") == b"s"
    with pytest.raises(TamperedCiphertextError):
        x963.unwrap_transported(blob, b"a")
