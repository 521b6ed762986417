"""Provider configuration and the one place that turns it into a provider.

A `[[signers.provider]]`-style TOML table maps onto `ProviderConfig.from_mapping`:

    kind = "pkcs11"
    name = "hsm-a"
    profile = "softhsm2"
    token_label = "signer-a"
    user_pin_env = "NP_HSM_A_PIN"      # or user_pin = "..." (kept out of repr/logs)
    softhsm2_conf = "/var/lib/np/softhsm2.conf"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from nostr_passport.errors import ConfigError
from nostr_passport.hsm.pkcs11 import Pkcs11Provider
from nostr_passport.hsm.profiles import profile_named
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.hsm.simulator import SimulatorProvider

# Config keys that name an environment variable a profile's module reads.
_MODULE_ENV_KEYS = {"softhsm2_conf": "SOFTHSM2_CONF", "kms_pkcs11_config": "KMS_PKCS11_CONFIG"}


@dataclass(frozen=True)
class ProviderConfig:
    kind: Literal["simulator", "pkcs11"]
    name: str
    production: bool = False
    key_label_prefix: str = "np"
    # simulator
    state_dir: str | None = None  # None: keys in memory only
    # pkcs11
    profile: str = "softhsm2"
    module_path: str | None = None  # None: the profile's default path
    token_label: str | None = None
    slot: int | None = None
    user_pin: str | None = field(default=None, repr=False)
    user_pin_env: str | None = None  # name of an environment variable holding the PIN
    softhsm2_conf: str | None = None
    kms_pkcs11_config: str | None = None
    gcm_iv_from_hsm: bool | None = None  # None: the profile decides

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ProviderConfig:
        """From a parsed TOML table; unknown keys are an error, not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown provider config keys: {', '.join(unknown)}")
        if data.get("kind") not in ("simulator", "pkcs11"):
            raise ConfigError('provider kind must be "simulator" or "pkcs11"')
        if not isinstance(data.get("name"), str) or not data["name"]:
            raise ConfigError("provider name is required")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"invalid provider config: {exc}") from None

    def resolved_pin(self) -> str:
        if self.user_pin is not None:
            return self.user_pin
        if self.user_pin_env:
            pin = os.environ.get(self.user_pin_env)
            if pin is None:
                raise ConfigError(
                    f"provider {self.name!r}: environment variable {self.user_pin_env} "
                    "(user PIN) is not set"
                )
            return pin
        raise ConfigError(f"provider {self.name!r}: set user_pin or user_pin_env")


def open_provider(config: ProviderConfig) -> HsmProvider:
    """A ready provider: module loaded, logged in, keys present (created if allowed)."""
    if config.kind == "simulator":
        return SimulatorProvider(
            config.name,
            state_dir=Path(config.state_dir) if config.state_dir else None,
            production=config.production,
            key_label_prefix=config.key_label_prefix,
        )
    if config.kind != "pkcs11":
        raise ConfigError(f"unknown provider kind {config.kind!r}")
    profile = profile_named(config.profile)
    module_path = config.module_path or profile.default_module_path
    if not module_path:
        raise ConfigError(f"provider {config.name!r}: module_path is required")
    env: dict[str, str] = {}
    for key, variable in _MODULE_ENV_KEYS.items():
        value = getattr(config, key)
        if value is not None:
            if variable not in profile.module_env:
                raise ConfigError(f"{key} does not apply to profile {profile.name!r}")
            env[variable] = value
    provider = Pkcs11Provider(
        config.name,
        module_path=module_path,
        profile=profile,
        user_pin=config.resolved_pin(),
        token_label=config.token_label,
        slot=config.slot,
        key_label_prefix=config.key_label_prefix,
        module_env=env,
        gcm_iv_from_hsm=config.gcm_iv_from_hsm,
    )
    try:
        provider.info  # noqa: B018 - connects and logs in now, so bad config fails at startup
        if profile.creates_keys:
            provider.ensure_keys()
    except BaseException:
        provider.close()
        raise
    return provider
