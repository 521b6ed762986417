"""The operator console (/ops) against a real server: sign-in, what each role sees, the
session cookie, CSRF, revocation, ceremony approval, security headers and escaping."""

from __future__ import annotations

import re

import httpx
import pytest

from nostr_passport.api import routes_console
from nostr_passport.api.routes_console import ConsoleSessions

from .conftest import Server

_CSRF = re.compile(r"name='csrf' value='([^']+)'")
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _browser(server: Server, session_id: str | None = None) -> httpx.Client:
    """A client without any Authorization header: only the console's cookie."""
    cookies = {"ops_session": session_id} if session_id is not None else None
    return httpx.Client(base_url=server.url, cookies=cookies, timeout=30)


def _login(server: Server, token: str) -> tuple[httpx.Client, httpx.Response]:
    browser = _browser(server)
    reply = browser.post("/ops/login", data={"token": token})
    assert reply.status_code == 303, reply.text
    assert reply.headers["location"] == "/ops"
    return browser, reply


def _csrf(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def _assert_secure_page(reply: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert reply.headers[name] == value, name
    csp = reply.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert "<script" not in reply.text.lower()


def test_admin_sees_identities_signers_and_the_token_goes_nowhere(sqlite_server: Server) -> None:
    h = sqlite_server.harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=3, label="alice")
    browser, signed_in = _login(sqlite_server, h.admin_token)
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("ops_session=")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/ops" in lowered
    assert "secure" not in lowered  # plain http here; https sets Secure
    assert h.admin_token not in cookie
    assert h.admin_token not in signed_in.text

    page = browser.get("/ops")
    assert page.status_code == 200, page.text
    _assert_secure_page(page)
    assert identity.npub in page.text and identity.id in page.text
    assert "2-of-3" in page.text
    for signer_id in h.signers:
        assert signer_id in page.text
    for section in ("Readiness", "Signers", "Identities", "Pending ceremonies", "Audit log"):
        assert f"<h2>{section}</h2>" in page.text
    assert "Latest checkpoint" in page.text
    assert "identity.create" in page.text  # the audit record of the identity above
    assert h.admin_token not in page.text
    assert h.admin.token_id in page.text  # who is signed in: the id, not the token
    for reply in (signed_in, page):
        assert h.admin_token not in str(reply.headers)
        assert h.admin_token not in str(reply.url)


def test_cookie_is_secure_over_https(sqlite_server: Server) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (a TLS-terminating proxy's header).
    reply = _browser(sqlite_server).post(
        "/ops/login",
        data={"token": sqlite_server.harness.admin_token},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert reply.status_code == 303
    assert "; secure" in reply.headers["set-cookie"].lower()


def test_without_a_cookie_only_the_login_form(sqlite_server: Server) -> None:
    h = sqlite_server.harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=3)
    page = _browser(sqlite_server).get("/ops")
    assert page.status_code == 200
    _assert_secure_page(page)
    assert "action='/ops/login'" in page.text
    assert identity.npub not in page.text and identity.id not in page.text
    assert not any(signer_id in page.text for signer_id in h.signers)
    # A bearer header is not a way in: the console knows only its own session cookie.
    with_bearer = sqlite_server.admin.get("/ops")
    assert identity.npub not in with_bearer.text
    # Nor is a made-up session id.
    forged = _browser(sqlite_server, "forged").get("/ops")
    assert forged.status_code == 200
    assert identity.npub not in forged.text and "action='/ops/login'" in forged.text


def test_wrong_token_and_app_token_are_refused(sqlite_server: Server) -> None:
    h = sqlite_server.harness
    for wrong in ("np_" + "A" * 43, "not-a-token", ""):
        reply = _browser(sqlite_server).post("/ops/login", data={"token": wrong})
        assert reply.status_code == 401, (wrong, reply.text)
        _assert_secure_page(reply)
        assert "That token was refused." in reply.text
        assert "ops_session=" not in reply.headers.get("set-cookie", "") or (
            'ops_session=""' in reply.headers["set-cookie"]
        )
    app_token, _ = h.token("app")
    browser = _browser(sqlite_server)
    refused = browser.post("/ops/login", data={"token": app_token})
    assert refused.status_code == 403
    _assert_secure_page(refused)
    assert "set-cookie" not in refused.headers
    assert app_token not in refused.text
    assert browser.get("/ops").status_code == 200  # still the login form
    assert "action='/ops/login'" in browser.get("/ops").text


def test_logout_needs_csrf_then_clears_the_cookie(sqlite_server: Server) -> None:
    h = sqlite_server.harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=3)
    browser, _ = _login(sqlite_server, h.admin_token)
    session_id = browser.cookies["ops_session"]
    page = browser.get("/ops")
    refused = browser.post("/ops/logout", data={})
    assert refused.status_code == 403
    assert identity.npub in browser.get("/ops").text  # still signed in

    out = browser.post("/ops/logout", data={"csrf": _csrf(page)})
    assert out.status_code == 200
    _assert_secure_page(out)
    cleared = out.headers["set-cookie"].lower()
    assert cleared.startswith('ops_session=""') and "max-age=0" in cleared
    after = browser.get("/ops")
    assert identity.npub not in after.text and "action='/ops/login'" in after.text
    # The old session id is dead on the server too, not only forgotten by the browser.
    replayed = _browser(sqlite_server, session_id).get("/ops")
    assert identity.npub not in replayed.text and "action='/ops/login'" in replayed.text


def test_revoked_token_is_refused_on_the_next_request(sqlite_server: Server) -> None:
    h = sqlite_server.harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=3)
    second_token, second = h.token("admin")
    browser, _ = _login(sqlite_server, second_token)
    assert identity.npub in browser.get("/ops").text
    h.passport.revoke_token(h.admin, second.token_id)
    refused = browser.get("/ops")
    assert refused.status_code == 401
    _assert_secure_page(refused)
    assert identity.npub not in refused.text
    assert "That token was refused." in refused.text
    assert browser.get("/ops").status_code == 200  # session gone: the plain login form


