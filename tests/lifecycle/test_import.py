"""Import of software keys (NIP-49 ncryptsec, nsec): the key becomes shares and is gone."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from coincurve import PrivateKey
from sqlalchemy import select

from nostr_passport.errors import BadRequestError, ConflictError
from nostr_passport.nostr import nip19
from nostr_passport.service.lifecycle.importing import import_identity
from nostr_passport.service.lifecycle.refresh import refresh_identity
from nostr_passport.store.tables import audit_log

from ..service.harness import SIGNER_IDS, Harness
from .helpers import context, local, sign_ok

# NIP-49's test vector (nostr-protocol/nips 49.md, "Test Data").
NCRYPTSEC = (
    "ncryptsec1qgg9947rlpvqu76pj5ecreduf9jxhselq2nae2kghhvd5g7dgjtcxfqtd67p9m0w57lspw8gsq6yphnm"
    "8623nsl8xn9j4jdzz84zm3frztj3z7s35vpzmqf6ksu8r89qk5z2zxfmu5gv8th8wclt0h4p"
)
PASSWORD = "nostr"
SECRET_HEX = "3501454135014541350145413501453fefb02227e449e57cf4d3a3ce05378683"


def forms(secret: bytes) -> list[bytes]:
    nsec = nip19.nsec_encode(secret).encode()
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), nsec]


def files_containing(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}" for needle in needles if needle in data]
    return found


def audit_text(h: Harness) -> str:
    with h.store.read() as conn:
        return "\n".join(str(dict(row)) for row in conn.execute(select(audit_log)).mappings())


def test_the_nip49_vector_imports_and_the_secret_is_gone(
    harness: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = bytes.fromhex(SECRET_HEX)
    expected = PrivateKey(secret).public_key.format()[1:].hex()
    record = import_identity(
        context(harness),
        NCRYPTSEC,
        PASSWORD,
        tenant_id="default",
        threshold=2,
        signer_ids=SIGNER_IDS,
        label="imported",
    )
    assert record.group_pubkey == expected
    assert (record.keygen_method, record.imported_from_software) == ("import", True)
    sign_ok(harness, record.id, expected, count=2)
    refresh_identity(context(harness), record.id, grace_seconds=0)
    sign_ok(harness, record.id, expected)

    for sid in SIGNER_IDS:
        local(harness, sid).store.checkpoint()  # WAL contents into the main file too
    needles = forms(secret)
    assert files_containing(tmp_path, needles) == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert all(n.decode("latin-1") not in logged for n in needles)
    assert all(n.decode("latin-1") not in audit_text(harness) for n in needles)
    assert "import" in audit_text(harness)

    with pytest.raises(ConflictError):
        import_identity(
            context(harness),
            NCRYPTSEC,
            PASSWORD,
            tenant_id="default",
            threshold=2,
            signer_ids=SIGNER_IDS,
        )


def test_nsec_import_and_refusals(harness: Harness) -> None:
    secret = os.urandom(32)
    pubkey = PrivateKey(secret).public_key.format()[1:].hex()
    with pytest.raises(BadRequestError):
        import_identity(
            context(harness),
            NCRYPTSEC,
            "wrong",
            tenant_id="default",
            threshold=2,
            signer_ids=SIGNER_IDS,
        )
    with pytest.raises(BadRequestError):
        import_identity(
            context(harness),
            "npub1xyz",
            None,
            tenant_id="default",
            threshold=2,
            signer_ids=SIGNER_IDS,
        )
    record = import_identity(
        context(harness),
        nip19.nsec_encode(secret),
        tenant_id="default",
        threshold=3,
        signer_ids=SIGNER_IDS,
    )
    assert record.group_pubkey == pubkey and record.threshold == 3
    sign_ok(harness, record.id, pubkey)
