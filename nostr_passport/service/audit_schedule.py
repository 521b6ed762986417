"""Audit checkpoints on the server's schedule: a background thread in `serve`.

Every `audit.checkpoint_every` seconds the thread signs the log as it is (nothing is
signed when no record was added since the latest checkpoint). A failure is logged by
its error code and message (which never hold a secret) and retried at the next tick;
an `audit_integrity` failure is logged as an error: the store contradicts its history.
"""

from __future__ import annotations

import logging
import threading

from nostr_passport.errors import PassportError
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.store import Store

from .audit_checkpoints import create_checkpoint

log = logging.getLogger(__name__)


class CheckpointSchedule:
    """Sign a checkpoint every `every` seconds until stopped."""

    def __init__(self, store: Store, provider: HsmProvider, every: float, log_id: str) -> None:
        if every <= 0:
            raise ValueError("checkpoint interval must be positive")
        self._store = store
        self._provider = provider
        self._every = every
        self._log_id = log_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def tick(self) -> None:
        """One scheduled checkpoint (also what the thread runs)."""
        try:
            checkpoint = create_checkpoint(self._store, self._provider, log_id=self._log_id)
        except PassportError as exc:
            level = logging.ERROR if exc.code == "audit_integrity" else logging.WARNING
            log.log(level, "scheduled audit checkpoint failed: %s: %s", exc.code, exc)
            return
        log.info("audit checkpoint at tree size %d", checkpoint.tree_size)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.tick()
            except Exception:  # keep the schedule alive; details go to the log
                log.exception("scheduled audit checkpoint crashed")
