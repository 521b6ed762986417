"""A Passport over real in-process signers, with fault switches, for service tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nostr_passport.config import Settings
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.service.access import Principal
from nostr_passport.service.gateway import assemble
from nostr_passport.service.passport import Passport
from nostr_passport.service.tokens import issue_token
from nostr_passport.signer.local import LocalSigner
from nostr_passport.store import Store
from nostr_passport.store.tokens import Role, TokenScopes

from .faults import FaultySigner

SIGNER_IDS = ("signer-1", "signer-2", "signer-3")


def settings_for_tests(**signing: Any) -> Settings:
    values = {
        "deadline_seconds": 3.0,
        "signer_timeout_seconds": 1.0,
        "commitment_batch_size": 8,
        "signer_backoff_seconds": 60.0,
        **signing,
    }
    return Settings(signing=values, rate_limit={"enabled": False})  # type: ignore[arg-type]


def real_signer(signer_id: str, tmp_path: Path) -> LocalSigner:
    """The real in-process signer on the HSM simulator (SoftHSM2 runs in tests/e2e)."""
    provider = SimulatorProvider(signer_id, state_dir=tmp_path / signer_id / "hsm")
    return LocalSigner(signer_id, provider, tmp_path / signer_id, nonce_batch_size=16)


@dataclass
class Harness:
    store: Store
    passport: Passport
    signers: dict[str, FaultySigner]
    admin: Principal
    admin_token: str

    def token(
        self, role: Role, scopes: TokenScopes = TokenScopes(), tenant: str = "default"
    ) -> tuple[str, Principal]:
        issued = self.store.run_write(
            lambda conn: issue_token(
                conn,
                self.passport.audit,
                actor="test",
                tenant_id=tenant,
                name=f"{role} token",
                role=role,
                scopes=scopes,
                expires_at=None,
                request_id="test",
                now=self.passport.now(),
            )
        )
        return issued.token, self.passport.authenticate(f"Bearer {issued.token}")

    def close(self) -> None:
        self.passport.pool.close()  # closes the signers (and their providers) too


def build_harness(store: Store, tmp_path: Path, settings: Settings | None = None) -> Harness:
    signers = {sid: FaultySigner(real_signer(sid, tmp_path)) for sid in SIGNER_IDS}
    passport = assemble(store, signers, settings or settings_for_tests())
    passport.register_signers()
    h = Harness(store, passport, signers, admin=None, admin_token="")  # type: ignore[arg-type]
    h.admin_token, h.admin = h.token("admin")
    return h
