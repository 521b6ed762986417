"""benchmarks/lifecycle.py keeps working: one short pass, every figure there and positive.

Numbers are not judged (shared, noisy machines); only that each operation ran.
"""

from __future__ import annotations

import math

import pytest

from benchmarks import lifecycle

pytestmark = [pytest.mark.softhsm, pytest.mark.timeout(120)]

PER_KIND = (
    "dealer_create_2of3_per_s",
    "dkg_create_2of3_per_s",
    "dealer_create_3of5_per_s",
    "dkg_create_3of5_per_s",
    "refresh_2of3_per_s",
    "backup_restore_2_shares_per_s",
    "reshape_2of3_to_3of5_per_s",
    "kek_rotation_shares_in_store",
    "kek_rotation_values_per_round",
    "kek_rotation_s_per_100_wrapped",
    "dkg_create_2of3_ratio",
    "dkg_create_3of5_ratio",
    "refresh_2of3_ratio",
    "backup_restore_2_shares_ratio",
    "reshape_2of3_to_3of5_ratio",
    "kek_per_100_in_dealer_creates",
)


def test_lifecycle_benchmark_reports_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    numbers = lifecycle.measure(0.05)
    expected = {
        f"crypto_{name}_{shape}_{unit}"
        for shape in ("2of3", "3of5")
        for name, unit in (("dealer_keygen", "per_s"), ("chilldkg", "per_s"), ("chilldkg", "ratio"))
    } | {f"{kind}_{key}" for kind in lifecycle.KINDS for key in PER_KIND}
    assert set(numbers) == expected
    for key, value in numbers.items():
        assert math.isfinite(value) and value > 0, key

    lifecycle.print_report(numbers)
    printed = capsys.readouterr().out
    assert "ChillDKG costs" in printed and "dealer identities" in printed
