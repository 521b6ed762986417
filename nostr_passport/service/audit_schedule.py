"""Audit checkpoints on the server's schedule: a background thread in `serve`.

Every `audit.checkpoint_every` seconds the thread signs the log as it is (nothing is
signed when no record was added since the latest checkpoint). A failure is logged by
its error code and message (which never hold a secret) and retried at the next tick;
an `audit_integrity` failure is logged as an error: the store contradicts its history.
"""

from __future__ import annotations

import logging

from nostr_passport.errors import PassportError
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.store import Store

from .audit_checkpoints import create_checkpoint
from .periodic import Periodic

log = logging.getLogger(__name__)


class CheckpointSchedule:
    """Sign a checkpoint every `every` seconds until stopped."""

    def __init__(self, store: Store, provider: HsmProvider, every: float, log_id: str) -> None:
        self._store = store
        self._provider = provider
        self._log_id = log_id
        self._periodic = Periodic("audit checkpoints", every, self.tick, log)

    def start(self) -> None:
        self._periodic.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._periodic.stop(timeout)

    def tick(self) -> None:
        """One scheduled checkpoint (also what the thread runs)."""
        try:
            checkpoint = create_checkpoint(self._store, self._provider, log_id=self._log_id)
        except PassportError as exc:
            level = logging.ERROR if exc.code == "audit_integrity" else logging.WARNING
            log.log(level, "scheduled audit checkpoint failed: %s: %s", exc.code, exc)
            return
        log.info("audit checkpoint at tree size %d", checkpoint.tree_size)
