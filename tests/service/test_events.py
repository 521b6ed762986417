"""Templates: what the gateway fills in, what must agree, and the optional session record."""

from __future__ import annotations

from pathlib import Path

import pytest

from nostr_passport.errors import BadRequestError
from nostr_passport.store import Store

from ..store.databases import dump_tables
from .harness import Harness, build_harness, settings_for_tests


def test_defaults_are_filled_and_a_fully_agreeing_event_is_signed_again(
    fast_harness: Harness,
) -> None:
    h = fast_harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=3)
    first = h.passport.sign_events(h.admin, identity.id, [{"kind": 1}])[0]
    assert first["content"] == "" and first["tags"] == [] and first["pubkey"] == identity.pubkey
    assert abs(first["created_at"] - h.passport.now()) < 3600  # "now", not 0 or a constant
    again = h.passport.sign_events(h.admin, identity.id, [first])[0]
    assert again["id"] == first["id"]  # same event, fresh signature (new nonces)
    assert again["sig"] != first["sig"]


@pytest.mark.parametrize(
    "template",
    [
        {"kind": 1, "content": "\ud800"},  # a lone surrogate is not Unicode
        {"kind": 1, "tags": [[]]},
        {"kind": True},
        {"kind": 1, "created_at": True},
        {"kind": 1, "sig": 5},
    ],
)
def test_more_malformed_templates(fast_harness: Harness, template: dict[str, object]) -> None:
    h = fast_harness
    identity_id = h.passport.create_identity(h.admin, threshold=2, participants=3).id
    with pytest.raises(BadRequestError):
        h.passport.sign_events(h.admin, identity_id, [template])


def test_signing_sessions_are_recorded_when_enabled(sqlite_store: Store, tmp_path: Path) -> None:
    h = build_harness(sqlite_store, tmp_path, settings_for_tests(record_sessions=True))
    try:
        identity_id = h.passport.create_identity(h.admin, threshold=2, participants=3).id
        events = h.passport.sign_events(h.admin, identity_id, [{"kind": 1}, {"kind": 7}])
        sessions = dump_tables(h.store)["signing_sessions"]
        assert len(sessions) == 1
        row = sessions[0]
        assert row[1] == identity_id and row[3] == "sign_event"
        assert all(e["id"] in row[5] for e in events)
    finally:
        h.close()
