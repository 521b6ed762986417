"""The operator console: a small read-mostly web page at /ops (DESIGN section 5).

    GET  /ops                                 the console (or the sign-in form)
    POST /ops/login                           sign in with an API token (form field `token`)
    POST /ops/logout                          end the session
    POST /ops/ceremonies/{id}/approve         approve, pinned to the params hash shown
    POST /ops/ceremonies/{id}/reject          reject (veto)

Sessions are server-side. Signing in checks the pasted token exactly as the API does
(Passport.authenticate); the server then keeps, in memory, a random session id mapped to
the token's *id* and a per-session CSRF token. The browser holds only the session id, in
an HttpOnly, SameSite=Strict, path=/ops cookie (Secure when served over https). The token
itself is never stored, put in a URL, a page or a cookie. Every request reloads the
token's record from the store (request.console_principal_of): a revoked or expired token
is refused at once, and the page shows only what the token's role may see, through the
same service calls (and Passport.authorize checks) as the API.

Sessions end after IDLE_SECONDS without a request, MAX_SECONDS after sign-in, at sign-out,
at a restart, or when their token stops working. They live in this process: with several
gateway processes behind one address, route /ops to one of them (or sign in again).

Every POST except sign-in carries the session's CSRF token (a hidden field, compared in
constant time) and is refused (403) without it; every POST is also refused when the
browser says it comes from another site (Sec-Fetch-Site: cross-site / same-site).
These pages are not API: they are left out of the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from nostr_passport.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PassportError,
    PermissionDeniedError,
)
from nostr_passport.service import access, audit_access, lifecycle_ops
from nostr_passport.service.access import Principal
from nostr_passport.service.ceremony_commands import ceremony_approve, ceremony_reject

from . import console_html as ui
from .errors import status_of
from .request import console_principal_of, passport_of, request_id_of
from .routes_ceremonies import ceremonies_of

router = APIRouter(tags=["console"], include_in_schema=False)

COOKIE = "ops_session"
COOKIE_PATH = "/ops"
IDLE_SECONDS = 30 * 60
MAX_SECONDS = 8 * 3600
MAX_SESSIONS = 1000
MAX_FORM_BYTES = 8 * 1024
IDENTITIES_PER_PAGE = 100
AUDIT_RECORDS = 50
# A non-system tenant's records are searched for among this many latest log entries.
AUDIT_WINDOW = 1000
_MAX_ID = 64


# ---------------------------------------------------------------- sessions


@dataclass
class Session:
    token_id: str
    csrf: str
    created_at: float
    last_seen: float = field(default=0.0)


class ConsoleSessions:
    """Session id -> (token id, CSRF token), in memory; keyed by the id's SHA-256."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    @staticmethod
    def _key(session_id: str) -> str:
        return hashlib.sha256(session_id.encode("utf-8")).hexdigest()

    def create(self, token_id: str) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(token_id, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._sessions[self._key(session_id)] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)  # the oldest sign-in goes first
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > 128:
            return None
        key = self._key(session_id)
        now = self._clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if now - session.last_seen > IDLE_SECONDS or now - session.created_at > MAX_SECONDS:
                del self._sessions[key]
                return None
            session.last_seen = now
            return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._sessions.pop(self._key(session_id), None)


def sessions_of(request: Request) -> ConsoleSessions:
    found = getattr(request.app.state, "console_sessions", None)
    if isinstance(found, ConsoleSessions):
        return found
    made = ConsoleSessions()
    request.app.state.console_sessions = made
    return made


def _set_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=MAX_SECONDS,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _clear_cookie(request: Request, response: Response) -> Response:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


# ---------------------------------------------------------------- request checks


class CsrfError(PermissionDeniedError):
    """A console POST without its session's CSRF token, or from another site."""


def _same_origin(request: Request) -> None:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise CsrfError("cross-site form posts are refused")


