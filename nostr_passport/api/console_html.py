"""HTML of the operator console (/ops): small server-rendered pages, no script at all.

Every value that reaches a page goes through `e()` (html.escape, quotes too), so a label
or a ceremony parameter is shown as text, never interpreted. The one stylesheet is inline
and allowed by its hash in the Content-Security-Policy; nothing else may load or run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from fastapi.responses import HTMLResponse

from nostr_passport.hsm.transport import key_fingerprint
from nostr_passport.service.ceremonies import CeremonyView
from nostr_passport.service.passport import Readiness
from nostr_passport.service.views import IdentityView
from nostr_passport.store.signers import SignerRecord

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.9rem}"
    "th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}code,pre{font-size:.85rem}"
    "pre{white-space:pre-wrap;margin:0;max-width:30rem}"
    ".ok{color:#060}.bad{color:#a00;font-weight:bold}"
    "form.inline{display:inline}button{margin:.15rem;padding:.3rem .7rem}"
    "header{display:flex;justify-content:space-between;align-items:center}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")

CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
TITLE = "NostrPassport operator console"


def e(value: object) -> str:
    """Escaped text of any value (None shows as an empty cell)."""
    return "" if value is None else html.escape(str(value), quote=True)


def when(unix: int | None) -> str:
    if unix is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(unix))


def page(body: str, *, status: int = 200, who: str = "", csrf: str | None = None) -> HTMLResponse:
    """A whole page; `who` and `csrf`: signed in (shows who and a logout button)."""
    header = f"<h1>{e(TITLE)}</h1>"
    if csrf is not None:
        header = (
            f"<header>{header}<div>{e(who)} "
            f"<form class='inline' method='post' action='/ops/logout'>{csrf_field(csrf)}"
            "<button type='submit'>Log out</button></form></div></header>"
        )
    text = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<meta name='referrer' content='no-referrer'>"
        f"<title>{e(TITLE)}</title><style>{STYLE}</style></head>"
        f"<body>{header}{body}</body></html>"
    )
    return HTMLResponse(text, status_code=status, headers=dict(PAGE_HEADERS))


def csrf_field(csrf: str) -> str:
    return f"<input type='hidden' name='csrf' value='{e(csrf)}'>"


def login_form(message: str = "") -> str:
    note = f"<p class='bad'>{e(message)}</p>" if message else ""
    return (
        f"{note}<p>Sign in with an API token (admin, operator or auditor). The token is "
        "checked once here; this browser then holds a session cookie, never the token.</p>"
        "<form method='post' action='/ops/login'>"
        "<input type='password' name='token' autocomplete='off' size='60' required> "
        "<button type='submit'>Sign in</button></form>"
    )


def message(text: str, *, back: bool = True) -> str:
    link = "<p><a href='/ops'>Back to the console</a></p>" if back else ""
    return f"<p>{e(text)}</p>{link}"


def _table(headings: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table; the cells are HTML already (escaped by the caller)."""
    head = "".join(f"<th>{e(h)}</th>" for h in headings)
    thead = f"<thead><tr>{head}</tr></thead>" if any(headings) else ""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def section(title: str, content: str) -> str:
    return f"<section><h2>{e(title)}</h2>{content}</section>"


def readiness_section(report: Readiness) -> str:
    state = (
        "<span class='ok'>ready</span>" if report.ready else "<span class='bad'>NOT READY</span>"
    )
    store = "<span class='ok'>up</span>" if report.store else "<span class='bad'>DOWN</span>"
    healthy = ", ".join(f"<code>{e(s)}</code>" for s in report.healthy_signers) or "none"
    rows = [
        ["gateway", state],
        ["store", store],
        ["healthy signers", healthy],
        ["signers required (largest active t)", e(report.required_signers)],
    ]
    rows += [
        [f"<code>{e(sid)}</code> <span class='bad'>unhealthy</span>", e(reason)]
        for sid, reason in sorted(report.unhealthy_signers.items())
    ]
    return section("Readiness", _table(["", ""], rows))


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def signers_section(records: Sequence[SignerRecord]) -> str:
    rows = []
    for r in records:
        try:
            fingerprint = key_fingerprint(bytes.fromhex(r.transport_public_key))
        except ValueError:
            fingerprint = "(unreadable key)"
        rows.append(
            [
                f"<code>{e(r.id)}</code>",
                e(r.kind),
                e(r.provider_kind),
                _yes(r.simulated),
                _yes(r.supports_dkg),
                f"<code>{e(fingerprint)}</code>",
            ]
        )
    headings = ["id", "kind", "provider", "simulated", "DKG", "transport key fingerprint"]
    return section("Signers", _table(headings, rows) if rows else "<p>No signers.</p>")


