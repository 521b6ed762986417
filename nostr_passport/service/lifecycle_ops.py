"""Authorised entry points for the lifecycle actions an API caller runs directly.

Refresh keeps the npub and no secret leaves a signer; a backup is sealed to HSM
transport keys and is useless without a restore ceremony; so both are admin/operator
actions without a ceremony. KEK rotation destroys the old KEKs: an admin action that,
from two admins on, must go through a `destroy_kek` ceremony (the route checks). The
lifecycle functions write the audit records (with the caller as actor); refusals are
audited as denied by `Passport.authorize`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from nostr_passport.errors import BadRequestError
from nostr_passport.hsm.transport import key_fingerprint
from nostr_passport.signer.protocol import KekRotation
from nostr_passport.store.identities import identity_by_id
from nostr_passport.store.signers import SignerRecord, list_signers

from . import access
from .access import Principal, require_visible
from .ceremony_registry import DESTROY_KEK
from .lifecycle.backup import Backup, BackupTarget, backup_identity
from .lifecycle.context import LifecycleContext
from .lifecycle.kek import rotate_keks
from .lifecycle.refresh import RefreshResult, refresh_identity

if TYPE_CHECKING:
    from .ceremonies import Ceremonies

_MAX_TRANSPORT_KEY_HEX = 1024


def _identity_context(
    passport: Any, principal: Principal, method: str, identity_id: str, request_id: str
) -> LifecycleContext:
    passport.authorize(principal, method, request_id, identity_id)
    ctx = LifecycleContext.of(passport)
    with ctx.store.read() as conn:
        require_visible(principal, identity_by_id(conn, identity_id), identity_id)
    return ctx


def refresh(
    passport: Any, principal: Principal, identity_id: str, request_id: str
) -> RefreshResult:
    ctx = _identity_context(passport, principal, access.IDENTITY_REFRESH, identity_id, request_id)
    return refresh_identity(ctx, identity_id, actor=principal.actor, request_id=request_id)


def backup(
    passport: Any,
    principal: Principal,
    identity_id: str,
    targets: Mapping[str, str],
    *,
    allow_software: bool,
    request_id: str,
) -> Backup:
    """`targets`: participant number -> registered signer id or transport key (hex)."""
    ctx = _identity_context(passport, principal, access.IDENTITY_BACKUP, identity_id, request_id)
    return backup_identity(
        ctx,
        identity_id,
        backup_targets(passport, targets),
        allow_software_targets=allow_software,
        actor=principal.actor,
        request_id=request_id,
        now=int(passport.now()),
    )


def backup_targets(passport: Any, wanted: Mapping[str, str]) -> dict[int, BackupTarget]:
    """Participant -> target, each named by a registered signer's id or a transport key.

    A key that no registered signer has is of unknown provenance: it may be a software
    key, so it is described as simulated and refused unless software targets are allowed.
    """
    with passport.store.read() as conn:
        known = list_signers(conn)
    by_id = {s.id: s for s in known}
    by_key = {s.transport_public_key: s for s in known}
    targets: dict[int, BackupTarget] = {}
    for participant, name in wanted.items():
        if not participant.isdigit() or int(participant) > 254:
            raise BadRequestError(f"backup target {participant!r}: not a participant number")
        targets[int(participant)] = _target(name, by_id, by_key)
    return targets


def _target(
    name: str, by_id: Mapping[str, SignerRecord], by_key: Mapping[str, SignerRecord]
) -> BackupTarget:
    signer = by_id.get(name) or by_key.get(name.lower())
    if signer is not None:
        return BackupTarget(
            bytes.fromhex(signer.transport_public_key),
            signer.provider_kind,
            signer.simulated,
            signer.id,
        )
    try:
        key = bytes.fromhex(name)
    except ValueError:
        key = b""
    if not key or len(name) > _MAX_TRANSPORT_KEY_HEX:
        raise BadRequestError(
            f"backup target {name[:80]!r} is neither a registered signer nor a transport key "
            "(hex): `nostr-passport signer list` shows both"
        )
    return BackupTarget(key, "unregistered", True, f"unregistered key {key_fingerprint(key)}")


def signers(passport: Any, principal: Principal, request_id: str) -> list[SignerRecord]:
    passport.authorize(principal, access.SIGNER_LIST, request_id)
    with passport.store.read() as conn:
        return list_signers(conn)


def rotate_kek(
    passport: Any,
    ceremonies: Ceremonies,
    principal: Principal,
    signer_ids: Sequence[str] | None,
    request_id: str,
) -> dict[str, KekRotation]:
    """New KEK in each signer's HSM, every share and nonce rewrapped, the old KEK destroyed.

    Destroying KEKs is a `destroy_kek` ceremony from two admins on; asked directly, that
    answers ceremony_required (after the caller was found to be allowed at all)."""
    passport.authorize(principal, access.SIGNER_KEK_ROTATE, request_id, system_tenant_only=True)
    ceremonies.require_ceremony(principal, DESTROY_KEK)
    ctx = LifecycleContext.of(passport)
    if signer_ids is not None:
        unknown = sorted(set(signer_ids) - set(ctx.pool.ids))
        if unknown or not signer_ids:
            raise BadRequestError(f"unknown signers: {', '.join(unknown) or '(none given)'}")
    return rotate_keks(ctx, signer_ids, actor=principal.actor, request_id=request_id)
