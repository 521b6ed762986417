"""Backup to other HSMs and restore there: SoftHSM2 tokens A, B, C -> D, E."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from nostr_passport.crypto import curve
from nostr_passport.errors import (
    BackupTargetError,
    LifecycleError,
    TamperedCiphertextError,
)
from nostr_passport.service.lifecycle.backup import (
    Backup,
    BackupTarget,
    backup_identity,
    restore_identity,
)
from nostr_passport.service.lifecycle.refresh import refresh_identity
from nostr_passport.store import Store

from ..service.harness import real_signer
from ..store.databases import database_url
from .helpers import context, harness_over, plain_share, sign_ok
from .softhsm import softhsm_signers


def secret_forms(share: int) -> list[bytes]:
    raw = curve.bytes_from_int(share)
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw)]


@pytest.mark.softhsm
def test_backup_from_a_b_c_restores_to_d_e_and_signs(tmp_path: Path) -> None:
    a, b, c, d, e = softhsm_signers(tmp_path, ["A", "B", "C", "D", "E"])
    with database_url("sqlite", tmp_path) as url:
        store = Store.open(url)
        try:
            first = harness_over(store, {"A": a, "B": b, "C": c})
            view = first.passport.create_identity(first.admin, threshold=2, participants=3)
            shares = [plain_share(s, view.id, 0)[1] for s in (a, b, c)]
            targets = {0: BackupTarget.of(d.info()), 1: BackupTarget.of(e.info())}
            assert all(t.simulated for t in targets.values())  # SoftHSM2 is software

            with pytest.raises(BackupTargetError):
                backup_identity(context(first), view.id, targets)
            backup = backup_identity(context(first), view.id, targets, allow_software_targets=True)
            path = tmp_path / "identity.backup.json"
            path.write_bytes(backup.to_json())
            data = path.read_bytes()
            for share in shares:
                for form in secret_forms(share):
                    assert form not in data
            first.close()  # A, B and C are gone

            second = harness_over(store, {"D": d, "E": e})
            loaded = Backup.from_json(path.read_bytes())
            ctx = context(second)
            with pytest.raises(LifecycleError, match="sealed to HSM key"):
                restore_identity(ctx, loaded, {0: "E"})
            # The HSM itself refuses a share that was not sealed to its key.
            with pytest.raises(TamperedCiphertextError):
                e.receive_share(
                    view.id,
                    0,
                    0,
                    2,
                    bytes.fromhex(loaded.group_pubkey_dealt),
                    loaded.vss_commitments,
                    loaded.share_of(0).blob,
                )
            record = restore_identity(ctx, loaded, {0: "D", 1: "E"})
            assert [s.signer_id for s in record.shares] == ["D", "E", "C"]
            sign_ok(second, view.id, view.pubkey, count=2)
            assert plain_share(d, view.id, 0)[1] == shares[0]
            second.close()
        finally:
            store.close()


def test_restore_into_an_empty_store_and_stale_backups(tmp_path: Path) -> None:
    names = ["s0", "s1", "s2", "v0", "v1", "v2"]
    signers = {n: real_signer(n, tmp_path) for n in names}
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
    with (
        database_url("sqlite", tmp_path / "one") as url1,
        database_url("sqlite", tmp_path / "two") as url2,
    ):
        store1, store2 = Store.open(url1), Store.open(url2)
        first = harness_over(store1, {n: signers[n] for n in names[:3]})
        second = harness_over(store2, {n: signers[n] for n in names[3:]})
        try:
            view = first.passport.create_identity(first.admin, threshold=2, participants=3)
            targets = {i: BackupTarget.of(signers[f"v{i}"].info()) for i in range(3)}
            with pytest.raises(BackupTargetError):  # the simulator is software
                backup_identity(context(first), view.id, targets)
            backup = backup_identity(context(first), view.id, targets, allow_software_targets=True)

            restored = restore_identity(
                context(second), Backup.from_json(backup.to_json()), {0: "v0", 1: "v1", 2: "v2"}
            )
            assert (restored.group_pubkey, restored.epoch) == (view.pubkey, 0)
            sign_ok(second, view.id, view.pubkey)

            # After a refresh the backup no longer matches the live shares.
            refresh_identity(context(first), view.id, grace_seconds=0)
            with pytest.raises(LifecycleError, match="refreshed"):
                restore_identity(context(first), backup, {0: "s0"})
        finally:
            for h in (first, second):
                h.passport.pool.close()
            store1.close()
            store2.close()
