"""Ceremony routes: propose, list, show, approve, reject, execute (M-of-N admin approvals)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from nostr_passport.service.ceremonies import Ceremonies
from nostr_passport.service.ceremony_commands import (
    ceremony_approve,
    ceremony_execute,
    ceremony_list,
    ceremony_propose,
    ceremony_reject,
    ceremony_show,
)

from .request import json_body, passport_of, principal_of, request_id_of, validated

router = APIRouter(prefix="/v1/ceremonies", tags=["ceremonies"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ProposeCeremonyBody(_Body):
    operation: StrictStr = Field(min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, description="public parameters only")
    ttl_seconds: StrictInt | None = Field(default=None, description="default: the policy's")


class ApproveCeremonyBody(_Body):
    params_hash: StrictStr | None = Field(
        default=None,
        max_length=64,
        description="refuse unless the ceremony's params hash is this one",
    )


class RejectCeremonyBody(_Body):
    reason: StrictStr | None = Field(default=None, max_length=500)


class ExecuteCeremonyBody(_Body):
    material: StrictStr | None = Field(
        default=None, description="for operations approved by material_sha256 (its UTF-8)"
    )


BODY_MODELS: tuple[type[BaseModel], ...] = (
    ProposeCeremonyBody,
    ApproveCeremonyBody,
    RejectCeremonyBody,
    ExecuteCeremonyBody,
)


def _body_schema(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """openapi_extra for a body parsed after authentication; the schema inline, so this
    router documents itself wherever it is mounted."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def ceremonies_of(request: Request) -> Ceremonies:
    """The app's Ceremonies service (made on first use over the app's Passport)."""
    found = getattr(request.app.state, "ceremonies", None)
    if isinstance(found, Ceremonies):
        return found
    made = Ceremonies(passport_of(request))
    request.app.state.ceremonies = made
    return made


async def _optional_body(request: Request) -> Any:
    """Approve, reject and execute may be posted without a body."""
    raw = await request.body()
    return {} if not raw.strip() else await json_body(request)


@router.post(
    "",
    status_code=201,
    summary="Propose a sensitive operation (counts as the proposer's approval)",
    openapi_extra=_body_schema(ProposeCeremonyBody),
)
async def propose(request: Request) -> JSONResponse:
    principal = await principal_of(request)
    body = validated(ProposeCeremonyBody, await json_body(request))
    ceremonies = ceremonies_of(request)
    data = await run_in_threadpool(
        lambda: ceremony_propose(
            ceremonies,
            principal,
            body.operation,
            body.params,
            ttl_seconds=body.ttl_seconds,
            request_id=request_id_of(request),
        )
    )
    return JSONResponse(data, status_code=201)


@router.get("", summary="List this tenant's ceremonies (admins and auditors)")
async def list_ceremonies(
    request: Request, status: str | None = Query(default=None, max_length=16)
) -> dict[str, Any]:
    principal = await principal_of(request)
    ceremonies = ceremonies_of(request)
    return await run_in_threadpool(lambda: ceremony_list(ceremonies, principal, status=status))


@router.get("/{ceremony_id}", summary="Show a ceremony")
async def show(request: Request, ceremony_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    ceremonies = ceremonies_of(request)
    return await run_in_threadpool(lambda: ceremony_show(ceremonies, principal, ceremony_id))


@router.post(
    "/{ceremony_id}/approve",
    summary="Approve with this admin token (one token counts once)",
    openapi_extra=_body_schema(ApproveCeremonyBody, required=False),
)
async def approve(request: Request, ceremony_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    body = validated(ApproveCeremonyBody, await _optional_body(request))
    ceremonies = ceremonies_of(request)
    return await run_in_threadpool(
        lambda: ceremony_approve(
            ceremonies,
            principal,
            ceremony_id,
            params_hash=body.params_hash,
            request_id=request_id_of(request),
        )
    )


@router.post(
    "/{ceremony_id}/reject",
    summary="Reject (veto) an open ceremony",
    openapi_extra=_body_schema(RejectCeremonyBody, required=False),
)
async def reject(request: Request, ceremony_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    body = validated(RejectCeremonyBody, await _optional_body(request))
    ceremonies = ceremonies_of(request)
    return await run_in_threadpool(
        lambda: ceremony_reject(
            ceremonies,
            principal,
            ceremony_id,
            reason=body.reason,
            request_id=request_id_of(request),
        )
    )


@router.post(
    "/{ceremony_id}/execute",
    summary="Run the operation once its quorum is reached (result shown once)",
    openapi_extra=_body_schema(ExecuteCeremonyBody, required=False),
)
async def execute(request: Request, ceremony_id: str) -> JSONResponse:
    principal = await principal_of(request)
    body = validated(ExecuteCeremonyBody, await _optional_body(request))
    ceremonies = ceremonies_of(request)
    data = await run_in_threadpool(
        lambda: ceremony_execute(
            ceremonies,
            principal,
            ceremony_id,
            material=body.material,
            request_id=request_id_of(request),
        )
    )
    # The result may hold a secret shown once (a new token): never cache it.
    return JSONResponse(data, headers={"Cache-Control": "no-store"})
