"""The console's session table and HTML helpers, without a server."""

from __future__ import annotations

import base64
import hashlib

import pytest

from nostr_passport.api import console_html as ui
from nostr_passport.api import routes_console
from nostr_passport.api.routes_console import IDLE_SECONDS, MAX_SECONDS, ConsoleSessions
from nostr_passport.service.views import IdentityView


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_end_when_idle_or_old() -> None:
    clock = Clock()
    sessions = ConsoleSessions(clock)
    idle_id, _ = sessions.create("tok_idle")
    clock.now += IDLE_SECONDS + 1
    assert sessions.get(idle_id) is None

    busy_id, busy = sessions.create("tok_busy")
    assert busy.token_id == "tok_busy" and len(busy.csrf) >= 40
    for _ in range(MAX_SECONDS // IDLE_SECONDS + 1):
        clock.now += IDLE_SECONDS - 1
        if sessions.get(busy_id) is None:
            break
    else:
        raise AssertionError("a session in use outlived MAX_SECONDS")
    assert sessions.get(busy_id) is None


def test_sessions_keyed_by_hash_and_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = ConsoleSessions(Clock())
    first_id, _ = sessions.create("tok_1")
    assert first_id not in sessions._sessions  # only its SHA-256 is a key
    assert sessions.get(None) is None and sessions.get("") is None
    assert sessions.get("x" * 500) is None
    sessions.end(first_id)
    assert sessions.get(first_id) is None

    monkeypatch.setattr(routes_console, "MAX_SESSIONS", 3)
    made = [sessions.create(f"tok_{i}")[0] for i in range(5)]
    assert [sessions.get(s) is not None for s in made] == [False, False, True, True, True]


def _identity(label: str) -> IdentityView:
    return IdentityView(
        id="id_1",
        tenant="default",
        label=label,
        pubkey="00" * 32,
        npub="npub1test",
        threshold=2,
        participants=3,
        epoch=4,
        status="active",
        keygen_method="dkg",
        imported_from_software=True,
        created_at=0,
        signers=(),
        attestations=(),
    )


def test_identities_next_link_and_escaping() -> None:
    html = ui.identities_section([_identity("a'b\"<c>&")], next_after="id_1&x'")
    assert "a&#x27;b&quot;&lt;c&gt;&amp;" in html
    assert "href='/ops?after=id_1%26x%27'" in html
    assert "2-of-3" in html and "<td>4</td>" in html and "<td>yes</td>" in html
    assert "Next 100" not in ui.identities_section([_identity("x")], next_after=None)


def test_style_hash_matches_the_policy() -> None:
    digest = base64.b64encode(hashlib.sha256(ui.STYLE.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in ui.CONTENT_SECURITY_POLICY
    body = ui.page("<p>x</p>").body.decode()
    assert f"<style>{ui.STYLE}</style>" in body
