"""Checkpoints: the exact signed statement, signing with real HSM keys, refusing to sign a
tampered log, one checkpoint per size under concurrency, openssl-verifiable signatures."""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from pathlib import Path

import pytest

from nostr_passport.errors import AuditIntegrityError, BadRequestError, ConflictError
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.service.audit_checkpoints import (
    checkpoint_at,
    checkpoint_statement,
    create_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    signature_problem,
)
from nostr_passport.service.audit_commands import checkpoint_command
from nostr_passport.service.audit_verify import verify_log
from nostr_passport.store import Store
from nostr_passport.store.checkpoints import Checkpoint, count_checkpoints

from .conftest import SofthsmFactory
from .logs import LOG_ID, FakeClock, build_log, sql

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_statement_is_canonical_json_of_five_fields() -> None:
    checkpoint = Checkpoint(
        tree_size=3,
        root_hash="ab" * 32,
        time="2026-01-02T03:04:05.678Z",
        log_id="example ✓",
        public_key="00",
        signature="00",
    )
    assert (
        checkpoint_statement(checkpoint)
        == (
            '{"format":"nostr-passport/audit-checkpoint/v1","log_id":"example ✓",'
            f'"root_hash":"{"ab" * 32}","time":"2026-01-02T03:04:05.678Z","tree_size":3}}'
        ).encode()
    )


def test_checkpoints_sign_the_log_as_it_grows(store: Store, audit_provider: HsmProvider) -> None:
    clock = FakeClock()
    empty = create_checkpoint(store, audit_provider, log_id=LOG_ID, clock=clock)
    assert (empty.tree_size, empty.root_hash) == (0, hashlib.sha256(b"").hexdigest())
    checkpoints = build_log(store, audit_provider, clock=clock)
    assert [c.tree_size for c in checkpoints] == [10, 25, 40]
    assert all(c.log_id == LOG_ID for c in checkpoints)
    assert all(signature_problem(c) is None for c in checkpoints)
    assert {c.public_key for c in checkpoints} == {audit_provider.attestation_public_key().hex()}
    assert checkpoints[0].time < checkpoints[1].time < checkpoints[2].time
    # Nothing new: the latest checkpoint, not a new signature.
    assert create_checkpoint(store, audit_provider, log_id=LOG_ID, clock=clock) == checkpoints[2]
    assert latest_checkpoint(store) == checkpoints[2]
    assert checkpoint_at(store, 25) == checkpoints[1]
    assert checkpoint_at(store, 26) is None
    assert list_checkpoints(store) == [empty, *checkpoints]
    assert list_checkpoints(store, after_size=10, limit=1) == [checkpoints[1]]
    with pytest.raises(BadRequestError):
        list_checkpoints(store, limit=0)
    with pytest.raises(BadRequestError):
        create_checkpoint(store, audit_provider, log_id="")


@pytest.mark.softhsm
def test_a_softhsm2_audit_key_signs_checkpoints(
    store: Store, softhsm_providers: SofthsmFactory
) -> None:
    (audit,) = softhsm_providers("audit")
    build_log(store, audit)
    report = verify_log(store, trusted_keys={audit.attestation_public_key().hex()})
    assert report.ok and report.keys_pinned and report.checkpoints == 3


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("UPDATE audit_log SET actor = 'mallory' WHERE idx = 30", "record 30 does not match"),
        (f"UPDATE audit_log SET leaf_hash = '{'00' * 32}' WHERE idx = 3", "no longer matches"),
        ("DELETE FROM audit_log WHERE idx = 30", "record 30 is missing"),
        ("DELETE FROM audit_log WHERE idx >= 20", "fewer than its latest checkpoint"),
        ("UPDATE audit_log SET details = 'x' WHERE idx = 33", "record 33 is unreadable"),
        ("UPDATE audit_checkpoints SET log_id = 'x' WHERE tree_size = 25", "latest checkpoint"),
    ],
)
def test_a_tampered_log_is_not_signed(
    store: Store, audit_provider: HsmProvider, tamper: str, message: str
) -> None:
    build_log(store, audit_provider, size=40, checkpoint_sizes=(10, 25))
    sql(store, tamper)
    with pytest.raises(AuditIntegrityError, match=message):
        create_checkpoint(store, audit_provider)
    with store.read() as conn:
        assert count_checkpoints(conn) == 2


def test_concurrent_checkpoints_of_one_size_store_one(
    store: Store, audit_provider: HsmProvider
) -> None:
    build_log(store, audit_provider, size=20, checkpoint_sizes=())
    results: list[Checkpoint] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        try:
            results.append(create_checkpoint(store, audit_provider, log_id=LOG_ID))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({(c.tree_size, c.root_hash) for c in results}) == 1
    with store.read() as conn:
        assert count_checkpoints(conn) == 1
    stored = latest_checkpoint(store)
    assert stored is not None and stored in results


DOCUMENTED_RECIPE = """
jq -j .statement checkpoint.json > statement.json
jq -r .checkpoint.signature checkpoint.json | xxd -r -p > sig.der
jq -r .checkpoint.public_key checkpoint.json | xxd -r -p \\
  | openssl pkey -pubin -inform DER -out audit-key.pem
openssl dgst -sha256 -verify audit-key.pem -signature sig.der statement.json
"""


def test_openssl_verifies_a_checkpoint_with_the_documented_commands(
    sqlite_store: Store, audit_provider: HsmProvider, tmp_path: Path
) -> None:
    """The recipe of docs/audit.md ("Verifying a checkpoint by hand"), verbatim."""
    assert DOCUMENTED_RECIPE.strip() in (DOCS / "audit.md").read_text()
    build_log(sqlite_store, audit_provider, size=3, checkpoint_sizes=(3,))
    view = checkpoint_command(sqlite_store, audit_provider, log_id=LOG_ID)
    (tmp_path / "checkpoint.json").write_text(json.dumps(view, indent=2, ensure_ascii=False))

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", DOCUMENTED_RECIPE],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )

    good = run()
    assert good.returncode == 0 and good.stdout.strip() == "Verified OK", good.stderr
    view["statement"] = view["statement"].replace('"tree_size":3', '"tree_size":4')
    (tmp_path / "checkpoint.json").write_text(json.dumps(view))
    assert run().returncode != 0


def test_an_old_record_changed_in_place_is_not_laundered(
    store: Store, audit_provider: HsmProvider
) -> None:
    """Records an earlier checkpoint covers are not re-hashed at signing: the new checkpoint
    commits to their stored (original) leaf hashes, so verification still names them."""
    build_log(store, audit_provider, size=40, checkpoint_sizes=(10, 25))
    sql(store, "UPDATE audit_log SET actor = 'mallory' WHERE idx = 3")
    assert create_checkpoint(store, audit_provider, log_id=LOG_ID).tree_size == 40
    report = verify_log(store)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.position) == ("record", 3)


def test_a_log_keeps_its_log_id(sqlite_store: Store, audit_provider: HsmProvider) -> None:
    build_log(sqlite_store, audit_provider, size=3, checkpoint_sizes=(3,))
    with pytest.raises(ConflictError, match="log id"):
        create_checkpoint(sqlite_store, audit_provider, log_id="renamed")
