"""Our exceptions on the signer's HTTP wire: status + {"error": code, "message"} and back.

The server renders any `PassportError` by its `code`; the client raises the class with
that code again, so a gateway talking to an HTTP signer sees the same exceptions as one
calling a LocalSigner in-process.
"""

from __future__ import annotations

from typing import Any

from nostr_passport.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    HsmError,
    NotFoundError,
    PassportError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
)

# Most specific first: some classes have two bases (KeyInUseError is HSM and conflict).
STATUS_BY_ERROR: tuple[tuple[type[PassportError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (RateLimitedError, 429),
    (UnavailableError, 503),
    (BadRequestError, 400),
    (HsmError, 502),
)

_BASE_BY_STATUS: dict[int, type[PassportError]] = {s: c for c, s in STATUS_BY_ERROR}


def status_of(exc: BaseException) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(exc: BaseException) -> dict[str, Any]:
    """The JSON reply for `exc`. Anything not ours is an opaque internal error."""
    if isinstance(exc, PassportError):
        return {"error": exc.code, "message": str(exc)}
    return {"error": PassportError.code, "message": "internal error in the signer"}


def _all_error_classes() -> dict[str, type[PassportError]]:
    found: dict[str, type[PassportError]] = {}
    pending: list[type[PassportError]] = [PassportError]
    while pending:
        cls = pending.pop(0)
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def exception_from_reply(status: int, code: object, message: object) -> PassportError:
    """The exception the server raised, rebuilt from its reply.

    An unknown code becomes the base class its status stands for, keeping the message.
    """
    text = message if isinstance(message, str) else "signer error"
    cls = _all_error_classes().get(code) if isinstance(code, str) else None
    if cls is not None:
        try:
            return cls(text)
        except TypeError:  # a class with its own constructor: fall back to its family
            pass
    return _BASE_BY_STATUS.get(status, PassportError)(text)
