"""Retiring a signer: every share it holds moved to another by one migrate_signer ceremony."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nostr_passport.errors import PermissionDeniedError
from nostr_passport.service.ceremonies import Ceremonies
from nostr_passport.service.ceremony_registry import MIGRATE_SIGNER
from nostr_passport.service.lifecycle.dkg_flow import create_identity_dkg
from nostr_passport.service.lifecycle.refresh import signer_ids_of

from ..ceremonies.helpers import FakeClock
from ..lifecycle.helpers import context, local, sign_ok, sqlite_harness_over
from ..service.harness import Harness, real_signer

FOUR = tuple(f"signer-{k}" for k in range(1, 5))


@pytest.fixture
def four(tmp_path: Path) -> Iterator[Harness]:
    clients: dict[str, Any] = {sid: real_signer(sid, tmp_path) for sid in FOUR}
    with sqlite_harness_over(tmp_path, clients) as h:
        yield h


def test_drain_moves_every_share_then_the_signer_holds_nothing(four: Harness) -> None:
    h = four
    records = [
        create_identity_dkg(context(h), tenant_id="default", threshold=2, signer_ids=list(FOUR[:3]))
        for _ in range(3)
    ]
    ceremonies = Ceremonies(h.passport, clock=FakeClock())
    view = ceremonies.propose(
        h.admin, MIGRATE_SIGNER, {"from_signer": "signer-2", "to_signer": "signer-4"}
    )
    outcome = ceremonies.execute(h.admin, view.id)
    assert outcome.result.public["moved"] == sorted(r.id for r in records)
    for record in records:
        after = context(h).identity(record.id)
        assert "signer-2" not in signer_ids_of(after) and "signer-4" in signer_ids_of(after)
        assert after.group_pubkey == record.group_pubkey
        sign_ok(h, record.id, record.group_pubkey)
        assert local(h, "signer-2").store.epochs(record.id) == ()

    # Nothing left to move: a second drain moves nothing and changes nothing.
    again = ceremonies.propose(
        h.admin, MIGRATE_SIGNER, {"from_signer": "signer-2", "to_signer": "signer-4"}
    )
    assert ceremonies.execute(h.admin, again.id).result.public["moved"] == []


def test_only_the_installation_tenant_may_drain(four: Harness) -> None:
    h = four
    _, foreign_admin = h.token("admin", tenant="acme")
    ceremonies = Ceremonies(h.passport, clock=FakeClock())
    view = ceremonies.propose(
        foreign_admin, MIGRATE_SIGNER, {"from_signer": "signer-2", "to_signer": "signer-4"}
    )
    with pytest.raises(PermissionDeniedError):
        ceremonies.execute(foreign_admin, view.id)
