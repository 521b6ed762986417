"""Execution: once under concurrency, retry after a failed executor, material checked
against the approved hash; with executors registered by "other modules" (a test registry)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

import pytest

from nostr_passport.errors import BadRequestError, SignersUnavailableError
from nostr_passport.service.ceremonies import Ceremonies
from nostr_passport.service.ceremony_errors import CeremonyClosedError, ParamsMismatchError
from nostr_passport.service.ceremony_registry import (
    CeremonyRegistry,
    Execution,
    ExecutionResult,
    register_executor,
)

from ..service.harness import Harness
from .helpers import FakeClock, records, steps


def _registry(fn: Callable[[Execution], ExecutionResult], **options: object) -> CeremonyRegistry:
    registry = CeremonyRegistry()
    register_executor("test_operation", fn, registry=registry, **options)  # type: ignore[arg-type]
    return registry


def test_concurrent_executes_run_the_operation_once(harness: Harness, clock: FakeClock) -> None:
    h = harness
    calls: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def slow(execution: Execution) -> ExecutionResult:
        calls.append(execution.ceremony_id)
        inside.set()
        release.wait(10)
        return ExecutionResult(public={"ran": True})

    ceremonies = Ceremonies(h.passport, registry=_registry(slow), clock=clock)
    _, other = h.token("admin")
    view = ceremonies.propose(h.admin, "test_operation", {"what": "x"})
    ceremonies.approve(other, view.id)
    errors: list[Exception] = []

    def execute() -> None:
        try:
            ceremonies.execute(h.admin, view.id)
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    first = threading.Thread(target=execute)
    first.start()
    assert inside.wait(10)
    with pytest.raises(CeremonyClosedError, match="being executed"):
        ceremonies.execute(other, view.id)
    release.set()
    first.join(10)
    assert errors == []
    with pytest.raises(CeremonyClosedError, match="already executed"):
        ceremonies.execute(other, view.id)
    assert calls == [view.id]
    assert ceremonies.ceremony(h.admin, view.id).result == {"ran": True}
    assert [s for s in steps(h.store, view.id) if s[0] == "ceremony.execute"] == [
        ("ceremony.execute", "allowed"),
        ("ceremony.execute", "ok"),
    ]


def test_a_failed_execution_returns_to_approved_and_can_be_retried(
    harness: Harness, clock: FakeClock
) -> None:
    h = harness
    attempts: list[int] = []

    def flaky(execution: Execution) -> ExecutionResult:
        attempts.append(1)
        if len(attempts) == 1:
            raise SignersUnavailableError("signer-2 did not answer")
        return ExecutionResult(public={"attempt": len(attempts)})

    ceremonies = Ceremonies(h.passport, registry=_registry(flaky), clock=clock)
    _, other = h.token("admin")
    view = ceremonies.propose(h.admin, "test_operation", {})
    ceremonies.approve(other, view.id)
    with pytest.raises(SignersUnavailableError):
        ceremonies.execute(h.admin, view.id)
    assert ceremonies.ceremony(h.admin, view.id).status == "approved"
    assert ceremonies.execute(h.admin, view.id).result.public == {"attempt": 2}
    failed = [r for r in records(h.store) if r.outcome == "error"]
    assert failed[0].details["error"] == "signers_unavailable"
    assert steps(h.store, view.id) == [
        ("ceremony.propose", "ok"),
        ("ceremony.approve", "ok"),
        ("ceremony.execute", "allowed"),
        ("ceremony.execute", "error"),
        ("ceremony.execute", "allowed"),
        ("ceremony.execute", "ok"),
    ]


def test_material_is_presented_at_execute_time_and_checked_against_the_hash(
    harness: Harness, clock: FakeClock
) -> None:
    """An import ceremony carries only a hash; the nsec itself never enters the store."""
    h = harness
    material = "nsec1" + "q" * 58
    seen: list[bytes | None] = []

    def importer(execution: Execution) -> ExecutionResult:
        seen.append(execution.material)
        return ExecutionResult(public={"imported": True})

    ceremonies = Ceremonies(
        h.passport, registry=_registry(importer, needs_material=True), clock=clock
    )
    digest = hashlib.sha256(material.encode()).hexdigest()
    with pytest.raises(BadRequestError, match="material_sha256"):
        ceremonies.propose(h.admin, "test_operation", {})
    view = ceremonies.propose(h.admin, "test_operation", {"material_sha256": digest})
    assert view.status == "approved"  # the only admin of its tenant: bootstrap rule
    with pytest.raises(BadRequestError, match="needs the material"):
        ceremonies.execute(h.admin, view.id)
    with pytest.raises(ParamsMismatchError):
        ceremonies.execute(h.admin, view.id, material=b"nsec1 something else")
    assert seen == []
    outcome = ceremonies.execute(h.admin, view.id, material=material.encode())
    assert seen == [material.encode()]
    assert outcome.ceremony.status == "executed"
    from ..store.databases import dump_tables

    assert material not in repr(dump_tables(h.store)) + repr(records(h.store, ""))


def test_operations_without_material_refuse_it(harness: Harness, clock: FakeClock) -> None:
    h = harness
    ceremonies = Ceremonies(
        h.passport, registry=_registry(lambda e: ExecutionResult()), clock=clock
    )
    view = ceremonies.propose(h.admin, "test_operation", {})
    with pytest.raises(BadRequestError, match="takes no material"):
        ceremonies.execute(h.admin, view.id, material=b"x")


def test_registering_checks_the_operation_name() -> None:
    with pytest.raises(ValueError, match="operation name"):
        register_executor("Bad Name", lambda e: ExecutionResult(), registry=CeremonyRegistry())


def test_concurrent_approvals_count_each_token_once(harness: Harness, clock: FakeClock) -> None:
    h = harness
    ceremonies = Ceremonies(
        h.passport, registry=_registry(lambda e: ExecutionResult()), clock=clock
    )
    _, second = h.token("admin")
    _, third = h.token("admin")
    view = ceremonies.propose(h.admin, "test_operation", {})
    errors: list[Exception] = []
    start = threading.Barrier(8)

    def approve(principal: object) -> None:
        start.wait(10)
        try:
            ceremonies.approve(principal, view.id)  # type: ignore[arg-type]
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(p,)) for p in [second, third] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    shown = ceremonies.ceremony(h.admin, view.id)
    assert sorted(a.approver for a in shown.approvals) == sorted(
        [h.admin.actor, second.actor, third.actor]
    )
    assert (shown.status, shown.approval_count) == ("approved", 3)
    counted = [r.details["counted"] for r in records(h.store) if r.action == "ceremony.approve"]
    assert sorted(counted) == [False] * 6 + [True] * 2
