"""Ceremony executors for the key lifecycle: restore, import, migration, reshape, KEK destruction.

Each runs only once a ceremony reached its quorum (service/ceremonies.py). Secrets never
sit in the public params: restore and import take their material (the backup JSON; the
nsec or ncryptsec) at execute time, checked by the ceremony service against the
`material_sha256` the approvers saw.

Import material format (UTF-8): the key alone (`nsec1...`), or an `ncryptsec1...` key, a
newline, and its password. Refresh and backup are not ceremonies: refresh keeps the npub
and no secret leaves a signer; a backup is wrapped to HSM transport keys and is useless
without a restore ceremony.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nostr_passport.errors import (
    BadRequestError,
    NotFoundError,
    PassportError,
    PermissionDeniedError,
)

if TYPE_CHECKING:
    from .lifecycle.context import LifecycleContext

from .ceremony_registry import (
    DESTROY_KEK,
    IMPORT_IDENTITY,
    MATERIAL_HASH_PARAM,
    MIGRATE_PARTICIPANT,
    MIGRATE_SIGNER,
    RESHAPE_IDENTITY,
    RESTORE_IDENTITY,
    CeremonyRegistry,
    Execution,
    ExecutionResult,
    register_executor,
)

_MAX_ID = 64


def _only(params: Mapping[str, Any], allowed: set[str], operation: str) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadRequestError(f"{operation} does not take params: {', '.join(unknown)}")


def _name(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not 1 <= len(value) <= _MAX_ID:
        raise BadRequestError(f"params.{key} must be 1 to {_MAX_ID} characters")
    return value


def _int(params: Mapping[str, Any], key: str, low: int, high: int) -> int:
    value = params.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequestError(f"params.{key} must be an integer from {low} to {high}")
    return value


def _signer_list(params: Mapping[str, Any], key: str) -> list[str]:
    value = params.get(key)
    if not isinstance(value, list) or not 2 <= len(value) <= 255:
        raise BadRequestError(f"params.{key} must be a list of 2 or more signer ids")
    return [_name({key: v}, key) for v in value]


def restore_params(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, {"identity_id", "placements", MATERIAL_HASH_PARAM}, RESTORE_IDENTITY)
    placements = params.get("placements")
    if not isinstance(placements, Mapping) or not placements:
        raise BadRequestError("params.placements must map participant numbers to signer ids")
    checked: dict[str, str] = {}
    for participant, signer in placements.items():
        if not str(participant).isdigit():
            raise BadRequestError("params.placements keys must be participant numbers")
        checked[str(int(participant))] = _name({"signer": signer}, "signer")
    return {
        "identity_id": _name(params, "identity_id"),
        "placements": checked,
        MATERIAL_HASH_PARAM: params.get(MATERIAL_HASH_PARAM),
    }


def run_restore(execution: Execution) -> ExecutionResult:
    """Restore, then retire what the restore replaced: the replaced holders' copies are
    deleted where they can still be reached, and a refresh moves every share to a new
    epoch, so the lost HSMs' copies and the backup file itself stop combining with the
    live shares (take a new backup afterwards)."""
    from .lifecycle.backup import Backup, restore_identity
    from .lifecycle.context import LifecycleContext
    from .lifecycle.refresh import refresh_identity

    if execution.material is None:
        raise BadRequestError("restore_identity needs the backup JSON as material")
    backup = Backup.from_json(execution.material)
    if backup.identity_id != execution.params["identity_id"]:
        raise BadRequestError("the backup is of another identity than the ceremony names")
    placements = {int(p): str(s) for p, s in dict(execution.params["placements"]).items()}
    ctx = LifecycleContext.of(execution.passport)
    before = _holders(ctx, backup.identity_id)
    record = restore_identity(
        ctx, backup, placements, actor=execution.principal.actor, request_id=execution.request_id
    )
    replaced = sorted({before[p] for p, s in placements.items() if p in before and before[p] != s})
    cleared, unreachable = _forget_everywhere(ctx, record.id, replaced)
    public: dict[str, Any] = {
        "id": record.id,
        "restored": sorted(placements),
        "replaced_holders_cleared": cleared,
        "replaced_holders_unreachable": unreachable,
    }
    try:
        refreshed = refresh_identity(
            ctx, record.id, actor=execution.principal.actor, request_id=execution.request_id
        )
        public["refreshed_to_epoch"] = refreshed.to_epoch
    except PassportError as exc:  # the restore stands; the refresh can be run again
        public["refresh_error"] = f"{exc.code}: {exc}"
    return ExecutionResult(public=public)


def _holders(ctx: LifecycleContext, identity_id: str) -> dict[int, str]:
    try:
        record = ctx.identity(identity_id)
    except NotFoundError:
        return {}
    return {s.participant: s.signer_id for s in record.shares}


def _forget_everywhere(
    ctx: LifecycleContext, identity_id: str, signer_ids: list[str]
) -> tuple[list[str], list[str]]:
    """(signers that deleted their copy, signers that could not be asked)."""
    cleared, unreachable = [], []
    for sid in signer_ids:
        try:
            ctx.pool.client(sid).delete_share(identity_id)
            cleared.append(sid)
        except Exception:  # gone, or its HSM is: that is why we restored
            unreachable.append(sid)
    return cleared, unreachable


def import_params(params: Mapping[str, Any]) -> dict[str, Any]:
    allowed = {"threshold", "signers", "label", MATERIAL_HASH_PARAM}
    _only(params, allowed, IMPORT_IDENTITY)
    signers = _signer_list(params, "signers")
    label = params.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > 200):
        raise BadRequestError("params.label must be at most 200 characters")
    return {
        "threshold": _int(params, "threshold", 1, len(signers)),
        "signers": signers,
        "label": label,
        MATERIAL_HASH_PARAM: params.get(MATERIAL_HASH_PARAM),
    }


def split_import_material(material: bytes) -> tuple[str, str | None]:
    """(key, password) from the import material (module docstring)."""
    try:
        text = material.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("import material must be UTF-8 text") from None
    key, sep, password = text.partition("\n")
    return key.strip(), (password if sep else None)


def run_import(execution: Execution) -> ExecutionResult:
    from .lifecycle.context import LifecycleContext
    from .lifecycle.importing import import_identity

    if execution.material is None:
        raise BadRequestError("import_identity needs the key as material")
    key, password = split_import_material(execution.material)
    params = execution.params
    record = import_identity(
        LifecycleContext.of(execution.passport),
        key,
        password,
        tenant_id=execution.tenant_id,
        threshold=int(params["threshold"]),
        signer_ids=[str(s) for s in params["signers"]],
        label=params.get("label"),
        actor=execution.principal.actor,
        request_id=execution.request_id,
    )
    return ExecutionResult(public={"id": record.id})


def migrate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, {"identity_id", "participant", "to_signer"}, MIGRATE_PARTICIPANT)
    return {
        "identity_id": _name(params, "identity_id"),
        "participant": _int(params, "participant", 0, 254),
        "to_signer": _name(params, "to_signer"),
    }


def run_migrate(execution: Execution) -> ExecutionResult:
    from .lifecycle.context import LifecycleContext
    from .lifecycle.migration import migrate_participant

    params = execution.params
    migrate_participant(
        LifecycleContext.of(execution.passport),
        str(params["identity_id"]),
        int(params["participant"]),
        str(params["to_signer"]),
        actor=execution.principal.actor,
        request_id=execution.request_id,
    )
    return ExecutionResult(public=dict(params))


def reshape_params(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, {"identity_id", "threshold", "signers"}, RESHAPE_IDENTITY)
    signers = _signer_list(params, "signers")
    if len(set(signers)) != len(signers):
        raise BadRequestError("params.signers must be distinct signer ids")
    return {
        "identity_id": _name(params, "identity_id"),
        "threshold": _int(params, "threshold", 1, len(signers)),
        "signers": signers,
    }


def run_reshape(execution: Execution) -> ExecutionResult:
    from .lifecycle.context import LifecycleContext
    from .lifecycle.reshape import reshape_identity

    params = execution.params
    result = reshape_identity(
        LifecycleContext.of(execution.passport),
        str(params["identity_id"]),
        threshold=int(params["threshold"]),
        signer_ids=[str(s) for s in params["signers"]],
        actor=execution.principal.actor,
        request_id=execution.request_id,
        limits=execution.passport.limits,
    )
    return ExecutionResult(
        public={
            "id": result.identity_id,
            "from": result.from_shape,
            "to": result.to_shape,
            "signers": list(result.signer_ids),
            "epoch": result.to_epoch,
        }
    )


def migrate_signer_params(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, {"from_signer", "to_signer"}, MIGRATE_SIGNER)
    return {
        "from_signer": _name(params, "from_signer"),
        "to_signer": _name(params, "to_signer"),
    }


def run_migrate_signer(execution: Execution) -> ExecutionResult:
    """Every share of one signer moved to another: it touches every tenant's identities,
    so only a ceremony of the installation's own tenant may run it."""
    from .access import SYSTEM_TENANT
    from .lifecycle.context import LifecycleContext
    from .lifecycle.migration import migrate_signer

    if execution.tenant_id != SYSTEM_TENANT:
        raise PermissionDeniedError("moving a whole signer is for the installation's tenant")
    params = execution.params
    moved = migrate_signer(
        LifecycleContext.of(execution.passport),
        str(params["from_signer"]),
        str(params["to_signer"]),
        actor=execution.principal.actor,
        request_id=execution.request_id,
    )
    return ExecutionResult(public={**params, "moved": sorted(r.identity_id for r in moved)})


