"""The executors this package ships: delete an identity, create an admin token.

Both call the Passport's own methods as the executing admin, so the operation is checked
and audited exactly as when called directly (its records carry the execute request id,
which links them to the ceremony's records). Other modules register theirs the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nostr_passport.errors import BadRequestError

from .ceremony_registry import (
    CREATE_ADMIN_TOKEN,
    DELETE_IDENTITY,
    CeremonyRegistry,
    Execution,
    ExecutionResult,
    register_executor,
)

MAX_TOKEN_LIFETIME = 10 * 365 * 24 * 3600


def _only(params: Mapping[str, Any], allowed: set[str], operation: str) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadRequestError(f"{operation} does not take params: {', '.join(unknown)}")


def delete_identity_params(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, {"identity_id", "force"}, DELETE_IDENTITY)
    identity_id = params.get("identity_id")
    if not isinstance(identity_id, str) or not 1 <= len(identity_id) <= 64:
        raise BadRequestError("params.identity_id must be an identity id")
    force = params.get("force", False)
    if not isinstance(force, bool):
        raise BadRequestError("params.force must be true or false")
    return {"identity_id": identity_id, "force": force}


def run_delete_identity(execution: Execution) -> ExecutionResult:
    report = execution.passport.delete_identity(
        execution.principal,
        str(execution.params["identity_id"]),
        force=bool(execution.params.get("force", False)),
        request_id=execution.request_id,
    )
    return ExecutionResult(
        public={
            "id": report.identity_id,
            "deleted": report.deleted,
            "shares_remaining_at": list(report.shares_remaining_at),
        }
    )


def create_admin_token_params(params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, {"token_name", "expires_in"}, CREATE_ADMIN_TOKEN)
    name = params.get("token_name")
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise BadRequestError("params.token_name must be 1 to 200 characters")
    expires_in = params.get("expires_in")
    if expires_in is not None and (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not 0 < expires_in <= MAX_TOKEN_LIFETIME
    ):
        raise BadRequestError(f"params.expires_in must be 1 to {MAX_TOKEN_LIFETIME} seconds")
    return {"token_name": name, "expires_in": expires_in}


def run_create_admin_token(execution: Execution) -> ExecutionResult:
    """A new admin token of the ceremony's tenant; the token goes back to the executor once."""
    passport = execution.passport
    expires_in = execution.params.get("expires_in")
    issued = passport.create_token(
        execution.principal,
        name=str(execution.params["token_name"]),
        role="admin",
        expires_at=None if expires_in is None else passport.now() + int(expires_in),
        tenant=execution.tenant_id,
        request_id=execution.request_id,
    )
    view = issued.view
    return ExecutionResult(
        public={
            "token_id": view.id,
            "name": view.name,
            "role": view.role,
            "tenant": view.tenant,
            "expires_at": view.expires_at,
        },
        once={"token": issued.token},
    )


def register_builtin_executors(registry: CeremonyRegistry) -> None:
    """Register delete_identity and create_admin_token (idempotent)."""
    register_executor(
        DELETE_IDENTITY,
        run_delete_identity,
        check_params=delete_identity_params,
        identity_param="identity_id",
        registry=registry,
    )
    register_executor(
        CREATE_ADMIN_TOKEN,
        run_create_admin_token,
        check_params=create_admin_token_params,
        registry=registry,
    )
