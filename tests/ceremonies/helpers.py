"""Test helpers: a clock the test moves, audit records by action."""

from __future__ import annotations

from dataclasses import dataclass

from nostr_passport.service.access import Principal
from nostr_passport.store import Store
from nostr_passport.store.audit_log import AuditRecord, audit_records

START = 1_800_000_000


@dataclass
class FakeClock:
    now: float = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def records(store: Store, action_prefix: str = "ceremony.") -> list[AuditRecord]:
    with store.read() as conn:
        return [r for r in audit_records(conn) if r.action.startswith(action_prefix)]


def steps(store: Store, ceremony_id: str) -> list[tuple[str, str]]:
    """(action, outcome) of every audit record about `ceremony_id`, in log order."""
    return [
        (r.action, r.outcome) for r in records(store) if r.details.get("ceremony_id") == ceremony_id
    ]


def actor_ids(*principals: Principal) -> set[str]:
    return {p.actor for p in principals}
