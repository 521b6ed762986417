"""The HSM adapter layer (DESIGN.md section 3): one protocol, a simulator, a PKCS#11 provider.

Callers (the signer) need only these names; see docs/providers.md for configuration.
"""

from nostr_passport.hsm.factory import ProviderConfig, open_provider
from nostr_passport.hsm.provider import (
    HealthStatus,
    HsmProvider,
    ProviderInfo,
    WrappedBlob,
    verify_attestation_signature,
)

__all__ = [
    "HealthStatus",
    "HsmProvider",
    "ProviderConfig",
    "ProviderInfo",
    "WrappedBlob",
    "open_provider",
    "verify_attestation_signature",
]
