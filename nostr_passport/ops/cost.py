"""Cost per operation, estimated from a pricing table and the signer operation counts.

The model (docs/operations.md, "Cost"): per provider kind, an HSM costs
- `hourly_usd` per HSM per hour (AWS CloudHSM, Azure Dedicated HSM / Luna are billed
  by the hour while the HSM exists, whether it works or not);
- `monthly_usd` per HSM per month (fixed charges quoted monthly, e.g. Google Cloud HSM
  key versions: set it to key versions x price per key version), prorated per hour
  (730 hours a month);
- `per_10k_ops_usd` per 10,000 operations (Google Cloud HSM bills operations).

Over the process lifetime: fixed = (hourly + monthly/730) x hours x HSMs, operations =
per_10k_ops / 10,000 x operations, where operations are counted by the signer wrapper
(one per billable call, one per event of a partial_sign batch) and HSMs default to one
per signer of that kind. This is an estimate for comparing deployments and spotting
waste, not a bill: several gateways share the same HSMs (each one counts the fixed
part once, so sum the operation part and take the fixed part once), and the defaults
are list prices as published, rounded; check your contract and region.

Override the defaults with DATA_DIR/pricing.toml:

    [providers.aws-cloudhsm]
    hourly_usd = 1.45
    hsms = 2                  # HSMs you pay for (default: one per signer of the kind)

    [signers]
    signer-3 = "luna"         # which entry prices a signer (default: from its vendor)
"""

from __future__ import annotations

import math
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nostr_passport.errors import ConfigError

PRICING_FILE_NAME = "pricing.toml"
HOURS_PER_MONTH = 730.0

NOTE = (
    "Estimate from list prices as published (rounded; they vary by region and change), "
    "check your contract. Fixed HSM charges accrue whether or not the HSM is used; "
    "gateways sharing HSMs each count the fixed part."
)


@dataclass(frozen=True)
class Price:
    """What one HSM of a provider kind costs; all in USD."""

    hourly_usd: float = 0.0
    monthly_usd: float = 0.0
    per_10k_ops_usd: float = 0.0
    hsms: int | None = None  # None: one per signer of this kind
    description: str = ""

    @property
    def fixed_per_hour(self) -> float:
        return self.hourly_usd + self.monthly_usd / HOURS_PER_MONTH


# List prices as published, rounded: check your contract. Keys are provider kinds as
# ops/signer_metrics.provider_kind_of names them (the PKCS#11 profile names).
DEFAULT_PRICES: Mapping[str, Price] = {
    "simulator": Price(description="HSM simulator: development only, free"),
    "softhsm2": Price(description="SoftHSM2: software token, free"),
    "aws-cloudhsm": Price(
        hourly_usd=1.45,
        description="AWS CloudHSM: about $1.45-1.60 per HSM-hour depending on region",
    ),
    "luna": Price(
        hourly_usd=5.7,
        description="Azure Dedicated HSM / Thales Luna: about $4,200 per HSM-month",
    ),
    "gcp-kmsp11": Price(
        monthly_usd=7.5,
        per_10k_ops_usd=0.15,
        description=(
            "Google Cloud HSM: about $2.50 per asymmetric key version per month "
            "(3 keys per signer assumed) + about $0.15 per 10,000 operations"
        ),
    ),
    "pkcs11": Price(description="PKCS#11 token of unknown vendor: not priced"),
}