def destroy_kek_params(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, {"signers"}, DESTROY_KEK)
    if "signers" not in params or params["signers"] is None:
        return {"signers": None}
    value = params["signers"]
    if not isinstance(value, list) or not value:
        raise BadRequestError("params.signers must be a non-empty list of signer ids")
    return {"signers": [_name({"signers": v}, "signers") for v in value]}


def run_destroy_kek(execution: Execution) -> ExecutionResult:
    from .lifecycle.context import LifecycleContext
    from .lifecycle.kek import rotate_keks

    signers = execution.params.get("signers")
    done = rotate_keks(
        LifecycleContext.of(execution.passport),
        None if signers is None else [str(s) for s in signers],
        actor=execution.principal.actor,
        request_id=execution.request_id,
    )
    return ExecutionResult(
        public={
            sid: {
                "new_kek_id": r.new_kek_id,
                "destroyed_kek_ids": list(r.destroyed_kek_ids),
                "rewrapped": r.rewrapped,
            }
            for sid, r in done.items()
        }
    )


def register_lifecycle_executors(registry: CeremonyRegistry) -> None:
    """Register the lifecycle operations (idempotent)."""
    register_executor(
        RESTORE_IDENTITY,
        run_restore,
        check_params=restore_params,
        needs_material=True,
        identity_param="identity_id",
        registry=registry,
    )
    register_executor(
        IMPORT_IDENTITY,
        run_import,
        check_params=import_params,
        needs_material=True,
        registry=registry,
    )
    register_executor(
        MIGRATE_PARTICIPANT,
        run_migrate,
        check_params=migrate_params,
        identity_param="identity_id",
        registry=registry,
    )
    register_executor(
        RESHAPE_IDENTITY,
        run_reshape,
        check_params=reshape_params,
        identity_param="identity_id",
        registry=registry,
    )
    register_executor(
        MIGRATE_SIGNER, run_migrate_signer, check_params=migrate_signer_params, registry=registry
    )
    register_executor(
        DESTROY_KEK, run_destroy_kek, check_params=destroy_kek_params, registry=registry
    )
