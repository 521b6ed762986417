"""The audit trail of operations: one record per decision, fail closed.

When a record is written (the rule every operation follows):
- state changes (create, disable, enable, delete an identity; create, revoke a token)
  write their record in the SAME transaction as the change: both happen or neither;
- operations that use a key without changing state (sign, encrypt, decrypt) write an
  `allowed` record BEFORE any signer is contacted; if that write fails the request is
  refused with 503 audit_unavailable and no signer is asked for anything;
- key generation writes an `allowed` record before the signers deal, then the identity
  and an `ok` record in one transaction;
- when an allowed operation then fails, an `error` record follows (best effort: the
  operation has already failed, so its absence cannot hide a success);
- refusals of an authenticated caller (403) are recorded as `denied` (best effort).

Records hold ids, kinds, hashes (event ids are hashes) and error codes, never a token,
share, nonce, plaintext, ciphertext or event content.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from nostr_passport.errors import AuditUnavailableError, PassportError
from nostr_passport.store import Store, WriteConflictError
from nostr_passport.store.audit_log import AuditEntry, AuditRecord, append_audit

log = logging.getLogger(__name__)

ALLOWED = "allowed"
OK = "ok"
DENIED = "denied"
ERROR = "error"


def iso_time(seconds: float) -> str:
    """ISO-8601 UTC with milliseconds, e.g. 2026-05-09T07:35:25.123Z."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class AuditLog:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock

    def entry(
        self,
        *,
        actor: str,
        tenant_id: str | None,
        action: str,
        outcome: str,
        request_id: str,
        identity_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        return AuditEntry(
            time=iso_time(self._clock()),
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            identity_id=identity_id,
            outcome=outcome,
            request_id=request_id,
            details=details or {},
        )

    def append(self, conn: Connection, entry: AuditEntry) -> AuditRecord:
        """Append inside the caller's write transaction (the state-change path).

        A failure becomes AuditUnavailableError, which aborts the caller's transaction.
        """
        try:
            return append_audit(conn, entry)
        except WriteConflictError:
            raise  # Store.run_write re-runs the whole unit
        except SQLAlchemyError as exc:
            log.error("audit append failed: %s", type(exc).__name__)
            raise AuditUnavailableError("audit log unwritable: operation refused") from None

    def record(self, entry: AuditEntry) -> AuditRecord:
        """Write `entry` in its own transaction, or raise AuditUnavailableError (fail closed)."""
        try:
            return self.store.run_write(lambda conn: self.append(conn, entry))
        except AuditUnavailableError:
            raise
        except (PassportError, SQLAlchemyError) as exc:
            log.error("audit record failed: %s", type(exc).__name__)
            raise AuditUnavailableError("audit log unwritable: operation refused") from None

    def try_record(self, entry: AuditEntry) -> AuditRecord | None:
        """Best effort, for records whose absence cannot hide anything (see module doc)."""
        try:
            return self.record(entry)
        except AuditUnavailableError:
            log.error("audit record %s/%s could not be written", entry.action, entry.outcome)
            return None
