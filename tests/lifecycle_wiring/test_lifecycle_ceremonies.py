"""Lifecycle operations run through ceremonies on a real Passport (simulator signers)."""

from __future__ import annotations

import hashlib

from coincurve import PrivateKey

from nostr_passport.service.ceremonies import Ceremonies
from nostr_passport.service.lifecycle_executors import DESTROY_KEK, IMPORT_IDENTITY

from ..ceremonies.helpers import FakeClock
from ..lifecycle.helpers import sign_ok
from ..lifecycle.test_import import NCRYPTSEC, PASSWORD, SECRET_HEX
from ..service.harness import SIGNER_IDS, Harness


def test_import_ceremony_with_the_nip49_vector(harness: Harness) -> None:
    h = harness
    ceremonies = Ceremonies(h.passport, clock=FakeClock())
    material = f"{NCRYPTSEC}\n{PASSWORD}".encode()
    params = {
        "threshold": 2,
        "signers": list(SIGNER_IDS),
        "material_sha256": hashlib.sha256(material).hexdigest(),
    }
    view = ceremonies.propose(h.admin, IMPORT_IDENTITY, params)
    assert view.status == "approved"  # the only admin of its tenant
    outcome = ceremonies.execute(h.admin, view.id, material=material)
    expected = PrivateKey(bytes.fromhex(SECRET_HEX)).public_key.format()[1:].hex()
    identity_id = str(outcome.result.public["id"])
    assert h.passport.store is h.store
    sign_ok(h, identity_id, expected)


def test_destroy_kek_ceremony_rotates_every_signer(harness: Harness) -> None:
    h = harness
    ceremonies = Ceremonies(h.passport, clock=FakeClock())
    view = ceremonies.propose(h.admin, DESTROY_KEK, {})
    outcome = ceremonies.execute(h.admin, view.id)
    assert set(outcome.result.public) == set(SIGNER_IDS)
