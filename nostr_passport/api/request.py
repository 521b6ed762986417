"""Per-request helpers: request ids, the caller, the JSON body (parsed after auth)."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nostr_passport.errors import AuthenticationError, BadRequestError
from nostr_passport.service import access
from nostr_passport.service.access import Principal
from nostr_passport.service.passport import Passport
from nostr_passport.store.tokens import token_by_id

M = TypeVar("M", bound=BaseModel)
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Takes a caller's X-Request-Id (if well-formed) or makes one; echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for name, value in scope.get("headers", []):
            if name == REQUEST_ID_HEADER.encode():
                given = value.decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else "req_" + secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def passport_of(request: Request) -> Passport:
    passport: Passport = request.app.state.passport
    return passport


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "")) or "req_" + secrets.token_hex(8)


async def principal_of(request: Request) -> Principal:
    """Authenticate before the body is even parsed (401/429 first)."""
    passport = passport_of(request)
    return await run_in_threadpool(passport.authenticate, request.headers.get("authorization"))


async def console_principal_of(request: Request, token_id: str) -> Principal:
    """The cookie path of the operator console (/ops only, routes_console.py).

    The console's server-side session names the id of the token the operator signed in
    with (never the token). Its record is read from the store on every request and
    checked as a bearer token's is (access.principal_of: revoked or expired -> 401), and
    rate limited alike, so a revocation takes effect at once here too.
    """
    passport = passport_of(request)

    def check() -> Principal:
        with passport.store.read() as conn:
            record = token_by_id(conn, token_id)
        if record is None:
            raise AuthenticationError("invalid token")
        principal = access.principal_of(record, passport.now())
        passport.rate_limiter.acquire(principal.token_id)
        return principal

    return await run_in_threadpool(check)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise BadRequestError("request body must be a JSON object")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise BadRequestError("request body is not UTF-8") from None
    except ValueError as exc:
        raise BadRequestError(f"malformed JSON: {exc}") from None


def validated(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            loc = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{loc}: {err['msg']}" if loc else str(err["msg"]))
        raise BadRequestError("; ".join(parts)) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """openapi_extra for a route that parses its body itself (after authentication)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }
