"""Ceremonies end to end on the service: quorum, distinct approvers, tenants, roles, expiry,
rejection, execute-once, the audit trail; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from nostr_passport.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
)
from nostr_passport.service.access import Principal
from nostr_passport.service.ceremonies import Ceremonies, CeremonyPolicy
from nostr_passport.service.ceremony_errors import (
    CeremonyClosedError,
    CeremonyExpiredError,
    CeremonyRequiredError,
    ParamsMismatchError,
    QuorumNotReachedError,
    SecretInParamsError,
)
from nostr_passport.store.identities import identity_by_id
from nostr_passport.store.tokens import TokenScopes

from ..service.harness import Harness
from ..store.databases import dump_tables
from .helpers import FakeClock, records, steps


def _identity(h: Harness) -> str:
    return h.passport.create_identity(h.admin, threshold=2, participants=3).id


def _exists(h: Harness, identity_id: str) -> bool:
    with h.store.read() as conn:
        return identity_by_id(conn, identity_id) is not None


def _second_admin(h: Harness, tenant: str = "default") -> tuple[str, Principal]:
    return h.token("admin", tenant=tenant)


def test_fewer_than_m_approvals_does_not_run(harness: Harness, ceremonies: Ceremonies) -> None:
    h = harness
    _second_admin(h)
    identity_id = _identity(h)
    view = ceremonies.propose(h.admin, "delete_identity", {"identity_id": identity_id})
    assert (view.status, view.required, view.approval_count) == ("pending", 2, 1)
    with pytest.raises(QuorumNotReachedError, match="1 of 2 required approvals"):
        ceremonies.execute(h.admin, view.id)
    assert _exists(h, identity_id)
    assert ceremonies.ceremony(h.admin, view.id).status == "pending"
    assert steps(h.store, view.id) == [
        ("ceremony.propose", "ok"),
        ("ceremony.execute", "denied"),
    ]


def test_quorum_runs_once_and_every_step_is_audited(
    harness: Harness, ceremonies: Ceremonies
) -> None:
    h = harness
    _, other = _second_admin(h)
    identity_id = _identity(h)
    view = ceremonies.propose(h.admin, "delete_identity", {"identity_id": identity_id})
    approved = ceremonies.approve(other, view.id, expected_params_hash=view.params_hash)
    assert (approved.status, approved.approval_count) == ("approved", 2)
    outcome = ceremonies.execute(other, view.id)
    assert outcome.result.public == {"id": identity_id, "deleted": True, "shares_remaining_at": []}
    assert outcome.ceremony.status == "executed"
    assert outcome.ceremony.result == outcome.result.public
    assert not _exists(h, identity_id)
    with pytest.raises(CeremonyClosedError, match="already executed"):
        ceremonies.execute(h.admin, view.id)
    with pytest.raises(CeremonyClosedError):
        ceremonies.approve(h.admin, view.id)
    deletes = [r for r in records(h.store, "identity.delete") if r.outcome == "ok"]
    assert len(deletes) == 1 and deletes[0].actor == other.actor
    assert steps(h.store, view.id) == [
        ("ceremony.propose", "ok"),
        ("ceremony.approve", "ok"),
        ("ceremony.execute", "allowed"),
        ("ceremony.execute", "ok"),
    ]
    # The executor's own records carry the execute request id: the two trails link up.
    execute_ok = [r for r in records(h.store) if r.action == "ceremony.execute"][-1]
    assert deletes[0].request_id == execute_ok.request_id
    assert deletes[0].identity_id == identity_id == execute_ok.identity_id


def test_the_same_admin_approving_twice_counts_once(
    harness: Harness, ceremonies: Ceremonies
) -> None:
    h = harness
    _second_admin(h)
    identity_id = _identity(h)
    view = ceremonies.propose(h.admin, "delete_identity", {"identity_id": identity_id})
    again = ceremonies.approve(h.admin, view.id)
    again = ceremonies.approve(h.admin, view.id)
    assert (again.status, again.approval_count, len(again.approvals)) == ("pending", 1, 1)
    with pytest.raises(QuorumNotReachedError):
        ceremonies.execute(h.admin, view.id)
    counted = [r.details["counted"] for r in records(h.store) if r.action == "ceremony.approve"]
    assert counted == [False, False]
    assert _exists(h, identity_id)


@pytest.mark.parametrize("role", ["operator", "auditor", "app"])
def test_a_non_admin_cannot_propose_approve_reject_or_execute(
    harness: Harness, ceremonies: Ceremonies, role: str
) -> None:
    h = harness
    _second_admin(h)
    view = ceremonies.propose(h.admin, "create_admin_token", {"token_name": "second"})
    _, caller = h.token(role)  # type: ignore[arg-type]
    with pytest.raises(PermissionDeniedError, match=f"role {role}"):
        ceremonies.approve(caller, view.id)
    with pytest.raises(PermissionDeniedError):
        ceremonies.propose(caller, "create_admin_token", {"token_name": "x"})
    with pytest.raises(PermissionDeniedError):
        ceremonies.reject(caller, view.id)
    with pytest.raises(PermissionDeniedError):
        ceremonies.execute(caller, view.id)
    assert ceremonies.ceremony(h.admin, view.id).approval_count == 1
    denied = [r for r in records(h.store) if r.outcome == "denied"]
    assert {r.action for r in denied} == {
        "ceremony.approve",
        "ceremony.propose",
        "ceremony.reject",
        "ceremony.execute",
    }
    assert all(r.actor == caller.actor for r in denied)
    if role == "auditor":  # read-only access to ceremonies
        assert [v.id for v in ceremonies.visible(caller)] == [view.id]
    else:
        with pytest.raises(PermissionDeniedError):
            ceremonies.visible(caller)


def test_a_method_scoped_admin_cannot_approve(harness: Harness, ceremonies: Ceremonies) -> None:
    h = harness
    _second_admin(h)
    view = ceremonies.propose(h.admin, "create_admin_token", {"token_name": "second"})
    _, scoped = h.token("admin", TokenScopes(methods=("token.create",)))
    with pytest.raises(PermissionDeniedError, match="method-scoped"):
        ceremonies.approve(scoped, view.id)


def test_an_admin_of_another_tenant_can_neither_see_nor_approve(
    harness: Harness, ceremonies: Ceremonies
) -> None:
    h = harness
    _second_admin(h)
    identity_id = _identity(h)
    view = ceremonies.propose(h.admin, "delete_identity", {"identity_id": identity_id})
    _, foreign = h.token("admin", tenant="acme")
    with pytest.raises(NotFoundError):
        ceremonies.approve(foreign, view.id)
    with pytest.raises(NotFoundError):
        ceremonies.execute(foreign, view.id)
    with pytest.raises(NotFoundError):
        ceremonies.reject(foreign, view.id)
    with pytest.raises(NotFoundError):
        ceremonies.ceremony(foreign, view.id)
    assert ceremonies.visible(foreign) == []
    # Nor can they propose to delete it: the identity is not theirs.
    with pytest.raises(NotFoundError):
        ceremonies.propose(foreign, "delete_identity", {"identity_id": identity_id})
    assert ceremonies.ceremony(h.admin, view.id).approval_count == 1


def test_an_expired_ceremony_cannot_be_approved_or_executed(
    harness: Harness, ceremonies: Ceremonies, clock: FakeClock
) -> None:
    h = harness
    _, other = _second_admin(h)
    identity_id = _identity(h)
    view = ceremonies.propose(
        h.admin, "delete_identity", {"identity_id": identity_id}, ttl_seconds=600
    )
    assert view.expires_at == view.created_at + 600
    clock.advance(599)
    assert ceremonies.ceremony(h.admin, view.id).status == "pending"
    clock.advance(1)
    assert ceremonies.ceremony(h.admin, view.id).status == "expired"
    with pytest.raises(CeremonyExpiredError, match="expired"):
        ceremonies.approve(other, view.id)
    with pytest.raises(CeremonyExpiredError):
        ceremonies.execute(h.admin, view.id)
    with pytest.raises(CeremonyExpiredError):
        ceremonies.reject(other, view.id)
    assert _exists(h, identity_id)
    assert steps(h.store, view.id) == [("ceremony.propose", "ok"), ("ceremony.expire", "ok")]


def test_an_approved_ceremony_expires_too(
    harness: Harness, ceremonies: Ceremonies, clock: FakeClock
) -> None:
    h = harness
    _, other = _second_admin(h)
    view = ceremonies.propose(h.admin, "create_admin_token", {"token_name": "late"})
    assert ceremonies.approve(other, view.id).status == "approved"
    clock.advance(ceremonies.policy.default_ttl_seconds)
    assert [v.status for v in ceremonies.visible(h.admin)] == ["expired"]
    with pytest.raises(CeremonyExpiredError):
        ceremonies.execute(other, view.id)
    assert [a for a, _ in steps(h.store, view.id)].count("ceremony.expire") == 1


def test_rejection_is_a_final_veto(harness: Harness, ceremonies: Ceremonies) -> None:
    h = harness
    _, other = _second_admin(h)
    identity_id = _identity(h)
    view = ceremonies.propose(h.admin, "delete_identity", {"identity_id": identity_id})
    rejected = ceremonies.reject(other, view.id, reason="wrong identity")
    assert (rejected.status, rejected.decided_by) == ("rejected", other.actor)
    with pytest.raises(CeremonyClosedError, match="rejected"):
        ceremonies.approve(other, view.id)
    with pytest.raises(CeremonyClosedError, match="rejected"):
        ceremonies.execute(h.admin, view.id)
    assert _exists(h, identity_id)
    reject = [r for r in records(h.store) if r.action == "ceremony.reject"]
    assert reject[0].details["reason"] == "wrong identity"


def test_an_approval_by_a_since_revoked_token_no_longer_counts(
    harness: Harness, ceremonies: Ceremonies
) -> None:
    h = harness
    _, other = _second_admin(h)
    view = ceremonies.propose(h.admin, "create_admin_token", {"token_name": "third"})
    assert ceremonies.approve(other, view.id).status == "approved"
    h.passport.revoke_token(h.admin, other.token_id)
    shown = ceremonies.ceremony(h.admin, view.id)
    assert shown.approval_count == 1
    assert [a.counts for a in shown.approvals] == [True, False]
    with pytest.raises(QuorumNotReachedError, match="1 of 2"):
        ceremonies.execute(h.admin, view.id)


def test_create_admin_token_shows_the_token_once_and_stores_it_nowhere(
    harness: Harness, ceremonies: Ceremonies
) -> None:
    h = harness
    _, other = _second_admin(h)
    view = ceremonies.propose(
        h.admin, "create_admin_token", {"token_name": "ops lead", "expires_in": 3600}
    )
    ceremonies.approve(other, view.id)
    outcome = ceremonies.execute(h.admin, view.id)
    token = outcome.result.once["token"]
    assert token not in repr(outcome)
    new_admin = h.passport.authenticate(f"Bearer {token}")
    assert (new_admin.role, new_admin.tenant_id) == ("admin", "default")
    assert outcome.result.public["token_id"] == new_admin.token_id
    assert outcome.ceremony.result == outcome.result.public
    dump = repr(dump_tables(h.store)) + repr(records(h.store, ""))
    for secret in (token, h.admin_token):
        assert secret not in dump


def test_a_single_admin_install_needs_only_its_own_approval(
    harness: Harness, ceremonies: Ceremonies
) -> None:
    """The bootstrap rule: required = min(M, active admins), so one admin is not locked out."""
    h = harness
    _, solo = h.token("admin", tenant="solo")
    view = ceremonies.propose(solo, "create_admin_token", {"token_name": "second admin"})
    assert (view.required, view.status) == (1, "approved")
    second = ceremonies.execute(solo, view.id).result.once["token"]
    second_admin = h.passport.authenticate(f"Bearer {second}")
    # From now on the tenant has two admins: M = 2 applies.
    next_view = ceremonies.propose(second_admin, "create_admin_token", {"token_name": "third"})
    assert (next_view.required, next_view.status) == (2, "pending")
    with pytest.raises(QuorumNotReachedError):
        ceremonies.execute(second_admin, next_view.id)


def test_policy_per_operation(harness: Harness, clock: FakeClock) -> None:
    h = harness
    _, second = _second_admin(h)
    _, third = _second_admin(h)
    ceremonies = Ceremonies(
        h.passport,
        policy=CeremonyPolicy(required={"delete_identity": 3}, ttl_seconds={"delete_identity": 90}),
        clock=clock,
    )
    identity_id = _identity(h)
    view = ceremonies.propose(h.admin, "delete_identity", {"identity_id": identity_id})
    assert (view.required, view.expires_at - view.created_at) == (3, 90)
    ceremonies.approve(second, view.id)
    with pytest.raises(QuorumNotReachedError, match="2 of 3"):
        ceremonies.execute(second, view.id)
    ceremonies.approve(third, view.id)
    assert ceremonies.execute(third, view.id).result.public["deleted"] is True
    other = ceremonies.propose(h.admin, "create_admin_token", {"token_name": "x"})
    assert other.required == 2


def test_params_are_public_and_checked(harness: Harness, ceremonies: Ceremonies) -> None:
    h = harness
    secret_params: list[dict[str, object]] = [
        {"token_name": "x", "password": "hunter2"},
        {"token_name": "np_" + "a" * 43},
        {"token_name": "x", "notes": ["nsec1qqqq"]},
        {"token_name": "x", "private_key": "00" * 32},
    ]
    for params in secret_params:
        with pytest.raises(SecretInParamsError) as caught:
            ceremonies.propose(h.admin, "create_admin_token", params)
        assert "hunter2" not in str(caught.value) and "nsec1" not in str(caught.value)
    with pytest.raises(BadRequestError, match="does not take params"):
        ceremonies.propose(h.admin, "create_admin_token", {"token_name": "x", "role": "app"})
    with pytest.raises(BadRequestError, match="cannot be run by a ceremony"):
        ceremonies.propose(h.admin, "not_an_operation", {})
    with pytest.raises(BadRequestError):
        ceremonies.propose(h.admin, "delete_identity", {"identity_id": 7})
    with pytest.raises(NotFoundError):
        ceremonies.propose(h.admin, "delete_identity", {"identity_id": "id_missing"})
    with pytest.raises(BadRequestError, match="ttl_seconds"):
        ceremonies.propose(h.admin, "create_admin_token", {"token_name": "x"}, ttl_seconds=10**9)
    assert records(h.store) == []


def test_approvers_can_pin_the_params_hash(harness: Harness, ceremonies: Ceremonies) -> None:
    h = harness
    _, other = _second_admin(h)
    view = ceremonies.propose(h.admin, "create_admin_token", {"token_name": "x"})
    with pytest.raises(ParamsMismatchError):
        ceremonies.approve(other, view.id, expected_params_hash="00" * 32)
    assert ceremonies.ceremony(other, view.id).approval_count == 1


def test_unknown_ceremony_is_not_found(harness: Harness, ceremonies: Ceremonies) -> None:
    with pytest.raises(NotFoundError):
        ceremonies.approve(harness.admin, "cer_missing")
    with pytest.raises(NotFoundError):
        ceremonies.execute(harness.admin, "cer_missing")


def test_approvals_need_an_authenticated_token(harness: Harness) -> None:
    """Each approval is its own request: a token that does not authenticate gets nowhere."""
    with pytest.raises(AuthenticationError):
        harness.passport.authenticate("Bearer np_not_a_real_token")


def test_direct_sensitive_calls_need_a_ceremony_once_there_are_two_admins(
    harness: Harness, ceremonies: Ceremonies
) -> None:
    h = harness
    ceremonies.require_ceremony(h.admin, "delete_identity")  # one admin: bootstrap rule
    _second_admin(h)
    with pytest.raises(CeremonyRequiredError, match="needs 2 admin approvals") as caught:
        ceremonies.require_ceremony(h.admin, "create_admin_token")
    assert isinstance(caught.value, PermissionDeniedError)
    assert records(h.store, "create_admin_token")[0].outcome == "denied"
