"""NIP-46 bunker routes: URIs, nostrconnect, connections, approvals, nostr.json.

JSON API (bearer token of someone who may use the identity):

    POST   /v1/identities/{id}/bunker/uri                      a bunker:// URI (secret shown once)
    POST   /v1/identities/{id}/bunker/nostrconnect             accept a nostrconnect:// URI
    GET    /v1/identities/{id}/bunker/connections              app connections and grants
    DELETE /v1/identities/{id}/bunker/connections/{client}     revoke one
    GET    /v1/identities/{id}/bunker/requests                 requests waiting for approval
    GET    /v1/bunker/requests/{request_id}                    one of them
    POST   /v1/bunker/requests/{request_id}                    decide: once|always|for|deny

Browser pages (the auth_url a NIP-46 app shows its user): GET /bunker/auth/{request_id}
and its form's POST; the token comes from the Authorization header, `?token=` or the
form. And GET /.well-known/nostr.json (public).

`install_bunker(app, runtime)` mounts these and runs the bunker in the app's lifespan.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from nostr_passport.errors import AuthenticationError, BadRequestError, PassportError
from nostr_passport.service.access import Principal
from nostr_passport.service.bunker.admin import BunkerAdmin, PendingView
from nostr_passport.service.bunker.runtime import BunkerRuntime

from .errors import status_of
from .request import body_schema, json_body, passport_of, principal_of, request_id_of, validated

router = APIRouter(tags=["bunker"])
MAX_FORM_BYTES = 16 * 1024


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class BunkerUriBody(_Body):
    relays: list[StrictStr] = Field(default_factory=list, max_length=16)
    perms: StrictStr | None = Field(default=None, max_length=4096, examples=["sign_event:1"])
    expires_in: StrictInt | None = Field(default=None, gt=0, description="secret validity, s")
    grant_ttl: StrictInt | None = Field(default=None, gt=0, description="connect grants last, s")
    grant_uses: StrictInt | None = Field(default=None, gt=0, description="uses per grant")


class NostrConnectBody(_Body):
    uri: StrictStr = Field(max_length=8192)
    perms: StrictStr | None = Field(default=None, max_length=4096)
    grant_ttl: StrictInt | None = Field(default=None, gt=0)
    grant_uses: StrictInt | None = Field(default=None, gt=0)


class DecisionBody(_Body):
    decision: StrictStr = Field(description="once | always | for | deny")
    seconds: StrictInt | None = Field(default=None, gt=0, description="with decision 'for'")


def admin_of(request: Request) -> BunkerAdmin:
    runtime: BunkerRuntime = request.app.state.bunker
    return runtime.admin


# ---------------------------------------------------------------- JSON API


@router.post(
    "/v1/identities/{identity_id}/bunker/uri",
    status_code=201,
    summary="A fresh bunker:// URI with a one-time secret (shown in this reply only)",
    openapi_extra=body_schema(BunkerUriBody),
)
async def bunker_uri(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    raw = await request.body()
    body = validated(BunkerUriBody, await json_body(request) if raw.strip() else {})
    admin = admin_of(request)
    issued = await run_in_threadpool(
        lambda: admin.issue_uri(
            principal,
            identity_id,
            relays=body.relays,
            perms=body.perms,
            expires_in=body.expires_in,
            grant_ttl=body.grant_ttl,
            grant_uses=body.grant_uses,
            request_id=request_id_of(request),
        )
    )
    return asdict(issued)


@router.post(
    "/v1/identities/{identity_id}/bunker/nostrconnect",
    status_code=201,
    summary="Connect an app from its nostrconnect:// URI (sends it our connect reply)",
    openapi_extra=body_schema(NostrConnectBody),
)
async def bunker_nostrconnect(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    body = validated(NostrConnectBody, await json_body(request))
    admin = admin_of(request)
    view = await run_in_threadpool(
        lambda: admin.accept_nostrconnect(
            principal,
            identity_id,
            body.uri,
            perms=body.perms,
            grant_ttl=body.grant_ttl,
            grant_uses=body.grant_uses,
            request_id=request_id_of(request),
        )
    )
    return asdict(view)


@router.get(
    "/v1/identities/{identity_id}/bunker/connections",
    summary="App connections of an identity, with the grants in force",
)
async def bunker_connections(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    admin = admin_of(request)
    views = await run_in_threadpool(lambda: admin.connections(principal, identity_id))
    return {"connections": [asdict(v) for v in views]}


@router.delete(
    "/v1/identities/{identity_id}/bunker/connections/{client_pubkey}",
    summary="Revoke an app connection (its grants go with it)",
)
async def bunker_revoke(request: Request, identity_id: str, client_pubkey: str) -> dict[str, Any]:
    principal = await principal_of(request)
    admin = admin_of(request)
    view = await run_in_threadpool(
        lambda: admin.revoke(
            principal, identity_id, client_pubkey, request_id=request_id_of(request)
        )
    )
    return asdict(view)


@router.get(
    "/v1/identities/{identity_id}/bunker/requests",
    summary="Requests of apps waiting for the owner's approval",
)
async def bunker_requests(request: Request, identity_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    admin = admin_of(request)
    views = await run_in_threadpool(lambda: admin.pending(principal, identity_id))
    return {"requests": [asdict(v) for v in views]}


@router.get("/v1/bunker/requests/{request_id}", summary="A request waiting for approval")
async def bunker_request(request: Request, request_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    admin = admin_of(request)
    return asdict(await run_in_threadpool(lambda: admin.approval(principal, request_id)))


@router.post(
    "/v1/bunker/requests/{request_id}",
    summary="Decide on a waiting request; the app then gets its original answer",
    openapi_extra=body_schema(DecisionBody),
)
async def bunker_decide(request: Request, request_id: str) -> dict[str, Any]:
    principal = await principal_of(request)
    body = validated(DecisionBody, await json_body(request))
    admin = admin_of(request)
    view = await run_in_threadpool(
        lambda: admin.decide(
            principal,
            request_id,
            body.decision,
            seconds=body.seconds,
            audit_request_id=request_id_of(request),
        )
    )
    return asdict(view)


# ---------------------------------------------------------------- nostr.json


@router.get("/.well-known/nostr.json", summary="NIP-05 names and NIP-46 relays (public)")
async def nostr_json(request: Request, name: str | None = None) -> JSONResponse:
    runtime: BunkerRuntime = request.app.state.bunker
    document = await run_in_threadpool(lambda: runtime.nostr_json(name))
    # NIP-05: web clients fetch this cross-origin.
    return JSONResponse(document, headers={"Access-Control-Allow-Origin": "*"})


# ---------------------------------------------------------------- approval pages

_PAGE_HEADERS = {
    # The token may sit in this page's URL: keep it out of referrers and caches.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}"
    "pre{white-space:pre-wrap;background:#f4f4f4;padding:.5rem}"
    "button{margin:.25rem .25rem .25rem 0;padding:.4rem .8rem}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(text, status_code=status, headers=_PAGE_HEADERS)


def _token_form(request_id: str, message: str = "") -> str:
    note = f"<p>{html.escape(message)}</p>" if message else ""
    return (
        f"{note}<p>Sign in with an API token that may use this identity.</p>"
        f"<form method='get' action='/bunker/auth/{quote(request_id)}'>"
        "<input type='password' name='token' autocomplete='off' size='50'> "
        "<button type='submit'>Continue</button></form>"
    )


def _describe(view: PendingView) -> str:
    what = view.method if view.kind is None else f"{view.method} (kind {view.kind})"
    app = view.client_name or "an app"
    rows = [
        f"<p><b>{html.escape(app)}</b> (key <code>{html.escape(view.client_pubkey)}</code>) "
        f"asks to <b>{html.escape(what)}</b> with identity "
        f"<code>{html.escape(view.identity_id)}</code>.</p>"
    ]
    if view.preview:
        preview = json.dumps(view.preview, ensure_ascii=False, indent=2)
        rows.append(f"<p>The event:</p><pre>{html.escape(preview)}</pre>")
    return "".join(rows)


def _decision_form(view: PendingView, token: str) -> str:
    hidden = f"<input type='hidden' name='token' value='{html.escape(token, quote=True)}'>"
    action = f"/bunker/auth/{quote(view.id)}"
    return (
        f"<form method='post' action='{action}'>{hidden}"
        "<button name='decision' value='once'>Allow once</button>"
        "<button name='decision' value='always'>Always allow</button>"
        "<button name='decision' value='deny'>Deny</button></form>"
        f"<form method='post' action='{action}'>{hidden}"
        "<input type='hidden' name='decision' value='for'>"
        "Allow for <input type='number' name='seconds' value='3600' min='1'> seconds "
        "<button type='submit'>Allow</button></form>"
    )


def _bearer_or(request: Request, token: str | None) -> str | None:
    header = request.headers.get("authorization")
    if header:
        return header
    return f"Bearer {token}" if token else None


async def _principal(request: Request, token: str | None) -> Principal:
    authorization = _bearer_or(request, token)
    if authorization is None:
        raise AuthenticationError("missing token")
    passport = passport_of(request)
    return await run_in_threadpool(passport.authenticate, authorization)


def _error_page(exc: Exception, request_id: str) -> HTMLResponse:
    status = status_of(exc)
    if status == 401:
        return _page("Approve a request", _token_form(request_id, "That token was refused."), 401)
    if status >= 500 or not isinstance(exc, PassportError):
        return _page("Error", "<p>The request could not be handled.</p>", status)
    return _page("Not possible", f"<p>{html.escape(str(exc))}</p>", status)


@router.get("/bunker/auth/{request_id}", response_class=HTMLResponse, include_in_schema=False)
async def auth_page(request: Request, request_id: str, token: str | None = None) -> HTMLResponse:
    if _bearer_or(request, token) is None:
        return _page("Approve a request", _token_form(request_id), 401)
    try:
        principal = await _principal(request, token)
        admin = admin_of(request)
        view = await run_in_threadpool(lambda: admin.approval(principal, request_id))
    except PassportError as exc:
        return _error_page(exc, request_id)
    if view.status != "pending":
        return _page("Approve a request", f"<p>This request is {html.escape(view.status)}.</p>")
    body = _describe(view) + _decision_form(view, token or "")
    return _page("Approve a request", body)


async def _decision_fields(request: Request) -> Mapping[str, str]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise BadRequestError("form too large")
    if request.headers.get("content-type", "").startswith("application/json"):
        data = await json_body(request)
        if not isinstance(data, dict):
            raise BadRequestError("body must be a JSON object")
        return {k: str(v) for k, v in data.items() if isinstance(v, str | int)}
    try:
        form = parse_qs(raw.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise BadRequestError("malformed form") from None
    return {k: v[0] for k, v in form.items() if v}


@router.post("/bunker/auth/{request_id}", response_class=HTMLResponse, include_in_schema=False)
async def auth_decide(request: Request, request_id: str) -> HTMLResponse:
    try:
        fields = await _decision_fields(request)
        token = fields.get("token") or request.query_params.get("token")
        principal = await _principal(request, token)
        seconds_text = fields.get("seconds")
        if seconds_text is not None and not seconds_text.isdigit():
            raise BadRequestError("seconds must be a positive integer")
        seconds = int(seconds_text) if seconds_text else None
        decision = fields.get("decision", "")
        admin = admin_of(request)
        await run_in_threadpool(
            lambda: admin.decide(
                principal,
                request_id,
                decision,
                seconds=seconds,
                audit_request_id=request_id_of(request),
            )
        )
    except PassportError as exc:
        return _error_page(exc, request_id)
    outcome = "denied" if decision == "deny" else "approved"
    return _page(
        "Done", f"<p>Request {outcome}. The app gets its answer now; you may close this page.</p>"
    )


# ---------------------------------------------------------------- mounting


def install_bunker(app: FastAPI, runtime: BunkerRuntime) -> None:
    """Mount the bunker routes and run the bunker for the app's lifetime."""
    app.state.bunker = runtime
    app.include_router(router)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            await runtime.start()
            try:
                yield state
            finally:
                await runtime.close()

    app.router.lifespan_context = lifespan
