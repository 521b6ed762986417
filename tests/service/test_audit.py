"""The audit trail: one record per decision, fail closed, no secret ever recorded."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from nostr_passport.errors import AuditUnavailableError, PermissionDeniedError
from nostr_passport.store import Store
from nostr_passport.store.audit_log import audit_records
from nostr_passport.store.tokens import TokenScopes

from ..store.databases import dump_tables
from .harness import Harness


def block_audit_inserts(store: Store) -> None:
    """Make every INSERT into audit_log fail, as a full disk or a broken replica would."""
    with store.engine.begin() as conn:
        if store.kind == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER block_audit BEFORE INSERT ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'audit blocked'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION block_audit() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'audit blocked'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER block_audit BEFORE INSERT ON audit_log "
                    "FOR EACH ROW EXECUTE FUNCTION block_audit()"
                )
            )


def test_fail_closed_nothing_happens_when_the_audit_log_is_unwritable(harness: Harness) -> None:
    h = harness
    identity_id = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    block_audit_inserts(h.store)
    before = dump_tables(h.store)
    calls = {sid: dict(s.calls) for sid, s in h.signers.items()}
    with pytest.raises(AuditUnavailableError):
        h.passport.sign_events(h.admin, identity_id, [{"kind": 1, "content": "x"}])
    with pytest.raises(AuditUnavailableError):
        h.passport.nip44_encrypt(
            h.admin,
            identity_id,
            "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
            "x",
        )
    with pytest.raises(AuditUnavailableError):
        h.passport.create_identity(h.admin, threshold=2, participants=3)
    with pytest.raises(AuditUnavailableError):
        h.passport.set_status(h.admin, identity_id, "disabled")
    with pytest.raises(AuditUnavailableError):
        h.passport.create_token(h.admin, name="x", role="app")
    with pytest.raises(AuditUnavailableError):
        h.passport.delete_identity(h.admin, identity_id)
    assert dump_tables(h.store) == before
    for sid, s in h.signers.items():
        for name in (
            "partial_sign",
            "ecdh_share",
            "deal_identity",
            "receive_share",
            "delete_share",
        ):
            assert s.count(name) == calls[sid].get(name, 0), (sid, name)


def test_one_record_per_operation_in_order_with_request_ids(harness: Harness) -> None:
    h = harness
    identity_id = h.passport.create_identity(
        h.admin, threshold=2, participants=3, request_id="r1"
    ).id
    h.passport.sign_events(h.admin, identity_id, [{"kind": 1, "content": "a"}], request_id="r2")
    h.passport.set_status(h.admin, identity_id, "disabled", request_id="r3")
    with h.store.read() as conn:
        records = audit_records(conn)
    assert [r.index for r in records] == list(range(len(records)))
    mine = [(r.request_id, r.action, r.outcome) for r in records if r.request_id.startswith("r")]
    assert mine == [
        ("r1", "identity.create", "allowed"),
        ("r1", "identity.create", "ok"),
        ("r2", "sign_event", "allowed"),
        ("r3", "identity.disable", "ok"),
    ]
    sign = next(r for r in records if r.request_id == "r2")
    assert sign.actor == h.admin.token_id and sign.identity_id == identity_id
    assert len(sign.details["event_ids"]) == 1 and sign.details["kinds"] == [1]


def test_denials_are_recorded(fast_harness: Harness) -> None:
    h = fast_harness
    identity_id = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    _, app = h.token("app", TokenScopes(kinds=(1,)))
    with pytest.raises(PermissionDeniedError):
        h.passport.sign_events(app, identity_id, [{"kind": 4}], request_id="rd")
    with h.store.read() as conn:
        denied = [r for r in audit_records(conn) if r.request_id == "rd"]
    assert [(r.action, r.outcome) for r in denied] == [("sign_event", "denied")]


def test_no_secret_reaches_the_store_or_the_log(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness
    caplog.set_level("DEBUG")
    identity_id = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    issued = h.passport.create_token(h.admin, name="app", role="app")
    content = "secret diary entry ☃ 8c1f"
    h.passport.sign_events(h.admin, identity_id, [{"kind": 1, "content": content}])
    h.signers["signer-1"].down = True
    h.passport.sign_events(h.admin, identity_id, [{"kind": 1, "content": content}])
    everything = json.dumps(dump_tables(h.store), default=str) + caplog.text
    for secret in (issued.token, h.admin_token, content):
        assert secret not in everything
    for s in h.signers.values():  # the shares themselves, unwrapped the signer's own way
        with s.inner._share(s.inner._record(identity_id)) as share:
            assert bytes(share).hex() not in everything
