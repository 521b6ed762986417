"""API token routes: create (shown once), list, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nostr_passport.errors import BadRequestError
from nostr_passport.store.tokens import TokenScopes

from .models import CreateTokenBody
from .render import issued_token_json, token_json
from .request import body_schema, json_body, passport_of, principal_of, request_id_of, validated
from .routes_ceremonies import ceremonies_of

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])


@router.post(
    "",
    status_code=201,
    summary="Create an API token (the token is in this reply only)",
    openapi_extra=body_schema(CreateTokenBody),
)
async def create_token(request: Request) -> JSONResponse:
    principal = await principal_of(request)
    body = validated(CreateTokenBody, await json_body(request))
    passport = passport_of(request)
    if body.expires_in is not None and body.expires_at is not None:
        raise BadRequestError("give expires_in or expires_at, not both")
    expires_at = body.expires_at
    if body.expires_in is not None:
        expires_at = passport.now() + body.expires_in
    scopes = TokenScopes(
        identities=None if body.scopes.identities is None else tuple(body.scopes.identities),
        methods=None if body.scopes.methods is None else tuple(body.scopes.methods),
        kinds=None if body.scopes.kinds is None else tuple(body.scopes.kinds),
    )
    if body.role == "admin":
        ceremonies = ceremonies_of(request)
        await run_in_threadpool(
            lambda: ceremonies.require_ceremony(principal, "create_admin_token")
        )
    issued = await run_in_threadpool(
        lambda: passport.create_token(
            principal,
            name=body.name,
            role=body.role,
            scopes=scopes,
            expires_at=expires_at,
            tenant=body.tenant,
            request_id=request_id_of(request),
        )
    )
    return JSONResponse(
        issued_token_json(issued), status_code=201, headers={"Cache-Control": "no-store"}
    )


@router.get("", summary="List tokens of this tenant (metadata only)")
async def list_tokens(request: Request) -> dict[str, Any]:
    principal = await principal_of(request)
    passport = passport_of(request)
    views = await run_in_threadpool(passport.list_tokens, principal)
    return {"tokens": [token_json(v) for v in views]}


@router.delete("/{token_id}", summary="Revoke a token")
async def revoke_token(request: Request, token_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    passport = passport_of(request)
    view = await run_in_threadpool(
        lambda: passport.revoke_token(principal, token_id, request_id=request_id_of(request))
    )
    return token_json(view)
