"""The cost estimate: pricing table (defaults, pricing.toml), report arithmetic."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nostr_passport.errors import ConfigError
from nostr_passport.ops.cost import (
    DEFAULT_PRICES,
    OperationCount,
    Pricing,
    cost_report,
    load_pricing,
    parse_pricing,
)
from nostr_passport.ops.signer_metrics import provider_kind_of
from nostr_passport.signer.protocol import SignerInfo

PRICING = """
[providers.aws-cloudhsm]
hourly_usd = 2.0
hsms = 2

[providers.gcp-kmsp11]
monthly_usd = 73.0
per_10k_ops_usd = 1.0

[signers]
signer-3 = "gcp-kmsp11"
"""


def test_defaults_are_free_for_development_and_priced_for_cloud_hsms() -> None:
    assert DEFAULT_PRICES["simulator"].fixed_per_hour == 0
    assert DEFAULT_PRICES["softhsm2"].fixed_per_hour == 0
    assert DEFAULT_PRICES["aws-cloudhsm"].hourly_usd > 1
    assert DEFAULT_PRICES["gcp-kmsp11"].per_10k_ops_usd > 0
    assert load_pricing(None).source == "built-in defaults"


def test_report_from_a_pricing_file(tmp_path: Path) -> None:
    path = tmp_path / "pricing.toml"
    path.write_text(PRICING, encoding="utf-8")
    pricing = load_pricing(path)
    assert pricing.source == str(path)
    operations = [
        OperationCount("signer-1", "aws-cloudhsm", "partial_sign", 900),
        OperationCount("signer-1", "aws-cloudhsm", "commitments", 100),
        OperationCount("signer-2", "aws-cloudhsm", "partial_sign", 1000),
        OperationCount("signer-3", "unknown", "partial_sign", 20_000),  # priced as gcp
    ]
    kinds = {"signer-1": "aws-cloudhsm", "signer-2": "aws-cloudhsm", "signer-3": "unknown"}
    report = cost_report(pricing, operations, kinds, uptime_seconds=3 * 3600, started_at=0)
    providers = {p["provider_kind"]: p for p in report["providers"]}
    assert set(providers) == {"aws-cloudhsm", "gcp-kmsp11"}
    aws = providers["aws-cloudhsm"]
    assert aws["hsms"] == 2 and aws["operations"] == 2000
    assert math.isclose(aws["total_usd"], 2.0 * 3 * 2)  # $2/h x 3 h x 2 HSMs
    assert math.isclose(aws["usd_per_operation"], 12.0 / 2000)
    gcp = providers["gcp-kmsp11"]
    assert gcp["signers"] == ["signer-3"] and gcp["hsms"] == 1
    assert math.isclose(gcp["fixed_usd"], 73.0 / 730 * 3)  # monthly, prorated per hour
    assert math.isclose(gcp["operations_usd"], 2.0)  # 20,000 ops at $1 per 10k
    assert math.isclose(report["total_usd"], 12.0 + 0.3 + 2.0)
    by_op = {(o["provider_kind"], o["operation"]): o for o in report["operations"]}
    assert by_op[("aws-cloudhsm", "partial_sign")]["count"] == 1900
    assert math.isclose(by_op[("aws-cloudhsm", "partial_sign")]["usd"], 12.0 * 1900 / 2000)
    assert math.isclose(by_op[("aws-cloudhsm", "commitments")]["usd"], 12.0 * 100 / 2000)
    assert "check your contract" in report["note"]


def test_idle_signers_still_cost_their_fixed_price() -> None:
    report = cost_report(Pricing(), [], {"s1": "aws-cloudhsm"}, 3600, 0)
    (aws,) = report["providers"]
    assert math.isclose(aws["total_usd"], DEFAULT_PRICES["aws-cloudhsm"].hourly_usd)
    assert aws["usd_per_operation"] is None and report["operations"] == []


@pytest.mark.parametrize(
    "text",
    [
        "[providers.aws-cloudhsm]\nhourly_usd = -1",
        "[providers.aws-cloudhsm]\nhourly_usd = 'cheap'",
        "[providers.aws-cloudhsm]\nhourlyusd = 1",
        "[providers.aws-cloudhsm]\nhsms = 1.5",
        "[signers]\nsigner-1 = 3",
        "providers = 3",
        "not toml [",
    ],
)
def test_bad_pricing_files_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "pricing.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_pricing(path)


def test_new_provider_kinds_can_be_priced() -> None:
    pricing = parse_pricing({"providers": {"my-hsm": {"hourly_usd": 1}}}, "test")
    assert pricing.price("my-hsm").hourly_usd == 1
    assert pricing.price("nowhere").fixed_per_hour == 0


def _info(kind: str, vendor: str) -> SignerInfo:
    return SignerInfo("s", "p", kind, vendor, "m", "0", False, b"", b"")


def test_provider_kinds_from_signer_info() -> None:
    assert provider_kind_of(_info("simulator", "NostrPassport")) == "simulator"
    assert provider_kind_of(_info("pkcs11", "SoftHSM project")) == "softhsm2"
    assert provider_kind_of(_info("pkcs11", "Marvell Semiconductors, Inc.")) == "aws-cloudhsm"
    assert provider_kind_of(_info("pkcs11", "SafeNet")) == "luna"
    assert provider_kind_of(_info("pkcs11", "Google")) == "gcp-kmsp11"
    assert provider_kind_of(_info("pkcs11", "Acme HSM")) == "pkcs11"
