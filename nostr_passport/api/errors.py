"""The one mapping from our exceptions to HTTP: status code and {"error": code, "message"}."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nostr_passport.crypto.errors import CryptoError
from nostr_passport.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    LifecycleError,
    NotFoundError,
    PassportError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
)
from nostr_passport.nostr.errors import NostrError
from nostr_passport.service.ratelimit import TooManyRequestsError

log = logging.getLogger(__name__)

# Most specific first: several classes inherit from two branches (e.g. KeyInUseError).
STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (PayloadTooLargeError, 413),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (RateLimitedError, 429),
    (UnavailableError, 503),
    (BadRequestError, 400),
    (NostrError, 400),
    # A lifecycle step failed at a signer (its message names which): the identity is as
    # it was, and the operation may be retried. Refusals and conflicts matched above.
    (LifecycleError, 503),
    (ConfigError, 500),
)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def status_of(exc: Exception) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def passport_error_response(exc: Exception) -> JSONResponse:
    status = status_of(exc)
    code = getattr(exc, "code", "bad_request" if status == 400 else "internal_error")
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyRequestsError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if status == 500:
        # Internal details stay in the log; the reply says only that it failed.
        log.error("internal error %s: %s", type(exc).__name__, exc)
        return error_response(500, "internal_error", "internal error", headers)
    return error_response(status, str(code), str(exc), headers)


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    async def on_passport_error(_: Request, exc: Exception) -> JSONResponse:
        return passport_error_response(exc)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(400, "bad_request", validation_message(exc))

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    async def on_crypto_error(_: Request, exc: Exception) -> JSONResponse:
        # Client input is validated before it reaches crypto code; one escaping is a bug.
        log.error("unexpected crypto error %s", type(exc).__name__)
        return error_response(500, "internal_error", "internal error")

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled %s", type(exc).__name__)
        return error_response(500, "internal_error", "internal error")

    app.add_exception_handler(PassportError, on_passport_error)
    app.add_exception_handler(NostrError, on_passport_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(CryptoError, on_crypto_error)
    app.add_exception_handler(Exception, on_unexpected)
