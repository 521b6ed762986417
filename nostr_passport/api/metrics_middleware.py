"""Counts and times every HTTP request by route TEMPLATE (never the raw path).

The route is the one the router matched (scope["route"].path, e.g.
/v1/identities/{identity_id}/sign), so identity ids and other path values never become
label values; requests no route took are counted under "unmatched".
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nostr_passport.ops.gateway import UNMATCHED_ROUTE, OpsMetrics


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: OpsMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception escaping every handler ends as a 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None)
            self.metrics.observe_request(
                str(scope.get("method", "")),
                route if isinstance(route, str) and route else UNMATCHED_ROUTE,
                status,
                time.perf_counter() - start,
            )
