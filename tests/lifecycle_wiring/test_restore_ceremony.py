"""A restore by ceremony retires what it replaced: old copies deleted or reported, then a
refresh, so the lost HSM's copy and the backup itself stop combining with live shares."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from nostr_passport.errors import LifecycleError
from nostr_passport.service.ceremonies import Ceremonies
from nostr_passport.service.ceremony_registry import RESTORE_IDENTITY
from nostr_passport.service.lifecycle.backup import BackupTarget, backup_identity
from nostr_passport.service.lifecycle.context import LifecycleContext

from ..ceremonies.helpers import FakeClock
from ..lifecycle.helpers import sign_ok
from ..service.harness import Harness


def _backup_of_participant_0(h: Harness, identity_id: str, to: str) -> bytes:
    ctx = LifecycleContext.of(h.passport)
    target = BackupTarget.of(h.passport.pool.info(to, 5.0))
    backup = backup_identity(ctx, identity_id, {0: target}, allow_software_targets=True)
    return backup.to_json()


def _restore(
    h: Harness, identity_id: str, material: bytes, placements: dict[str, str]
) -> dict[str, Any]:
    ceremonies = Ceremonies(h.passport, clock=FakeClock())
    params = {
        "identity_id": identity_id,
        "placements": placements,
        "material_sha256": hashlib.sha256(material).hexdigest(),
    }
    view = ceremonies.propose(h.admin, RESTORE_IDENTITY, params)
    return dict(ceremonies.execute(h.admin, view.id, material=material).result.public)


def test_restore_replaces_a_lost_holder_then_refreshes(harness: Harness) -> None:
    h = harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=2)
    lost, other = (s.signer_id for s in identity.signers)
    spare = next(sid for sid in h.passport.pool.ids if sid not in (lost, other))
    material = _backup_of_participant_0(h, identity.id, spare)

    h.signers[lost].down = True  # its HSM is gone: the reason to restore
    result = _restore(h, identity.id, material, {"0": spare})
    assert result["replaced_holders_unreachable"] == [lost]
    assert result["refreshed_to_epoch"] == 1
    after = h.passport.identity(h.admin, identity.id)
    assert [s.signer_id for s in after.signers] == [spare, other]
    assert after.npub == identity.npub and after.epoch == 1
    sign_ok(h, identity.id, identity.pubkey)

    # The backup is of epoch 0: after the refresh it restores nothing any more.
    h.signers[lost].down = False
    with pytest.raises(LifecycleError, match="epoch"):
        _restore(h, identity.id, material, {"0": lost})


def test_restore_refuses_a_signer_that_holds_another_participant(harness: Harness) -> None:
    h = harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=2)
    first, second = (s.signer_id for s in identity.signers)
    material = _backup_of_participant_0(h, identity.id, second)
    with pytest.raises(LifecycleError, match="already holds participant 1"):
        _restore(h, identity.id, material, {"0": second})
    sign_ok(h, identity.id, identity.pubkey)  # nothing changed
    assert h.passport.identity(h.admin, identity.id).signers[0].signer_id == first