async def _form(request: Request) -> Mapping[str, str]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise BadRequestError("form too large")
    try:
        form = parse_qs(raw.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise BadRequestError("malformed form") from None
    return {k: v[0] for k, v in form.items() if v}


def _check_csrf(session: Session, fields: Mapping[str, str]) -> None:
    given = fields.get("csrf", "")
    if not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise CsrfError("missing or wrong CSRF token: reload the console and try again")


@dataclass(frozen=True)
class Caller:
    session_id: str
    session: Session
    principal: Principal


async def _caller(request: Request) -> Caller | None:
    """The signed-in caller; None without a live session; AuthenticationError (and the
    session ended) when its token no longer works."""
    session_id = request.cookies.get(COOKIE)
    sessions = sessions_of(request)
    session = sessions.get(session_id)
    if session is None or session_id is None:
        return None
    try:
        principal = await console_principal_of(request, session.token_id)
    except AuthenticationError:
        sessions.end(session_id)
        raise
    if principal.role == "app":
        raise PermissionDeniedError("app tokens have no console")
    return Caller(session_id, session, principal)


def _who(principal: Principal) -> str:
    return f"{principal.token_id} ({principal.role}, tenant {principal.tenant_id})"


def _error_page(request: Request, exc: Exception, caller: Caller | None = None) -> Response:
    status = status_of(exc)
    if status == 401:
        page = ui.page(ui.login_form("That token was refused."), status=401)
        return _clear_cookie(request, page)
    if status >= 500 or not isinstance(exc, PassportError):
        body = ui.message("The request could not be handled.")
    else:
        body = ui.message(str(exc))
    if caller is None:
        return ui.page(body, status=status)
    return ui.page(body, status=status, who=_who(caller.principal), csrf=caller.session.csrf)


# ---------------------------------------------------------------- the console


def _may(principal: Principal, method: str) -> bool:
    """Would the API let this token `method`? (Asked before calling, so a page view does
    not audit a denial per hidden section; the service call then authorizes for real.)"""
    try:
        access.require_method(principal, method)
    except PermissionDeniedError:
        return False
    return True


def _latest_records(
    passport: Any, principal: Principal, request_id: str
) -> tuple[list[Mapping[str, Any]], int]:
    """The newest AUDIT_RECORDS records the token may read, newest first; the log size."""

    def page(start: int, limit: int) -> dict[str, Any]:
        return audit_access.records(
            passport, principal, start=start, limit=limit, identity_id=None, request_id=request_id
        )

    size = int(page(0, 1)["size"])
    window = AUDIT_RECORDS if principal.tenant_id == access.SYSTEM_TENANT else AUDIT_WINDOW
    records: Sequence[Mapping[str, Any]] = page(max(0, size - window), window)["records"]
    return list(reversed(records[-AUDIT_RECORDS:])), size


def _console_body(request: Request, caller: Caller, after: str | None) -> str:
    passport = passport_of(request)
    principal = caller.principal
    request_id = request_id_of(request)
    parts = [ui.readiness_section(passport.readiness())]
    if _may(principal, access.SIGNER_LIST):
        parts.append(ui.signers_section(lifecycle_ops.signers(passport, principal, request_id)))
    if _may(principal, access.IDENTITY_LIST):
        views = passport.list_identities(principal, limit=IDENTITIES_PER_PAGE, after=after)
        more = views[-1].id if len(views) == IDENTITIES_PER_PAGE else None
        parts.append(ui.identities_section(views, more))
    if principal.role in ("admin", "auditor"):
        pending = ceremonies_of(request).visible(principal, status="pending")
        decides = principal.role == "admin" and principal.scopes.methods is None
        parts.append(ui.ceremonies_section(pending, caller.session.csrf if decides else None))
    if _may(principal, access.AUDIT_READ):
        records, size = _latest_records(passport, principal, request_id)
        parts.append(ui.audit_section(records, size))
        if principal.tenant_id == access.SYSTEM_TENANT:
            try:
                checkpoint = audit_access.latest_checkpoint(passport, principal, request_id)
            except NotFoundError:
                checkpoint = None
            parts.append(ui.checkpoint_section(checkpoint))
    return "".join(parts)


@router.get("/ops", response_class=HTMLResponse)
async def console(request: Request, after: str | None = None) -> Response:
    try:
        caller = await _caller(request)
    except PassportError as exc:
        return _error_page(request, exc)
    if caller is None:
        page = ui.page(ui.login_form())
        return _clear_cookie(request, page) if COOKIE in request.cookies else page
    if after is not None and (not after or len(after) > _MAX_ID):
        return _error_page(request, BadRequestError("bad cursor"), caller)
    try:
        body = await run_in_threadpool(_console_body, request, caller, after)
    except PassportError as exc:
        return _error_page(request, exc, caller)
    return ui.page(body, who=_who(caller.principal), csrf=caller.session.csrf)


@router.post("/ops/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    try:
        _same_origin(request)
        fields = await _form(request)
        token = fields.get("token", "").strip()
        if not token:
            raise AuthenticationError("missing token")
        passport = passport_of(request)
        principal = await run_in_threadpool(passport.authenticate, f"Bearer {token}")
        if principal.role == "app":
            raise PermissionDeniedError("app tokens have no console")
    except PassportError as exc:
        return _error_page(request, exc)
    sessions = sessions_of(request)
    sessions.end(request.cookies.get(COOKIE))  # a fresh session id at every sign-in
    session_id, _ = sessions.create(principal.token_id)
    response = RedirectResponse("/ops", status_code=303, headers=dict(ui.PAGE_HEADERS))
    _set_cookie(request, response, session_id)
    return response


@router.post("/ops/logout", response_class=HTMLResponse)
async def logout(request: Request) -> Response:
    sessions = sessions_of(request)
    session_id = request.cookies.get(COOKIE)
    session = sessions.get(session_id)
    if session is not None:
        try:
            _same_origin(request)
            _check_csrf(session, await _form(request))
        except PassportError as exc:
            return ui.page(ui.message(str(exc)), status=status_of(exc))
        sessions.end(session_id)
    page = ui.page(ui.message("Signed out.", back=False) + ui.login_form())
    return _clear_cookie(request, page)


async def _decide(request: Request, ceremony_id: str, verb: str) -> Response:
    try:
        caller = await _caller(request)
    except PassportError as exc:
        return _error_page(request, exc)
    if caller is None:
        return _error_page(request, AuthenticationError("not signed in"))
    try:
        _same_origin(request)
        fields = await _form(request)
        _check_csrf(caller.session, fields)
        if len(ceremony_id) > _MAX_ID:
            raise NotFoundError(f"ceremony {ceremony_id[:_MAX_ID]} not found")
        ceremonies = ceremonies_of(request)
        principal = caller.principal
        request_id = request_id_of(request)
        if verb == "approved":
            params_hash = fields.get("params_hash", "")
            if len(params_hash) != 64:
                raise BadRequestError("approve needs the params hash the page showed")
            data = await run_in_threadpool(
                lambda: ceremony_approve(
                    ceremonies,
                    principal,
                    ceremony_id,
                    params_hash=params_hash,
                    request_id=request_id,
                )
            )
        else:
            reason = fields.get("reason") or None
            if reason is not None and len(reason) > 500:
                raise BadRequestError("reason: at most 500 characters")
            data = await run_in_threadpool(
                lambda: ceremony_reject(
                    ceremonies, principal, ceremony_id, reason=reason, request_id=request_id
                )
            )
    except PassportError as exc:
        return _error_page(request, exc, caller)
    text = (
        f"Ceremony {data['id']} ({data['operation']}) {verb}: status {data['status']}, "
        f"approvals {data['approvals']}/{data['required']}."
    )
    return ui.page(ui.message(text), who=_who(caller.principal), csrf=caller.session.csrf)


@router.post("/ops/ceremonies/{ceremony_id}/approve", response_class=HTMLResponse)
async def approve(request: Request, ceremony_id: str) -> Response:
    return await _decide(request, ceremony_id, "approved")


@router.post("/ops/ceremonies/{ceremony_id}/reject", response_class=HTMLResponse)
async def reject(request: Request, ceremony_id: str) -> Response:
    return await _decide(request, ceremony_id, "rejected")
