"""SoftHSM2-backed LocalSigners for the lifecycle suite.

Every token a test needs is created up front in ONE softhsm2.conf directory, before
the first provider opens (SoftHSM2 reads its token directory only in C_Initialize).
"""

from __future__ import annotations

from pathlib import Path

from nostr_passport.hsm.factory import open_provider
from nostr_passport.signer.local import LocalSigner

from ..signer.conftest import provider_configs


def softhsm_signers(base: Path, names: list[str]) -> list[LocalSigner]:
    configs = provider_configs("pkcs11", base / "hsm", len(names))  # all tokens first
    return [
        LocalSigner(name, open_provider(config), base / name, nonce_batch_size=16)
        for name, config in zip(names, configs, strict=True)
    ]
