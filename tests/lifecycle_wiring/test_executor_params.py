"""Lifecycle ceremony executors: registration and public-parameter checks."""

from __future__ import annotations

import hashlib

import pytest

from nostr_passport.errors import BadRequestError
from nostr_passport.service.ceremony_errors import SecretInParamsError
from nostr_passport.service.ceremony_executors import register_builtin_executors
from nostr_passport.service.ceremony_registry import (
    SENSITIVE_OPERATIONS,
    CeremonyRegistry,
    checked_params,
)
from nostr_passport.service.lifecycle_executors import (
    DESTROY_KEK,
    IMPORT_IDENTITY,
    MIGRATE_PARTICIPANT,
    RESTORE_IDENTITY,
    register_lifecycle_executors,
    split_import_material,
)

DIGEST = hashlib.sha256(b"material").hexdigest()


def _registry() -> CeremonyRegistry:
    registry = CeremonyRegistry()
    register_lifecycle_executors(registry)
    register_lifecycle_executors(registry)  # idempotent
    return registry


def test_every_sensitive_operation_has_an_executor_under_its_one_name() -> None:
    registry = _registry()
    register_builtin_executors(registry)
    assert set(registry.operations) == set(SENSITIVE_OPERATIONS)


def test_all_four_operations_are_registered() -> None:
    ops = set(_registry().operations)
    assert {RESTORE_IDENTITY, IMPORT_IDENTITY, MIGRATE_PARTICIPANT, DESTROY_KEK} <= ops
    assert _registry().spec(IMPORT_IDENTITY).needs_material
    assert _registry().spec(RESTORE_IDENTITY).needs_material


def test_import_params_need_the_material_hash_and_refuse_secrets() -> None:
    spec = _registry().spec(IMPORT_IDENTITY)
    ok = checked_params(spec, {"threshold": 2, "signers": ["a", "b"], "material_sha256": DIGEST})
    assert ok["threshold"] == 2 and ok["signers"] == ["a", "b"]
    with pytest.raises(BadRequestError):
        checked_params(spec, {"threshold": 2, "signers": ["a", "b"]})
    with pytest.raises(SecretInParamsError):
        checked_params(spec, {"nsec": "nsec1xyz", "material_sha256": DIGEST})
    with pytest.raises(BadRequestError):
        checked_params(spec, {"threshold": 3, "signers": ["a", "b"], "material_sha256": DIGEST})


def test_restore_migrate_and_kek_params() -> None:
    registry = _registry()
    restore = checked_params(
        registry.spec(RESTORE_IDENTITY),
        {"identity_id": "id1", "placements": {"0": "s1"}, "material_sha256": DIGEST},
    )
    assert restore["placements"] == {"0": "s1"}
    with pytest.raises(BadRequestError):
        checked_params(
            registry.spec(RESTORE_IDENTITY),
            {"identity_id": "id1", "placements": {"x": "s1"}, "material_sha256": DIGEST},
        )
    migrate = checked_params(
        registry.spec(MIGRATE_PARTICIPANT), {"identity_id": "i", "participant": 1, "to_signer": "s"}
    )
    assert migrate == {"identity_id": "i", "participant": 1, "to_signer": "s"}
    with pytest.raises(BadRequestError):
        checked_params(registry.spec(MIGRATE_PARTICIPANT), {"identity_id": "i"})
    assert checked_params(registry.spec(DESTROY_KEK), {}) == {"signers": None}
    with pytest.raises(BadRequestError):
        checked_params(registry.spec(DESTROY_KEK), {"signers": []})


def test_import_material_is_key_then_optional_password_line() -> None:
    assert split_import_material(b"nsec1abc") == ("nsec1abc", None)
    assert split_import_material(b"ncryptsec1abc\nnostr") == ("ncryptsec1abc", "nostr")
    with pytest.raises(BadRequestError):
        split_import_material(b"\xff")
