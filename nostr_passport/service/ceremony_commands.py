"""Ceremonies as JSON-ready dicts: what the HTTP routes render and the CLI prints.

`nostr-passport ceremony propose|list|show|approve|reject|execute` call these with the
Ceremonies service and the principal of the admin's own token (a data directory is not an
approval: every step needs the token of the admin taking it).
"""

from __future__ import annotations

from typing import Any

from .access import Principal
from .ceremonies import Ceremonies, CeremonyView, ExecutionOutcome


def ceremony_json(view: CeremonyView) -> dict[str, Any]:
    return {
        "id": view.id,
        "tenant": view.tenant,
        "operation": view.operation,
        "params": view.params,
        "params_hash": view.params_hash,
        "required": view.required,
        "approvals": view.approval_count,
        "approved_by": [
            {"token_id": a.approver, "approved_at": a.approved_at, "counts": a.counts}
            for a in view.approvals
        ],
        "status": view.status,
        "proposed_by": view.proposed_by,
        "created_at": view.created_at,
        "expires_at": view.expires_at,
        "decided_at": view.decided_at,
        "decided_by": view.decided_by,
        "result": view.result,
    }


def execution_json(outcome: ExecutionOutcome) -> dict[str, Any]:
    """The executed ceremony and the operation's result, including its once-only part."""
    return {
        "ceremony": ceremony_json(outcome.ceremony),
        "result": {**outcome.result.public, **outcome.result.once},
    }


def ceremony_propose(
    ceremonies: Ceremonies,
    principal: Principal,
    operation: str,
    params: object,
    *,
    ttl_seconds: int | None = None,
    request_id: str = "",
) -> dict[str, Any]:
    return ceremony_json(
        ceremonies.propose(
            principal, operation, params, ttl_seconds=ttl_seconds, request_id=request_id
        )
    )


def ceremony_list(
    ceremonies: Ceremonies, principal: Principal, *, status: str | None = None
) -> dict[str, Any]:
    return {"ceremonies": [ceremony_json(v) for v in ceremonies.visible(principal, status=status)]}


def ceremony_show(ceremonies: Ceremonies, principal: Principal, ceremony_id: str) -> dict[str, Any]:
    return ceremony_json(ceremonies.ceremony(principal, ceremony_id))


def ceremony_approve(
    ceremonies: Ceremonies,
    principal: Principal,
    ceremony_id: str,
    *,
    params_hash: str | None = None,
    request_id: str = "",
) -> dict[str, Any]:
    return ceremony_json(
        ceremonies.approve(
            principal, ceremony_id, expected_params_hash=params_hash, request_id=request_id
        )
    )


def ceremony_reject(
    ceremonies: Ceremonies,
    principal: Principal,
    ceremony_id: str,
    *,
    reason: str | None = None,
    request_id: str = "",
) -> dict[str, Any]:
    return ceremony_json(
        ceremonies.reject(principal, ceremony_id, reason=reason, request_id=request_id)
    )


def ceremony_execute(
    ceremonies: Ceremonies,
    principal: Principal,
    ceremony_id: str,
    *,
    material: str | None = None,
    request_id: str = "",
) -> dict[str, Any]:
    """Execute; `material` (an import's nsec/ncryptsec...) is hashed as its UTF-8 bytes."""
    raw = None if material is None else material.encode("utf-8")
    return execution_json(
        ceremonies.execute(principal, ceremony_id, material=raw, request_id=request_id)
    )
