"""Audit log, proofs, checkpoints and attestation bundles (docs/audit.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from nostr_passport.errors import BadRequestError
from nostr_passport.service import audit_access
from nostr_passport.store.canonical import canonical_json_bytes

from .request import passport_of, principal_of, request_id_of

router = APIRouter(tags=["audit"])


@router.get("/v1/audit", summary="Audit records (auditor, admin)")
async def list_records(
    request: Request,
    start: int = Query(0, ge=0, description="first index (the `next` of the previous page)"),
    after: int | None = Query(None, ge=-1, description="only records with index > after"),
    limit: int = Query(100, ge=1, le=1000),
    identity: str | None = Query(None, max_length=64),
    actor: str | None = Query(None, max_length=128, description="token id, cli, ..."),
    since: int | None = Query(None, ge=0, description="unix seconds, inclusive"),
    until: int | None = Query(None, ge=0, description="unix seconds, exclusive"),
) -> dict[str, Any]:
    principal = await principal_of(request)
    first = start if after is None else max(start, after + 1)
    return await run_in_threadpool(
        lambda: audit_access.records(
            passport_of(request),
            principal,
            start=first,
            limit=limit,
            identity_id=identity,
            request_id=request_id_of(request),
            actor=actor,
            since=since,
            until=until,
        )
    )


@router.get("/v1/audit/checkpoints/latest", summary="The latest signed checkpoint")
async def latest_checkpoint(request: Request) -> dict[str, Any]:
    principal = await principal_of(request)
    return await run_in_threadpool(
        audit_access.latest_checkpoint, passport_of(request), principal, request_id_of(request)
    )


@router.post("/v1/audit/checkpoints", summary="Sign a checkpoint now (admin)")
async def create_checkpoint(request: Request) -> dict[str, Any]:
    principal = await principal_of(request)
    return await run_in_threadpool(
        audit_access.create_checkpoint, passport_of(request), principal, request_id_of(request)
    )


@router.get("/v1/audit/proof/{n}", summary="Inclusion proof of record n")
async def inclusion_proof(
    request: Request, n: int, size: int | None = Query(None, ge=1)
) -> dict[str, Any]:
    principal = await principal_of(request)
    return await run_in_threadpool(
        audit_access.proof, passport_of(request), principal, n, size, request_id_of(request)
    )


@router.get("/v1/audit/consistency", summary="Consistency proof between two tree sizes")
async def consistency_proof(
    request: Request,
    old: int | None = Query(None, ge=1, description="the older tree size"),
    new: int | None = Query(None, ge=1, description="the newer tree size"),
    first: int | None = Query(None, ge=1, description="alias of old"),
    second: int | None = Query(None, ge=1, description="alias of new"),
) -> dict[str, Any]:
    principal = await principal_of(request)
    old = old if old is not None else first
    new = new if new is not None else second
    if old is None or new is None:
        raise BadRequestError("give the two tree sizes: old= and new= (or first= and second=)")
    return await run_in_threadpool(
        audit_access.consistency, passport_of(request), principal, old, new, request_id_of(request)
    )


@router.get("/v1/identities/{identity_id}/attestation", summary="Attestation bundle")
async def attestation(request: Request, identity_id: str) -> Response:
    principal = await principal_of(request)
    bundle = await run_in_threadpool(
        audit_access.attestation,
        passport_of(request),
        principal,
        identity_id,
        request_id_of(request),
    )
    # The body is the bundle file itself: canonical JSON, so `curl -o` output verifies.
    return Response(canonical_json_bytes(bundle), media_type="application/json")
