"""Operations: Prometheus metrics and the cost report (docs/operations.md).

Both are installation-wide (every tenant's traffic, every signer), so only tokens of the
system tenant with role admin, operator or auditor may read them; a refusal is audited
as denied like any other.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from nostr_passport.ops import gateway as ops
from nostr_passport.ops.metrics import CONTENT_TYPE
from nostr_passport.service.access import OPS_METRICS

from .request import passport_of, principal_of, request_id_of

router = APIRouter(tags=["operations"])


async def _authorized(request: Request) -> None:
    principal = await principal_of(request)
    passport = passport_of(request)
    await run_in_threadpool(
        lambda: passport.authorize(
            principal, OPS_METRICS, request_id_of(request), system_tenant_only=True
        )
    )


def _metrics_of(request: Request) -> ops.OpsMetrics:
    metrics: ops.OpsMetrics = request.app.state.ops_metrics
    return metrics


@router.get(
    "/metrics",
    summary="Prometheus metrics, text format 0.0.4 (admin, operator, auditor)",
    response_class=Response,
)
async def metrics(request: Request) -> Response:
    await _authorized(request)
    text = await run_in_threadpool(ops.scrape, passport_of(request), _metrics_of(request))
    return Response(text, media_type=CONTENT_TYPE)


@router.get("/v1/ops/cost", summary="Estimated HSM cost per operation since start")
async def cost(request: Request) -> dict[str, Any]:
    await _authorized(request)
    return await run_in_threadpool(ops.report, passport_of(request), _metrics_of(request))
