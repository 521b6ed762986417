"""Authorised entry points for lifecycle actions that need no ceremony: refresh, backup.

Refresh keeps the npub and no secret leaves a signer; a backup is sealed to HSM transport
keys and is useless without a restore ceremony. Both are admin/operator actions; the
lifecycle functions write the audit records (with the caller as actor).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nostr_passport.errors import PermissionDeniedError

from .access import Principal, require_identity_scope, require_visible
from .lifecycle.backup import Backup, BackupTarget, backup_identity
from .lifecycle.context import LifecycleContext
from .lifecycle.refresh import RefreshResult, refresh_identity

LIFECYCLE_ROLES = frozenset({"admin", "operator"})


def _authorise(passport: Any, principal: Principal, identity_id: str) -> LifecycleContext:
    if principal.role not in LIFECYCLE_ROLES:
        raise PermissionDeniedError(f"role {principal.role} may not run lifecycle actions")
    require_identity_scope(principal, identity_id)
    ctx = LifecycleContext.of(passport)
    with ctx.store.read() as conn:
        from nostr_passport.store.identities import identity_by_id

        require_visible(principal, identity_by_id(conn, identity_id), identity_id)
    return ctx


def refresh(
    passport: Any, principal: Principal, identity_id: str, request_id: str
) -> RefreshResult:
    ctx = _authorise(passport, principal, identity_id)
    return refresh_identity(ctx, identity_id, actor=principal.actor, request_id=request_id)


def backup(
    passport: Any,
    principal: Principal,
    identity_id: str,
    targets: Mapping[int, BackupTarget],
    *,
    allow_software: bool,
    request_id: str,
) -> Backup:
    ctx = _authorise(passport, principal, identity_id)
    return backup_identity(
        ctx,
        identity_id,
        targets,
        allow_software_targets=allow_software,
        actor=principal.actor,
        request_id=request_id,
        now=int(passport.now()),
    )
