"""Attestation bundles: built from real HSM attestations, verified offline, and never passed
once any byte of them is changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nostr_passport.errors import ConflictError, MalformedAuditDataError, NotFoundError
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.hsm.simulator import SimulatorProvider
from nostr_passport.service.attestation import BUNDLE_FORMAT, attestation_bundle, verify_bundle
from nostr_passport.service.audit import AuditLog
from nostr_passport.service.audit_checkpoints import create_checkpoint
from nostr_passport.store import Store
from nostr_passport.store.canonical import canonical_json_bytes
from nostr_passport.store.checkpoints import key_id_of

from .conftest import SofthsmFactory
from .identities import create_identity
from .logs import LOG_ID, FakeClock, build_log


@pytest.fixture
def simulators(tmp_path: Path) -> list[HsmProvider]:
    providers: list[HsmProvider] = [
        SimulatorProvider(f"hsm-{i}", state_dir=tmp_path / f"hsm-{i}") for i in range(3)
    ]
    yield providers  # type: ignore[misc]
    for p in providers:
        p.close()


def attested(
    store: Store, audit_provider: HsmProvider, providers: list[HsmProvider], **kwargs: object
) -> dict[str, object]:
    """A bundle for a new identity amid other audit records, proven to a checkpoint."""
    clock = FakeClock()
    build_log(store, audit_provider, size=5, checkpoint_sizes=(5,), clock=clock)
    identity = create_identity(store, AuditLog(store, clock=clock), providers, **kwargs)  # type: ignore[arg-type]
    build_log(store, audit_provider, size=3, checkpoint_sizes=(), clock=clock)
    create_checkpoint(store, audit_provider, log_id=LOG_ID, clock=clock)
    return attestation_bundle(store, identity.id)


def test_a_bundle_verifies_and_names_the_holders(
    store: Store, audit_provider: HsmProvider, simulators: list[HsmProvider]
) -> None:
    bundle = attested(store, audit_provider, simulators)
    assert bundle["format"] == BUNDLE_FORMAT
    report = verify_bundle(canonical_json_bytes(bundle))
    assert report.ok, report.problems
    assert report.identity_id == bundle["identity"]["id"]  # type: ignore[index]
    assert report.npub.startswith("npub1")
    assert (report.threshold, report.participants, report.epoch) == (2, 3, 0)
    assert [h.participant for h in report.holders] == [0, 1, 2]
    assert [h.provider_name for h in report.holders] == ["hsm-0", "hsm-1", "hsm-2"]
    assert all(h.simulated and h.software for h in report.holders)
    assert len({h.serial for h in report.holders}) == 3
    assert report.software
    assert report.creation_index == 5
    assert report.checkpoint_size == 9
    assert report.audit_key_id == key_id_of(audit_provider.attestation_public_key().hex())
    assert any("SOFTWARE/SIMULATED" in line for line in report.summary())
    assert any("WARNING" in line for line in report.summary())
    assert verify_bundle(bundle).ok  # also from the parsed dict


@pytest.mark.softhsm
def test_a_bundle_from_softhsm2_tokens_is_marked_as_software(
    store: Store, softhsm_providers: SofthsmFactory
) -> None:
    audit, *holders = softhsm_providers("audit", "signer-a", "signer-b", "signer-c")
    bundle = attested(store, audit, holders)
    pinned_audit = {audit.attestation_public_key().hex()}
    pinned_holders = {p.attestation_public_key() for p in holders}
    report = verify_bundle(
        canonical_json_bytes(bundle),
        trusted_audit_keys=pinned_audit,
        trusted_attestation_keys=pinned_holders,
    )
    assert report.ok, report.problems
    assert report.keys_pinned
    assert all(h.provider_kind == "pkcs11" and h.software for h in report.holders)
    assert all("softhsm" in f"{h.vendor} {h.model}".lower() for h in report.holders)


def test_a_bundle_of_an_identity_created_by_the_gateway(
    store: Store, audit_provider: HsmProvider, tmp_path: Path
) -> None:
    """End to end: Passport.create_identity over real LocalSigners (HSM simulator)."""
    from ..service.harness import build_harness

    harness = build_harness(store, tmp_path)
    try:
        view = harness.passport.create_identity(harness.admin, threshold=2, participants=3)
    finally:
        harness.close()
    bundle = attestation_bundle(store, view.id, audit_provider=audit_provider)
    report = verify_bundle(canonical_json_bytes(bundle))
    assert report.ok, report.problems
    assert report.pubkey == view.pubkey
    assert {h.signer_id for h in report.holders} == {"signer-1", "signer-2", "signer-3"}


def test_every_changed_byte_fails(
    sqlite_store: Store, audit_provider: HsmProvider, simulators: list[HsmProvider]
) -> None:
    data = canonical_json_bytes(attested(sqlite_store, audit_provider, simulators))
    assert verify_bundle(data).ok
    passed = []
    for position in range(len(data)):
        for flip in (0x01, 0x20) if position % 5 == 0 else (0x01,):
            changed = bytearray(data)
            changed[position] ^= flip
            try:
                report = verify_bundle(bytes(changed))
            except MalformedAuditDataError:
                continue
            if report.ok:
                passed.append((position, flip))
    assert passed == []


def test_shares_that_do_not_interpolate_to_the_group_key_fail(
    store: Store, audit_provider: HsmProvider, simulators: list[HsmProvider]
) -> None:
    """Participant 2 attests (validly signed) to a public share off the polynomial."""
    from nostr_passport.crypto import dealer

    stranger = dealer.split(dealer.generate_secret(), 2, 3).pubshares[2]
    bundle = attested(store, audit_provider, simulators, pubshare_override={2: stranger})
    report = verify_bundle(canonical_json_bytes(bundle))
    assert not report.ok
    assert report.problems == ("public shares of participants [1, 2] do not give the group key",)


def test_a_statement_about_another_identity_fails(
    store: Store, audit_provider: HsmProvider, simulators: list[HsmProvider]
) -> None:
    bundle = attested(store, audit_provider, simulators, identity_in_statement="id_other")
    report = verify_bundle(canonical_json_bytes(bundle))
    assert not report.ok
    assert any("participant 0: the statement names another" in p for p in report.problems)


def test_pinned_keys_must_match(
    sqlite_store: Store, audit_provider: HsmProvider, simulators: list[HsmProvider]
) -> None:
    data = canonical_json_bytes(attested(sqlite_store, audit_provider, simulators))
    own = {audit_provider.attestation_public_key().hex()}
    holders = {p.attestation_public_key() for p in simulators}
    assert verify_bundle(data, trusted_audit_keys=own, trusted_attestation_keys=holders).ok
    other = SimulatorProvider("other")
    try:
        wrong_audit = {other.attestation_public_key().hex()}
        wrong_holders = {other.attestation_public_key()}
    finally:
        other.close()
    report = verify_bundle(data, trusted_audit_keys=wrong_audit)
    assert not report.ok and "not a trusted audit key" in report.problems[0]
    report = verify_bundle(data, trusted_attestation_keys=wrong_holders)
    assert not report.ok and len(report.problems) == 3


def test_a_bundle_needs_a_checkpoint_covering_the_creation(
    store: Store, audit_provider: HsmProvider, simulators: list[HsmProvider]
) -> None:
    identity = create_identity(store, AuditLog(store, clock=FakeClock()), simulators)
    with pytest.raises(ConflictError, match="audit checkpoint"):
        attestation_bundle(store, identity.id)
    bundle = attestation_bundle(store, identity.id, audit_provider=audit_provider)
    assert verify_bundle(bundle).ok
    with pytest.raises(NotFoundError):
        attestation_bundle(store, "id_missing")


@pytest.mark.parametrize(
    "document",
    [b"", b"[]", b"{}", b"null", b'{"format":1}', "ünï".encode(), b"\xff\xfe", b'{"a":NaN}'],
)
def test_garbage_is_our_error(document: bytes) -> None:
    with pytest.raises(MalformedAuditDataError):
        verify_bundle(document)


def test_a_pretty_printed_bundle_is_refused(
    sqlite_store: Store, audit_provider: HsmProvider, simulators: list[HsmProvider]
) -> None:
    """Insignificant whitespace would be bytes no check covers: only canonical JSON is read."""
    bundle = attested(sqlite_store, audit_provider, simulators)
    with pytest.raises(MalformedAuditDataError, match="canonical"):
        verify_bundle(json.dumps(bundle, indent=2).encode())
