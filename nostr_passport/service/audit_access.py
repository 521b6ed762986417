"""The audit log and attestations as the API and CLI serve them: authorised, tenant-aware.

Reads need `audit.read` (auditor, admin). A tenant's auditor sees its tenant's records;
proofs, consistency and checkpoints speak about the whole log, so they are for the
installation's own tenant only. Creating a checkpoint needs `audit.checkpoint` (admin).

Checkpoints are signed with an HSM key: the attestation key of the first local signer's
provider (DESIGN: the provider's non-extractable P-256 key signs attestations and audit
checkpoints). A gateway whose signers are all remote has no such key and says so.
"""

from __future__ import annotations

from typing import Any

from nostr_passport.errors import ConflictError
from nostr_passport.hsm.provider import HsmProvider
from nostr_passport.signer.local import LocalSigner

from . import access, audit_commands
from .access import Principal
from .audit import iso_time
from .passport import Passport


def audit_provider_of(passport: Passport) -> HsmProvider | None:
    """The HSM provider whose attestation key signs checkpoints: the [audit] provider,
    else (data directories from before it) the first local signer's provider."""
    if passport.audit_provider is not None:
        return passport.audit_provider
    for signer_id in passport.pool.ids:
        client: object = passport.pool.client(signer_id)
        client = getattr(client, "inner", client)  # unwrap the coalescing wrapper
        if isinstance(client, LocalSigner):
            return client.provider
    return None


def _require(
    passport: Passport,
    principal: Principal,
    method: str,
    request_id: str,
    *,
    whole_log: bool = False,
) -> None:
    """Refusals are audited as denied (Passport.authorize); whole-log views and
    checkpoints are for the installation's own tenant only."""
    passport.authorize(principal, method, request_id, system_tenant_only=whole_log)


def records(
    passport: Passport,
    principal: Principal,
    *,
    start: int,
    limit: int,
    identity_id: str | None,
    request_id: str,
    actor: str | None = None,
    since: int | None = None,
    until: int | None = None,
) -> dict[str, Any]:
    """A page of records; `since` (inclusive) and `until` (exclusive) are unix seconds."""
    _require(passport, principal, access.AUDIT_READ, request_id)
    tenant = None if principal.tenant_id == access.SYSTEM_TENANT else principal.tenant_id
    return audit_commands.records_page(
        passport.store,
        start=start,
        limit=limit,
        identity_id=identity_id,
        tenant_id=tenant,
        actor=actor,
        since=None if since is None else iso_time(since),
        until=None if until is None else iso_time(until),
    )


def latest_checkpoint(passport: Passport, principal: Principal, request_id: str) -> dict[str, Any]:
    _require(passport, principal, access.AUDIT_READ, request_id, whole_log=True)
    return audit_commands.latest_checkpoint_view(passport.store)


def proof(
    passport: Passport, principal: Principal, index: int, size: int | None, request_id: str
) -> dict[str, Any]:
    _require(passport, principal, access.AUDIT_READ, request_id, whole_log=True)
    return audit_commands.proof_view(passport.store, index, tree_size=size)


def consistency(
    passport: Passport, principal: Principal, old: int, new: int, request_id: str
) -> dict[str, Any]:
    _require(passport, principal, access.AUDIT_READ, request_id, whole_log=True)
    return audit_commands.consistency_view(passport.store, old, new)


def create_checkpoint(passport: Passport, principal: Principal, request_id: str) -> dict[str, Any]:
    _require(passport, principal, access.AUDIT_CHECKPOINT, request_id, whole_log=True)
    provider = audit_provider_of(passport)
    if provider is None:
        raise ConflictError("no local signer's HSM to sign audit checkpoints with")
    return audit_commands.checkpoint_command(passport.store, provider, log_id=passport.audit_log_id)


def attestation(
    passport: Passport, principal: Principal, identity_id: str, request_id: str
) -> dict[str, Any]:
    passport.authorize(principal, access.IDENTITY_READ, request_id, identity_id)
    passport._visible_identity(principal, identity_id)
    return audit_commands.attestation_view(
        passport.store,
        identity_id,
        audit_provider=audit_provider_of(passport),
        log_id=passport.audit_log_id,
    )
