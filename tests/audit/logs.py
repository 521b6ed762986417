"""Building audit logs with checkpoints, and tampering with them directly in SQL."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text

from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.service.audit import AuditLog
from nostr_passport.service.audit_checkpoints import create_checkpoint
from nostr_passport.store import Store
from nostr_passport.store.audit_log import AuditEntry, record_leaf_hash
from nostr_passport.store.canonical import canonical_json
from nostr_passport.store.checkpoints import Checkpoint

START = 1_770_000_000.0
LOG_ID = "nostr-passport:test"


class FakeClock:
    """Advances 1.25 s per reading: distinct, ordered times with millisecond digits."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> float:
        return START + 1.25 * next(self._ticks)


def entry_for(log: AuditLog, i: int) -> AuditEntry:
    """A varied record: tenants and identities present or not, unicode, nested details."""
    actions = ("identity.create", "sign_event", "nip44_decrypt", "token.create", "identity.disable")
    return log.entry(
        actor=f"tok_{i % 3:02d}" if i % 5 else "admin ünïcode ✓",
        tenant_id=None if i % 7 == 3 else f"tenant-{i % 2}",
        action=actions[i % len(actions)],
        outcome=("allowed", "ok", "denied", "error")[i % 4],
        request_id=f"req_{i:04d}",
        identity_id=None if i % 4 == 1 else f"id_{i % 6:04x}",
        details={"n": i, "kinds": [1, 7, i], "note": "“quoted” \\ / \n", "nested": {"z": None}},
    )


def build_log(
    store: Store,
    provider: HsmProvider,
    size: int = 40,
    checkpoint_sizes: Sequence[int] = (10, 25, 40),
    *,
    clock: Callable[[], float] | None = None,
) -> list[Checkpoint]:
    clock = clock or FakeClock()
    log = AuditLog(store, clock=clock)
    checkpoints = []
    for i in range(size):
        log.record(entry_for(log, i))
        if i + 1 in checkpoint_sizes:
            checkpoints.append(create_checkpoint(store, provider, log_id=LOG_ID, clock=clock))
    return checkpoints


# ---------------------------------------------------------------- tampering, in plain SQL


def sql(store: Store, statement: str, **params: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def row(store: Store, index: int) -> dict[str, Any]:
    with store.engine.connect() as conn:
        found = conn.execute(text("SELECT * FROM audit_log WHERE idx = :i"), {"i": index})
        return dict(found.mappings().one())


def correct_leaf(values: dict[str, Any], index: int) -> str:
    """The leaf hash an attacker who knows the format would write for `values` at `index`."""
    entry = AuditEntry(
        time=values["time"],
        tenant_id=values["tenant_id"],
        actor=values["actor"],
        action=values["action"],
        identity_id=values["identity_id"],
        outcome=values["outcome"],
        request_id=values["request_id"],
        details=json.loads(values["details"]),
    )
    return record_leaf_hash(index, entry).hex()


CONTENT_COLUMNS = (
    "time",
    "tenant_id",
    "actor",
    "action",
    "identity_id",
    "outcome",
    "request_id",
    "details",
    "leaf_hash",
)


def write_row(store: Store, index: int, values: dict[str, Any]) -> None:
    assignments = ", ".join(f"{c} = :{c}" for c in CONTENT_COLUMNS)
    sql(
        store,
        f"UPDATE audit_log SET {assignments} WHERE idx = :idx",
        idx=index,
        **{c: values[c] for c in CONTENT_COLUMNS},
    )


def shift_up(store: Store, first: int) -> None:
    """Move records first.. one index up (in two steps: PostgreSQL checks the key per row)."""
    sql(store, "UPDATE audit_log SET idx = idx + 1000000 WHERE idx >= :f", f=first)
    sql(store, "UPDATE audit_log SET idx = idx - 999999 WHERE idx >= 1000000")


def insert_row(store: Store, index: int, values: dict[str, Any]) -> None:
    columns = ("idx", *CONTENT_COLUMNS)
    sql(
        store,
        f"INSERT INTO audit_log ({', '.join(columns)}) "
        f"VALUES ({', '.join(':' + c for c in columns)})",
        idx=index,
        **{c: values[c] for c in CONTENT_COLUMNS},
    )


def forged_row(index: int) -> dict[str, Any]:
    details = canonical_json({"forged": True})
    values = {
        "time": "2026-02-02T02:02:02.000Z",
        "tenant_id": "tenant-0",
        "actor": "mallory",
        "action": "identity.delete",
        "identity_id": "id_0001",
        "outcome": "ok",
        "request_id": "req_forged",
        "details": details,
        "leaf_hash": "",
    }
    values["leaf_hash"] = correct_leaf(values, index)
    return values
