"""Liveness and readiness probes (no authentication; no secrets in the replies)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .render import readiness_json
from .request import passport_of

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz", summary="Store reachable and at least t signers healthy")
async def readyz(request: Request) -> JSONResponse:
    report = await run_in_threadpool(passport_of(request).readiness)
    return JSONResponse(readiness_json(report), status_code=200 if report.ready else 503)