def identities_section(views: Sequence[IdentityView], next_after: str | None) -> str:
    rows = [
        [
            f"<code>{e(v.id)}</code>",
            e(v.label),
            f"<code>{e(v.npub)}</code>",
            e(f"{v.threshold}-of-{v.participants}"),
            e(v.epoch),
            e(v.status),
            e(v.keygen_method),
            _yes(v.imported_from_software),
        ]
        for v in views
    ]
    headings = ["id", "label", "npub", "t-of-n", "epoch", "status", "keygen", "imported"]
    content = _table(headings, rows) if rows else "<p>No identities.</p>"
    if next_after is not None:
        content += f"<p><a href='/ops?after={e(quote(next_after, safe=''))}'>Next 100</a></p>"
    return section("Identities", content)


def _params(params: Mapping[str, Any]) -> str:
    return e(json.dumps(params, sort_keys=True, ensure_ascii=False, indent=1))


def _decision_forms(view: CeremonyView, csrf: str) -> str:
    action = f"/ops/ceremonies/{e(quote(view.id, safe=''))}"
    return (
        f"<form class='inline' method='post' action='{action}/approve'>{csrf_field(csrf)}"
        f"<input type='hidden' name='params_hash' value='{e(view.params_hash)}'>"
        "<button type='submit'>Approve</button></form>"
        f"<form class='inline' method='post' action='{action}/reject'>{csrf_field(csrf)}"
        "<input type='text' name='reason' maxlength='500' placeholder='reason' size='12'>"
        "<button type='submit'>Reject</button></form>"
    )


def ceremonies_section(views: Sequence[CeremonyView], csrf: str | None) -> str:
    """Pending ceremonies; `csrf` given: the viewer may decide (buttons shown)."""
    rows = []
    for v in views:
        row = [
            f"<code>{e(v.id)}</code>",
            e(v.operation),
            f"<pre>{_params(v.params)}</pre>",
            f"<code>{e(v.params_hash)}</code>",
            e(f"{v.approval_count}/{v.required}"),
            e(v.proposed_by),
            e(when(v.expires_at)),
        ]
        if csrf is not None:
            row.append(_decision_forms(v, csrf))
        rows.append(row)
    headings = ["id", "operation", "params", "params hash", "approvals", "proposed by"]
    headings += ["expires"] + (["decide"] if csrf is not None else [])
    note = (
        "<p>Approve pins the params hash shown: a ceremony changed since this page was "
        "rendered is refused.</p>"
        if csrf is not None and rows
        else ""
    )
    content = _table(headings, rows) + note if rows else "<p>No pending ceremonies.</p>"
    return section("Pending ceremonies", content)


def audit_section(records: Sequence[Mapping[str, Any]], size: int) -> str:
    rows = [
        [
            e(r.get("index")),
            e(r.get("time")),
            e(r.get("tenant")),
            f"<code>{e(r.get('actor'))}</code>",
            e(r.get("action")),
            f"<code>{e(r.get('identity'))}</code>" if r.get("identity") else "",
            e(r.get("outcome")),
        ]
        for r in records
    ]
    headings = ["#", "time", "tenant", "actor", "action", "identity", "outcome"]
    intro = f"<p>Latest {len(rows)} (newest first) of a log of {e(size)} records.</p>"
    return section("Audit log", intro + (_table(headings, rows) if rows else ""))


def checkpoint_section(view: Mapping[str, Any] | None) -> str:
    if view is None:
        return section("Latest checkpoint", "<p>No checkpoint yet.</p>")
    cp = view.get("checkpoint", {})
    rows = [
        ["tree size", e(cp.get("tree_size"))],
        ["root", f"<code>{e(cp.get('root_hash'))}</code>"],
        ["time", e(cp.get("time"))],
        ["key id", f"<code>{e(view.get('key_id'))}</code>"],
    ]
    return section("Latest checkpoint", _table(["", ""], rows))