@dataclass(frozen=True)
class Pricing:
    prices: Mapping[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    signer_kinds: Mapping[str, str] = field(default_factory=dict)  # signer id -> kind
    source: str = "built-in defaults"

    def price(self, kind: str) -> Price:
        return self.prices.get(kind, Price(description="not in the pricing table"))

    def kind_of(self, signer_id: str, observed: str) -> str:
        return self.signer_kinds.get(signer_id, observed)


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a number")
    if value < 0:
        raise ConfigError(f"{where} must not be negative")
    return float(value)


def parse_pricing(data: Mapping[str, Any], source: str) -> Pricing:
    """The defaults, overridden entry by entry by a pricing.toml mapping."""
    prices = dict(DEFAULT_PRICES)
    providers = data.get("providers", {})
    if not isinstance(providers, dict):
        raise ConfigError(f"{source}: [providers] must be a table")
    for kind, table in providers.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [providers.{kind}] must be a table")
        unknown = set(table) - {"hourly_usd", "monthly_usd", "per_10k_ops_usd", "hsms"}
        if unknown:
            raise ConfigError(f"{source}: [providers.{kind}] unknown keys {sorted(unknown)}")
        price = prices.get(kind, Price(description=f"{kind} (from {source})"))
        price = replace(
            price,
            hourly_usd=_number(table.get("hourly_usd", price.hourly_usd), f"{kind}.hourly_usd"),
            monthly_usd=_number(table.get("monthly_usd", price.monthly_usd), f"{kind}.monthly_usd"),
            per_10k_ops_usd=_number(
                table.get("per_10k_ops_usd", price.per_10k_ops_usd), f"{kind}.per_10k_ops_usd"
            ),
        )
        if "hsms" in table:
            hsms = table["hsms"]
            if isinstance(hsms, bool) or not isinstance(hsms, int) or hsms < 0:
                raise ConfigError(f"{source}: {kind}.hsms must be a whole number >= 0")
            price = replace(price, hsms=hsms)
        prices[str(kind)] = replace(price, description=price.description or str(kind))
    signers = data.get("signers", {})
    if not isinstance(signers, dict) or not all(isinstance(v, str) for v in signers.values()):
        raise ConfigError(f"{source}: [signers] maps signer ids to provider kinds")
    return Pricing(prices, {str(k): v for k, v in signers.items()}, source)


def load_pricing(path: Path | None) -> Pricing:
    """pricing.toml at `path` if it exists, else the built-in defaults."""
    if path is None or not path.is_file():
        return Pricing()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read pricing table: {exc}") from None
    return parse_pricing(data, str(path))


@dataclass(frozen=True)
class OperationCount:
    signer_id: str
    provider_kind: str  # as observed by the signer wrapper
    operation: str
    count: float


def cost_report(
    pricing: Pricing,
    operations: list[OperationCount],
    signer_kinds: Mapping[str, str],
    uptime_seconds: float,
    started_at: float,
    now: float | None = None,
) -> dict[str, Any]:
    """Cost over the process lifetime, per provider kind and per operation type.

    `signer_kinds`: every configured signer -> its observed provider kind (so idle
    signers' HSMs still count their fixed price).
    """
    hours = max(0.0, uptime_seconds) / 3600.0
    kinds: dict[str, list[str]] = {}
    for signer_id, observed in sorted(signer_kinds.items()):
        kinds.setdefault(pricing.kind_of(signer_id, observed), []).append(signer_id)
    per_op: dict[tuple[str, str], float] = {}
    ops_by_kind: dict[str, float] = {}
    for op in operations:
        kind = pricing.kind_of(op.signer_id, op.provider_kind)
        kinds.setdefault(kind, [])
        per_op[(kind, op.operation)] = per_op.get((kind, op.operation), 0.0) + op.count
        ops_by_kind[kind] = ops_by_kind.get(kind, 0.0) + op.count
    providers = []
    total = 0.0
    for kind in sorted(kinds):
        price = pricing.price(kind)
        hsms = price.hsms if price.hsms is not None else len(kinds[kind])
        fixed = price.fixed_per_hour * hours * hsms
        count = ops_by_kind.get(kind, 0.0)
        variable = price.per_10k_ops_usd * count / 10_000
        subtotal = fixed + variable
        total += subtotal
        providers.append(
            {
                "provider_kind": kind,
                "description": price.description,
                "signers": kinds[kind],
                "hsms": hsms,
                "hourly_usd": price.hourly_usd,
                "monthly_usd": price.monthly_usd,
                "per_10k_ops_usd": price.per_10k_ops_usd,
                "operations": int(count),
                "fixed_usd": round(fixed, 6),
                "operations_usd": round(variable, 6),
                "total_usd": round(subtotal, 6),
                "usd_per_operation": round(subtotal / count, 8) if count else None,
            }
        )
    by_operation = []
    for (kind, operation), count in sorted(per_op.items()):
        price = pricing.price(kind)
        share = count / ops_by_kind[kind] if ops_by_kind.get(kind) else 0.0
        hsms = price.hsms if price.hsms is not None else len(kinds[kind])
        fixed_share = price.fixed_per_hour * hours * hsms * share
        usd = fixed_share + price.per_10k_ops_usd * count / 10_000
        by_operation.append(
            {
                "provider_kind": kind,
                "operation": operation,
                "count": int(count),
                "usd": round(usd, 6),
                "usd_per_operation": round(usd / count, 8) if count else None,
            }
        )
    return {
        "currency": "USD",
        "note": NOTE,
        "pricing_source": pricing.source,
        "started_at": int(started_at),
        "generated_at": int(time.time() if now is None else now),
        "uptime_seconds": round(max(0.0, uptime_seconds), 3),
        "total_usd": round(total, 6),
        "providers": providers,
        "operations": by_operation,
    }
