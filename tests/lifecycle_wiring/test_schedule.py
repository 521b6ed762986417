"""Scheduled share refresh and KEK rotation (`[rotation]`), one tick at a time."""

from __future__ import annotations

import time

from nostr_passport.service.lifecycle.context import LifecycleContext
from nostr_passport.service.lifecycle_schedule import (
    LifecycleSchedule,
    kek_rotation_due,
    last_kek_rotations,
)
from nostr_passport.store.audit_log import audit_records

from ..service.harness import Harness

DAY = 86_400.0


def schedule(h: Harness, at: float, **every: float) -> LifecycleSchedule:
    return LifecycleSchedule(
        LifecycleContext.of(h.passport),
        refresh_every=every.get("refresh", 0.0),
        kek_rotate_every=every.get("kek", 0.0),
        clock=lambda: at,
        grace_seconds=0,
    )


def test_due_identities_are_refreshed_and_due_keks_rotated(harness: Harness) -> None:
    h = harness
    first = h.passport.create_identity(h.admin, threshold=2, participants=3)
    second = h.passport.create_identity(h.admin, threshold=2, participants=3, keygen="dealer")
    h.passport.set_status(h.admin, second.id, "disabled")  # disabled identities wait
    now = time.time()

    assert schedule(h, now, refresh=DAY, kek=DAY).tick().refreshed == ()
    report = schedule(h, now + DAY + 1, refresh=DAY, kek=DAY).tick()
    assert report.refreshed == (first.id,) and report.failed == ()
    assert sorted(report.rotated) == sorted(h.passport.pool.ids)
    after = h.passport.identity(h.admin, first.id)
    assert (after.epoch, after.npub) == (1, first.npub)
    assert h.passport.sign_events(h.admin, first.id, [{"kind": 1}])
    assert h.passport.identity(h.admin, second.id).epoch == 0

    # Done is read back from the store: nothing is due a moment later.
    again = schedule(h, time.time() + 60, refresh=DAY, kek=DAY).tick()
    assert (again.refreshed, again.rotated) == ((), ())
    with h.store.read() as conn:
        actors = {
            r.actor
            for r in audit_records(conn)
            if r.action.startswith(("identity.refresh", "signer.kek"))
        }
    assert actors == {"schedule"}


def test_a_failure_is_reported_and_the_rest_still_runs(harness: Harness) -> None:
    h = harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=3)
    h.signers["signer-2"].down = True
    report = schedule(h, time.time() + 2 * DAY, refresh=DAY, kek=DAY).tick()
    assert report.refreshed == ()
    failed = dict(entry.split(": ") for entry in report.failed)
    assert set(failed) == {identity.id, "signer-2"}
    assert sorted(report.rotated) == ["signer-1", "signer-3"]
    h.signers["signer-2"].down = False
    assert h.passport.identity(h.admin, identity.id).epoch == 0
    assert h.passport.sign_events(h.admin, identity.id, [{"kind": 1}])
    ctx = LifecycleContext.of(h.passport)
    assert sorted(last_kek_rotations(ctx)) == ["signer-1", "signer-3"]  # signer-2 stays due
    assert kek_rotation_due(ctx, DAY, time.time() + 2 * DAY)[0] == "signer-2"  # oldest first


def test_zero_turns_a_schedule_off(harness: Harness) -> None:
    h = harness
    h.passport.create_identity(h.admin, threshold=2, participants=3)
    off = schedule(h, time.time() + 10 * DAY)
    assert not off.active and off.tick().refreshed == () and off.tick().rotated == ()


def test_kek_rotation_times_are_read_incrementally(harness: Harness) -> None:
    from nostr_passport.service.lifecycle.kek import rotate_keks
    from nostr_passport.service.lifecycle_schedule import KekRotationTimes

    ctx = LifecycleContext.of(harness.passport)
    times = KekRotationTimes()
    assert times.read(ctx) == {}
    rotate_keks(ctx, ["signer-1"])
    first = times.read(ctx)
    assert list(first) == ["signer-1"]
    rotate_keks(ctx, ["signer-3"])
    second = times.read(ctx)  # only the records appended since: signer-1 is remembered
    assert sorted(second) == ["signer-1", "signer-3"] and second["signer-1"] == first["signer-1"]
    assert second == last_kek_rotations(ctx)  # the same as reading the whole log
