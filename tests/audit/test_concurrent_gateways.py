"""Four gateway processes append 2,000 audit records to one PostgreSQL at once.

Each process opens its own Store (its own engine and connections), exactly as separate
gateways do; the log must come out as one total order with no gap and no duplicate index,
and verify (leaves, tree, a signed checkpoint over all of it).
"""

from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import func, select

from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.service.audit import AuditLog
from nostr_passport.service.audit_checkpoints import create_checkpoint
from nostr_passport.service.audit_verify import verify_log
from nostr_passport.store import Store
from nostr_passport.store.tables import audit_log
from tests.store.databases import postgres_database

GATEWAYS = 4
RECORDS_EACH = 500


def append_records(url: str, gateway: int, count: int) -> None:
    store = Store.open(url, migrate=False)
    audit = AuditLog(store)
    try:
        for i in range(count):
            audit.record(
                audit.entry(
                    actor=f"gateway-{gateway}",
                    tenant_id="default",
                    action="test.append",
                    outcome="ok",
                    request_id=f"g{gateway}-{i}",
                    details={"n": i},
                )
            )
    finally:
        store.close()


def test_four_gateways_append_2000_records_in_one_gap_free_order() -> None:
    with postgres_database() as url:
        Store.open(url).close()  # migrate once, as the first gateway would
        ctx = mp.get_context("spawn")
        procs = [
            ctx.Process(target=append_records, args=(url, g, RECORDS_EACH)) for g in range(GATEWAYS)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=300)
        assert [p.exitcode for p in procs] == [0] * GATEWAYS

        store = Store.open(url, migrate=False)
        try:
            with store.read() as conn:
                indices = [
                    row[0]
                    for row in conn.execute(select(audit_log.c.idx).order_by(audit_log.c.idx))
                ]
                per_gateway = dict(
                    conn.execute(
                        select(audit_log.c.actor, func.count()).group_by(audit_log.c.actor)
                    ).all()
                )
            total = GATEWAYS * RECORDS_EACH
            assert indices == list(range(total))  # no gap, no duplicate
            assert per_gateway == {f"gateway-{g}": RECORDS_EACH for g in range(GATEWAYS)}

            provider = SimulatorProvider("audit")
            checkpoint = create_checkpoint(store, provider)
            assert checkpoint.tree_size == total
            report = verify_log(store)
            assert report.ok, report.summary()
            assert report.records == total and report.verified_size == total
        finally:
            store.close()
