"""Scheduled key hygiene in `serve`: share refresh and KEK rotation (`[rotation]`).

Every `check_every` seconds a background thread asks what is due and does it:
- identities whose current shares are older than `refresh_every` are refreshed (same
  npub, new shares; the old ones are deleted after the grace period);
- signers whose KEK was last rotated (by the audit log: the latest successful
  `signer.kek_rotate` record) longer than `kek_rotate_every` ago are rotated, one at a
  time (the old KEK is destroyed).

Due-ness is read from the store, not kept in memory, so a restart or a second gateway
picks up where the schedule was; two gateways doing the same refresh meet the identity's
lifecycle lock and the second one skips it. Failures are logged by error code and
message (never a secret) and retried at the next tick.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from nostr_passport.errors import PassportError
from nostr_passport.store.audit_log import audit_size
from nostr_passport.store.identities import IdentityRecord, list_identities
from nostr_passport.store.signers import list_signers
from nostr_passport.store.tables import audit_log

from .audit import OK
from .lifecycle.context import LifecycleContext
from .lifecycle.kek import KEK_ACTION, rotate_keks
from .lifecycle.refresh import refresh_due, refresh_identity
from .periodic import Periodic

log = logging.getLogger(__name__)
ACTOR = "schedule"
_PAGE = 500


@dataclass(frozen=True)
class TickReport:
    refreshed: tuple[str, ...] = ()
    rotated: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()  # "identity id" or "signer id": "error code"


def all_identities(ctx: LifecycleContext) -> list[IdentityRecord]:
    records: list[IdentityRecord] = []
    after = None
    while True:
        with ctx.store.read() as conn:
            page = list_identities(conn, None, limit=_PAGE, after=after)
        records.extend(page)
        if len(page) < _PAGE:
            return records
        after = page[-1].id


class KekRotationTimes:
    """Signer id -> unix time of its latest successful KEK rotation in the audit log.

    Read incrementally: each call reads only the records appended since the previous one
    (by index, the primary key), so a schedule ticking every minute does not scan the
    whole audit log, which grows with every signature.
    """

    def __init__(self) -> None:
        self._next = 0
        self._latest: dict[str, float] = {}

    def read(self, ctx: LifecycleContext) -> dict[str, float]:
        with ctx.store.read() as conn:
            size = audit_size(conn)
            rows = conn.execute(
                select(audit_log.c.time, audit_log.c.details).where(
                    audit_log.c.idx >= self._next,
                    audit_log.c.idx < size,
                    audit_log.c.action == KEK_ACTION,
                    audit_log.c.outcome == OK,
                )
            ).all()
        for moment, details in rows:
            signer_id = json.loads(details).get("signer_id")
            at = datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp()
            if isinstance(signer_id, str) and at > self._latest.get(signer_id, 0.0):
                self._latest[signer_id] = at
        self._next = size
        return dict(self._latest)


def last_kek_rotations(ctx: LifecycleContext) -> dict[str, float]:
    """The whole log read once (KekRotationTimes, for a one-off question)."""
    return KekRotationTimes().read(ctx)


def kek_rotation_due(
    ctx: LifecycleContext,
    every: float,
    now: float,
    rotated: dict[str, float] | None = None,
) -> list[str]:
    """Configured signers whose KEK is older than `every` seconds (registration counts
    as the first KEK), oldest first. `rotated`: last_kek_rotations, if already read."""
    if rotated is None:
        rotated = last_kek_rotations(ctx)
    with ctx.store.read() as conn:
        registered = {s.id: float(s.registered_at) for s in list_signers(conn)}
    due = []
    for sid in ctx.pool.ids:
        since = rotated.get(sid, registered.get(sid, now))
        if since + every <= now:
            due.append((since, sid))
    return [sid for _, sid in sorted(due)]


class LifecycleSchedule:
    """Refresh and KEK rotation on a timer, until stopped."""

    def __init__(
        self,
        ctx: LifecycleContext,
        *,
        refresh_every: float,
        kek_rotate_every: float,
        check_every: float = 60.0,
        clock: Callable[[], float] = time.time,
        grace_seconds: float | None = None,
    ) -> None:
        if refresh_every < 0 or kek_rotate_every < 0 or check_every <= 0:
            raise ValueError("schedule intervals must be positive (0 turns one off)")
        self._ctx = ctx
        self._refresh_every = refresh_every
        self._kek_every = kek_rotate_every
        self._clock = clock
        self._grace = grace_seconds  # None: the signing deadline (refresh.py)
        self._kek_times = KekRotationTimes()
        self._periodic = Periodic("key rotation", check_every, self.tick, log)

    @property
    def active(self) -> bool:
        return self._refresh_every > 0 or self._kek_every > 0

    def start(self) -> None:
        self._periodic.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._periodic.stop(timeout)

    def tick(self) -> TickReport:
        """Do what is due now (also what the thread runs)."""
        refreshed: list[str] = []
        rotated: list[str] = []
        failed: list[str] = []
        now = self._clock()
        if self._refresh_every > 0:
            for identity_id in refresh_due(all_identities(self._ctx), self._refresh_every, now):
                if self._periodic.stopping:
                    break
                if self._attempt(self._refresh, identity_id, failed):
                    refreshed.append(identity_id)
        if self._kek_every > 0:
            kek_times = self._kek_times.read(self._ctx)
            for sid in kek_rotation_due(self._ctx, self._kek_every, now, kek_times):
                if self._periodic.stopping:
                    break
                if self._attempt(self._rotate, sid, failed):
                    rotated.append(sid)
        return TickReport(tuple(refreshed), tuple(rotated), tuple(failed))

    def _refresh(self, identity_id: str) -> None:
        result = refresh_identity(
            self._ctx,
            identity_id,
            actor=ACTOR,
            request_id=f"scheduled-refresh-{identity_id}",
            grace_seconds=self._grace,
        )
        log.info("scheduled refresh of %s: epoch %d", identity_id, result.to_epoch)

    def _rotate(self, signer_id: str) -> None:
        rotate_keks(self._ctx, [signer_id], actor=ACTOR, request_id=f"scheduled-kek-{signer_id}")
        log.info("scheduled KEK rotation of signer %s", signer_id)

    @staticmethod
    def _attempt(action: Callable[[str], None], name: str, failed: list[str]) -> bool:
        try:
            action(name)
        except PassportError as exc:
            log.warning("scheduled lifecycle work on %s failed: %s: %s", name, exc.code, exc)
            failed.append(f"{name}: {exc.code}")
            return False
        return True
