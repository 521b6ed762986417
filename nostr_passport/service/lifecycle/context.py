"""What every lifecycle operation needs from the gateway: the same objects Passport uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nostr_passport.errors import NotFoundError
from nostr_passport.service.audit import AuditLog
from nostr_passport.service.coordinator import SigningCoordinator
from nostr_passport.service.signer_pool import SignerPool
from nostr_passport.store import Store
from nostr_passport.store.identities import IdentityRecord, identity_by_id


@dataclass(frozen=True)
class LifecycleContext:
    store: Store
    pool: SignerPool
    coordinator: SigningCoordinator
    audit: AuditLog
    timeout: float = 5.0  # per signer call; refresh calls do more HSM work than a psig

    @classmethod
    def of(cls, passport: Any, timeout: float | None = None) -> LifecycleContext:
        """The context of a running `Passport` (duck-typed to avoid an import cycle)."""
        return cls(
            store=passport.store,
            pool=passport.pool,
            coordinator=passport.coordinator,
            audit=passport.audit,
            timeout=timeout if timeout is not None else max(5.0, passport.signer_timeout),
        )

    def identity(self, identity_id: str) -> IdentityRecord:
        with self.store.read() as conn:
            record = identity_by_id(conn, identity_id)
        if record is None:
            raise NotFoundError(f"identity {identity_id} not found")
        return record
