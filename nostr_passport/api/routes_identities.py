"""Identity routes: create, list, show, disable, enable, delete, refresh, backup."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nostr_passport.service import lifecycle_ops

from .models import BackupBody, CreateIdentityBody
from .render import deletion_json, identity_json, refresh_json
from .request import body_schema, json_body, passport_of, principal_of, request_id_of, validated
from .routes_ceremonies import ceremonies_of

router = APIRouter(prefix="/v1/identities", tags=["identities"])


@router.post(
    "",
    status_code=201,
    summary="Create a t-of-n identity (ChillDKG among the signers, or dealer keygen)",
    openapi_extra=body_schema(CreateIdentityBody),
)
async def create_identity(request: Request) -> JSONResponse:
    principal = await principal_of(request)
    body = validated(CreateIdentityBody, await json_body(request))
    passport = passport_of(request)
    view = await run_in_threadpool(
        lambda: passport.create_identity(
            principal,
            threshold=body.threshold,
            participants=body.participants,
            label=body.label,
            keygen=body.keygen,
            request_id=request_id_of(request),
        )
    )
    return JSONResponse(identity_json(view), status_code=201)


@router.get("", summary="List the identities this token can see")
async def list_identities(
    request: Request,
    limit: int = Query(default=100, ge=1, le=1000),
    after: str | None = Query(default=None, max_length=64, description="cursor: last id seen"),
) -> dict[str, Any]:
    principal = await principal_of(request)
    passport = passport_of(request)
    views = await run_in_threadpool(
        lambda: passport.list_identities(principal, limit=limit, after=after)
    )
    items = [identity_json(v, attestations=False) for v in views]
    return {"identities": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.get("/{identity_id}", summary="Show an identity, with its attestations")
async def show_identity(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    passport = passport_of(request)
    view = await run_in_threadpool(passport.identity, principal, identity_id)
    return identity_json(view)


@router.post("/{identity_id}/disable", summary="Disable an identity (signs nothing until enabled)")
async def disable_identity(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    passport = passport_of(request)
    view = await run_in_threadpool(
        passport.set_status, principal, identity_id, "disabled", request_id_of(request)
    )
    return identity_json(view)


@router.post("/{identity_id}/enable", summary="Enable a disabled identity")
async def enable_identity(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    passport = passport_of(request)
    view = await run_in_threadpool(
        passport.set_status, principal, identity_id, "active", request_id_of(request)
    )
    return identity_json(view)


@router.delete("/{identity_id}", summary="Delete an identity and its shares (admin)")
async def delete_identity(
    request: Request,
    identity_id: str,
    force: bool = Query(default=False, description="delete even if a signer cannot confirm"),
) -> dict[str, Any]:
    principal = await principal_of(request)
    passport = passport_of(request)
    ceremonies = ceremonies_of(request)
    await run_in_threadpool(lambda: ceremonies.require_ceremony(principal, "delete_identity"))
    report = await run_in_threadpool(
        lambda: passport.delete_identity(
            principal, identity_id, force=force, request_id=request_id_of(request)
        )
    )
    return deletion_json(report)


@router.post(
    "/{identity_id}/refresh",
    summary="Refresh every share (same npub; the old shares stop working)",
)
async def refresh_identity(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    passport = passport_of(request)
    result = await run_in_threadpool(
        lifecycle_ops.refresh, passport, principal, identity_id, request_id_of(request)
    )
    return refresh_json(result)


@router.post(
    "/{identity_id}/backup",
    summary="Back up shares sealed to other HSMs' transport keys (never in the clear)",
    openapi_extra=body_schema(BackupBody),
)
async def backup_identity(request: Request, identity_id: str) -> JSONResponse:
    principal = await principal_of(request)
    body = validated(BackupBody, await json_body(request))
    passport = passport_of(request)

    def run() -> bytes:
        backup = lifecycle_ops.backup(
            passport,
            principal,
            identity_id,
            body.to,
            allow_software=body.allow_software,
            request_id=request_id_of(request),
        )
        return backup.to_json()

    document = await run_in_threadpool(run)
    return JSONResponse(json.loads(document))