def _pending_delete(server: Server, identity_id: str) -> dict[str, object]:
    reply = server.admin.post(
        "/v1/ceremonies",
        json={"operation": "delete_identity", "params": {"identity_id": identity_id}},
    )
    assert reply.status_code == 201, reply.text
    ceremony: dict[str, object] = reply.json()
    assert (ceremony["status"], ceremony["approvals"], ceremony["required"]) == ("pending", 1, 2)
    return ceremony


def _ceremony(server: Server, cid: object) -> dict[str, object]:
    shown: dict[str, object] = server.admin.get(f"/v1/ceremonies/{cid}").json()
    return shown


def test_approve_needs_csrf_and_pins_the_params_hash(sqlite_server: Server) -> None:
    h = sqlite_server.harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=3)
    second_token, second = h.token("admin")  # two admins: M = 2, the proposal is 1/2
    ceremony = _pending_delete(sqlite_server, identity.id)
    cid, params_hash = ceremony["id"], str(ceremony["params_hash"])
    browser, _ = _login(sqlite_server, second_token)
    page = browser.get("/ops")
    assert str(cid) in page.text and params_hash in page.text and "1/2" in page.text
    assert f"action='/ops/ceremonies/{cid}/approve'" in page.text
    csrf = _csrf(page)
    url = f"/ops/ceremonies/{cid}/approve"

    without = browser.post(url, data={"params_hash": params_hash})
    assert without.status_code == 403
    _assert_secure_page(without)
    wrong = browser.post(url, data={"params_hash": params_hash, "csrf": csrf[:-2] + "xx"})
    assert wrong.status_code == 403
    cross_site = browser.post(
        url,
        data={"params_hash": params_hash, "csrf": csrf},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross_site.status_code == 403
    changed = browser.post(url, data={"params_hash": "0" * 64, "csrf": csrf})
    assert changed.status_code == 409
    assert "review it again" in changed.text
    no_hash = browser.post(url, data={"csrf": csrf})
    assert no_hash.status_code == 400
    anonymous = _browser(sqlite_server).post(url, data={"params_hash": params_hash, "csrf": csrf})
    assert anonymous.status_code == 401
    shown = _ceremony(sqlite_server, cid)
    assert (shown["status"], shown["approvals"]) == ("pending", 1)

    approved = browser.post(url, data={"params_hash": params_hash, "csrf": csrf})
    assert approved.status_code == 200, approved.text
    _assert_secure_page(approved)
    assert "approved" in approved.text and "2/2" in approved.text
    shown = _ceremony(sqlite_server, cid)
    assert (shown["status"], shown["approvals"]) == ("approved", 2)
    approvers = {a["token_id"] for a in shown["approved_by"]}  # type: ignore[attr-defined]
    assert second.token_id in approvers
    assert second_token not in approved.text


def test_reject_with_csrf(sqlite_server: Server) -> None:
    h = sqlite_server.harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=3)
    h.token("admin")  # a second admin: M = 2
    cid = _pending_delete(sqlite_server, identity.id)["id"]
    browser, _ = _login(sqlite_server, h.admin_token)
    url = f"/ops/ceremonies/{cid}/reject"
    assert browser.post(url, data={"reason": "no"}).status_code == 403
    assert _ceremony(sqlite_server, cid)["status"] == "pending"
    done = browser.post(url, data={"reason": "not today", "csrf": _csrf(browser.get("/ops"))})
    assert done.status_code == 200, done.text
    assert _ceremony(sqlite_server, cid)["status"] == "rejected"
    assert str(cid) not in browser.get("/ops").text  # no longer pending


