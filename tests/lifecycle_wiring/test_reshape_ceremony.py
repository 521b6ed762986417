"""A threshold and signer-set change run as a two-admin ceremony on a real Passport."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nostr_passport.errors import BadRequestError
from nostr_passport.service.ceremonies import Ceremonies
from nostr_passport.service.ceremony_registry import (
    RESHAPE_IDENTITY,
    CeremonyRegistry,
    checked_params,
)
from nostr_passport.service.lifecycle.refresh import signer_ids_of
from nostr_passport.service.lifecycle.reshape import RESHAPE_ACTION
from nostr_passport.service.lifecycle_executors import register_lifecycle_executors

from ..ceremonies.helpers import FakeClock, records, steps
from ..lifecycle.helpers import context, sign_ok, sqlite_harness_over
from ..service.harness import Harness, real_signer

FOUR = tuple(f"signer-{k}" for k in range(1, 5))


@pytest.fixture
def four(tmp_path: Path) -> Iterator[Harness]:
    clients: dict[str, Any] = {sid: real_signer(sid, tmp_path) for sid in FOUR}
    with sqlite_harness_over(tmp_path, clients) as h:
        yield h


def test_reshape_params_are_checked() -> None:
    registry = CeremonyRegistry()
    register_lifecycle_executors(registry)
    spec = registry.spec(RESHAPE_IDENTITY)
    ok = {"identity_id": "id1", "threshold": 3, "signers": ["a", "b", "c"]}
    assert checked_params(spec, ok) == ok
    for bad in (
        {**ok, "threshold": 4},
        {**ok, "threshold": 0},
        {**ok, "signers": ["a", "b", "a"]},
        {**ok, "signers": ["a"]},
        {**ok, "extra": 1},
        {"threshold": 2, "signers": ["a", "b"]},
    ):
        with pytest.raises(BadRequestError):
            checked_params(spec, bad)


def test_reshape_ceremony_two_admins_2_of_3_to_3_of_4(four: Harness) -> None:
    h = four
    h.signers[FOUR[3]].down = True  # the identity starts on the other three
    view = h.passport.create_identity(h.admin, threshold=2, participants=3)
    h.signers[FOUR[3]].down = False
    h.passport.pool.mark_ok(FOUR[3])
    before = signer_ids_of(context(h).identity(view.id))
    _, other = h.token("admin")  # a second admin: the ceremony needs two approvals
    ceremonies = Ceremonies(h.passport, clock=FakeClock())

    new_set = [FOUR[3], *before]
    params = {"identity_id": view.id, "threshold": 3, "signers": new_set}
    proposed = ceremonies.propose(h.admin, RESHAPE_IDENTITY, params)
    assert proposed.status == "pending"
    assert context(h).identity(view.id).threshold == 2  # nothing happens before approval
    approved = ceremonies.approve(other, proposed.id, expected_params_hash=proposed.params_hash)
    assert approved.status == "approved"
    outcome = ceremonies.execute(other, proposed.id)
    assert outcome.result.public == {
        "id": view.id,
        "from": "2-of-3",
        "to": "3-of-4",
        "signers": new_set,
        "epoch": 1,
    }

    record = context(h).identity(view.id)
    assert (record.threshold, record.participants, record.epoch) == (3, 4, 1)
    assert list(signer_ids_of(record)) == new_set and record.group_pubkey == view.pubkey
    sign_ok(h, view.id, view.pubkey)
    assert steps(h.store, proposed.id) == [
        ("ceremony.propose", "ok"),
        ("ceremony.approve", "ok"),
        ("ceremony.execute", "allowed"),
        ("ceremony.execute", "ok"),
    ]
    (reshaped,) = records(h.store, RESHAPE_ACTION)
    assert reshaped.actor == other.actor and reshaped.identity_id == view.id
    assert (reshaped.details["from"], reshaped.details["to"]) == ("2-of-3", "3-of-4")
    assert reshaped.details["signers"] == new_set
