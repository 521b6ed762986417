"""benchmarks/relay.py keeps working (a few rounds on LocalRelay; numbers not judged)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.relays import LocalTestRelay, local_relay_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(120)

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "relay.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("relay_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relay_benchmark_reports_percentiles(local_relay: LocalTestRelay) -> None:
    numbers = load_benchmark().measure_relay(local_relay.url, rounds=10)
    assert set(numbers) == {"pool", "pool_no_quickack", "raw", "pool_vs_raw_p50"}
    for client in ("pool", "pool_no_quickack", "raw"):
        assert set(numbers[client]) == {"p50_ms", "p99_ms"}
        assert 0 <= numbers[client]["p50_ms"] <= numbers[client]["p99_ms"]