def test_what_each_role_sees(sqlite_server: Server) -> None:
    h = sqlite_server.harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=3)
    h.token("admin")  # a second admin: M = 2
    cid = _pending_delete(sqlite_server, identity.id)["id"]

    operator_token, _ = h.token("operator")
    operator_page = _login(sqlite_server, operator_token)[0].get("/ops")
    assert operator_page.status_code == 200
    assert identity.npub in operator_page.text
    assert all(signer_id in operator_page.text for signer_id in h.signers)
    assert "Pending ceremonies" not in operator_page.text and str(cid) not in operator_page.text
    assert "Audit log" not in operator_page.text and "checkpoint" not in operator_page.text
    assert "/approve" not in operator_page.text

    auditor_token, _ = h.token("auditor")
    auditor_page = _login(sqlite_server, auditor_token)[0].get("/ops")
    assert str(cid) in auditor_page.text  # sees the ceremony, cannot decide it
    assert "/approve" not in auditor_page.text and "/reject" not in auditor_page.text
    assert "<h2>Audit log</h2>" in auditor_page.text and "identity.create" in auditor_page.text

    foreign_token, _ = h.token("admin", tenant="acme")
    foreign_page = _login(sqlite_server, foreign_token)[0].get("/ops")
    assert foreign_page.status_code == 200
    assert identity.npub not in foreign_page.text and str(cid) not in foreign_page.text
    assert "Latest checkpoint" not in foreign_page.text  # whole-log views: system tenant only
    assert "identity.create" not in foreign_page.text  # another tenant's audit records


def test_escaping(sqlite_server: Server) -> None:
    h = sqlite_server.harness
    label = "<script>alert(1)</script>"
    h.passport.create_identity(h.admin, threshold=2, participants=3, label=label)
    page = _login(sqlite_server, h.admin_token)[0].get("/ops")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert label not in page.text
    assert "<script" not in page.text.lower()


def test_console_is_not_in_the_openapi_document(sqlite_server: Server) -> None:
    paths = sqlite_server.admin.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ops")]


def test_a_session_of_an_app_token_shows_nothing(
    sqlite_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sign-in refuses app tokens; should a session name one anyway, every request checks
    the role again (403, no data)."""
    h = sqlite_server.harness
    identity = h.passport.create_identity(h.admin, threshold=2, participants=3)
    sessions = ConsoleSessions()
    monkeypatch.setattr(routes_console, "sessions_of", lambda request: sessions)
    app_token, app = h.token("app")
    session_id, session = sessions.create(app.token_id)
    browser = _browser(sqlite_server, session_id)
    denied = browser.get("/ops")
    assert denied.status_code == 403
    _assert_secure_page(denied)
    assert identity.npub not in denied.text and app_token not in denied.text
    cid = "cer_" + "0" * 20
    refused = browser.post(f"/ops/ceremonies/{cid}/reject", data={"csrf": session.csrf})
    assert refused.status_code == 403
