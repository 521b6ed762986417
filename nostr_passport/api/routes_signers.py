"""Signer routes: list the signers (with their transport keys), rotate their KEKs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from nostr_passport.service import lifecycle_ops

from .models import RotateKekBody
from .render import kek_rotations_json, signer_json
from .request import body_schema, json_body, passport_of, principal_of, request_id_of, validated
from .routes_ceremonies import ceremonies_of

router = APIRouter(prefix="/v1/signers", tags=["signers"])


@router.get("", summary="Registered signers, their HSMs and transport keys (backup targets)")
async def list_signers(request: Request) -> dict[str, Any]:
    principal = await principal_of(request)
    passport = passport_of(request)
    records = await run_in_threadpool(
        lifecycle_ops.signers, passport, principal, request_id_of(request)
    )
    return {"signers": [signer_json(r) for r in records]}


@router.post(
    "/rotate-kek",
    summary="New KEK per signer, every share rewrapped, the old KEK destroyed (admin)",
    openapi_extra=body_schema(RotateKekBody),
)
async def rotate_kek(request: Request) -> dict[str, Any]:
    principal = await principal_of(request)
    raw = await request.body()
    body = validated(RotateKekBody, {} if not raw.strip() else await json_body(request))
    passport = passport_of(request)
    ceremonies = ceremonies_of(request)

    def run() -> dict[str, Any]:
        done = lifecycle_ops.rotate_kek(
            passport, ceremonies, principal, body.signers, request_id_of(request)
        )
        return kek_rotations_json(done)

    return await run_in_threadpool(run)
